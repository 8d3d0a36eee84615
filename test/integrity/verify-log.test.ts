// Each kind of tampering with a chained decision log is found, named and located (file, line, record
// id); an intact log, a torn tail and a log that starts after deleted segments are not tampering.
import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {checkpointLine, parseCheckpointLine} from '../../src/integrity/checkpoints.js'
import {sealRecord} from '../../src/integrity/chain.js'
import {generateSigningKey} from '../../src/integrity/signing.js'
import {verifyLogDir, verifyLogFiles} from '../../src/integrity/verify-log.js'
import {tempDir} from '../support/daemon.js'
import {INSTANCE, checkpointFile, closedLog, edit, lines, record, segments, writeLines} from './helpers.js'

async function log(n = 10, options = {}) {
  const dir = tempDir('cycles-verify-')
  const key = await closedLog(dir, n, options)
  const [segment] = segments(dir)
  return {dir, key, segment, file: path.join(dir, segment)}
}

/** A checkpoint line re-sealed after an edit of its text (the chain link recomputed, the signature kept). */
function reseal(line: string, change: (json: string) => string): string {
  const parsed = parseCheckpointLine(line)
  if (typeof parsed === 'string') throw new Error(parsed)
  const body = line.slice(0, line.lastIndexOf(',"prev_hash"')) + '}'
  return sealRecord(change(body), parsed.prev_hash).line
}

describe('audit verify: an intact log', () => {
  it('recomputes the chain and the checkpoints and finds nothing', async () => {
    const {dir, key, segment} = await log(10)
    const report = verifyLogDir(dir, {publicKeys: [key.publicText]})
    expect(report.break).toBeUndefined()
    expect(report).toMatchObject({intact: true, keys_checked: 'given', records: 10, unchained_files: []})
    expect(report.chains).toHaveLength(1)
    expect(report.chains[0]).toMatchObject({
      instance: INSTANCE, files: 1, records: 10, first_file: segment, last_file: segment, starts_at_genesis: true,
      checkpoints: 2, records_after_last_checkpoint: 0, torn_lines: [], public_keys: [key.publicText],
      last_checkpoint: {n: 2, records: 10, file: `checkpoints-${INSTANCE}.ckpt`, line: 2},
    })
    // every record is a v2 line carrying the chain
    for (const line of lines(path.join(dir, segment))) expect(JSON.parse(line)).toMatchObject({v: 2, prev_hash: expect.stringMatching(/^[0-9a-f]{64}$/), hash: expect.stringMatching(/^[0-9a-f]{64}$/)})
  })

  it('reports a torn last line (a write cut short by a crash) after the last checkpoint, not as tampering', async () => {
    const {dir, file} = await log(10)
    fs.appendFileSync(file, lines(file)[3].slice(0, 80))
    const report = verifyLogDir(dir)
    expect(report.intact).toBe(true)
    expect(report.break).toBeUndefined()
    expect(report.chains[0].torn_lines).toEqual([{file: path.basename(file), line: 11, bytes: 80}])
    expect(report.chains[0].records_after_last_checkpoint).toBe(0)
  })
})

describe('audit verify: tampering found and located', () => {
  it('an edited field: the line whose bytes no longer match its hash', async () => {
    const {dir, file, segment} = await log(10)
    edit(file, (l) => l.map((line, i) => (i === 4 ? line.replace('"estimate":104', '"estimate":1') : line)))
    const report = verifyLogDir(dir)
    expect(report.intact).toBe(false)
    expect(report.break).toMatchObject({kind: 'edited', instance: INSTANCE, file: segment, line: 5, record_id: 'id-4'})
    expect(report.break!.message).toContain('does not match its hash')
  })

  it('an edited field re-hashed: the next record no longer links to it', async () => {
    const {dir, file, segment} = await log(10)
    edit(file, (l) => l.map((line, i) => {
      if (i !== 4) return line
      const body = line.slice(0, line.lastIndexOf(',"prev_hash"')) + '}'
      return sealRecord(body.replace('"estimate":104', '"estimate":1'), JSON.parse(line).prev_hash).line
    }))
    expect(verifyLogDir(dir).break).toMatchObject({kind: 'deleted', file: segment, line: 6, record_id: 'id-5'})
  })

  it('a deleted line: the record after the gap', async () => {
    const {dir, file, segment} = await log(10)
    edit(file, (l) => l.filter((_, i) => i !== 4))
    const report = verifyLogDir(dir)
    expect(report.break).toMatchObject({kind: 'deleted', file: segment, line: 5, record_id: 'id-5'})
    expect(report.break!.message).toContain('does not link to line 4')
  })

  it('an inserted copy of a line', async () => {
    const {dir, file, segment} = await log(10)
    edit(file, (l) => [...l.slice(0, 4), l[3], ...l.slice(4)])
    const report = verifyLogDir(dir)
    expect(report.break).toMatchObject({kind: 'inserted', file: segment, line: 5, record_id: 'id-3'})
    expect(report.break!.message).toContain('a copy of line 4')
  })

  it('an inserted forged record sealed onto the line before it', async () => {
    const {dir, file, segment} = await log(10)
    edit(file, (l) => {
      const forged = sealRecord(JSON.stringify({...record(99), v: 2}), JSON.parse(l[3]).hash).line
      return [...l.slice(0, 4), forged, ...l.slice(4)]
    })
    const report = verifyLogDir(dir)
    expect(report.break).toMatchObject({kind: 'inserted', file: segment, line: 5, record_id: 'id-99'})
  })

  it('an inserted line without chain fields', async () => {
    const {dir, file, segment} = await log(10)
    edit(file, (l) => [...l.slice(0, 2), JSON.stringify(record(77)), ...l.slice(2)])
    expect(verifyLogDir(dir).break).toMatchObject({kind: 'unchained_line', file: segment, line: 3, record_id: 'id-77'})
  })

  it('two lines swapped', async () => {
    const {dir, file, segment} = await log(10)
    edit(file, (l) => [...l.slice(0, 3), l[4], l[3], ...l.slice(5)])
    const report = verifyLogDir(dir)
    expect(report.break).toMatchObject({kind: 'swapped', file: segment, line: 4, record_id: 'id-4'})
    expect(report.break!.message).toContain('lines 4 and 5')
  })

  it('a truncated tail, against the last checkpoint', async () => {
    const {dir, file, segment} = await log(10)
    edit(file, (l) => l.slice(0, 7))
    const report = verifyLogDir(dir)
    expect(report.break).toMatchObject({kind: 'truncated', file: segment, line: 7, record_id: 'id-6'})
    expect(report.break!.message).toContain('after 7 record(s)')
    expect(report.break!.message).toContain('signs 10 record(s)')
    expect(report.break!.message).toContain('3 record(s) removed from the tail')
  })

  it('a forged checkpoint: edited to match a truncated log and re-chained, its signature fails', async () => {
    const {dir, file} = await log(10)
    const truncated = lines(file).slice(0, 7)
    writeLines(file, truncated)
    const head = JSON.parse(truncated[6]).hash as string
    edit(checkpointFile(dir), (l) => [l[0], reseal(l[1], (json) => json.replace(/"records":10/, '"records":7').replace(/"head":"[0-9a-f]{64}"/, `"head":"${head}"`))])
    const report = verifyLogDir(dir)
    expect(report.break).toMatchObject({kind: 'checkpoint_forged', file: `checkpoints-${INSTANCE}.ckpt`, line: 2})
    expect(report.break!.message).toContain('signature does not match')
  })

  it('a checkpoint signed with another key: refused against --public-key, and against the first checkpoint\'s key', async () => {
    const {dir, key} = await log(10)
    const attacker = generateSigningKey()
    edit(checkpointFile(dir), (l) => {
      const parsed = parseCheckpointLine(l[1])
      if (typeof parsed === 'string') throw new Error(parsed)
      const {signature: _s, signedText: _t, prev_hash, hash: _h, ...fields} = parsed
      return [l[0], checkpointLine({...fields, public_key: attacker.publicText}, attacker.privateKey, prev_hash).line]
    })
    expect(verifyLogDir(dir, {publicKeys: [key.publicText]}).break).toMatchObject({kind: 'checkpoint_wrong_key', line: 2})
    expect(verifyLogDir(dir).break).toMatchObject({kind: 'checkpoint_wrong_key', line: 2})
    // the attacker's own key does not make the first (genuine) checkpoint pass either
    expect(verifyLogDir(dir, {publicKeys: [attacker.publicText]}).break).toMatchObject({kind: 'checkpoint_wrong_key', line: 1})
  })

  it('a deleted checkpoint line', async () => {
    const {dir} = await log(10)
    edit(checkpointFile(dir), (l) => [l[1]])
    expect(verifyLogDir(dir).break).toMatchObject({kind: 'checkpoint_deleted', line: 1})
  })

  it('a deleted checkpoint file', async () => {
    const {dir} = await log(10)
    fs.rmSync(checkpointFile(dir))
    expect(verifyLogDir(dir).break).toMatchObject({kind: 'checkpoints_missing', file: `checkpoints-${INSTANCE}.ckpt`})
  })
})

describe('audit verify: a segment larger than the read buffer (8 MiB)', () => {
  it('finds an edit after the first buffer, at its exact line', async () => {
    const {dir, file, segment} = await log(30_000)
    expect(fs.statSync(file).size).toBeGreaterThan(8 * 2 ** 20)
    expect(verifyLogDir(dir)).toMatchObject({intact: true, records: 30_000})
    edit(file, (l) => l.map((line, i) => (i === 25_000 ? line.replace('"tier":"low"', '"tier":"high"') : line)))
    expect(verifyLogDir(dir).break).toMatchObject({kind: 'edited', file: segment, line: 25_001, record_id: 'id-25000'})
  })
})

describe('audit verify: rotation and retention', () => {
  it('one chain across rotated segments; a missing middle segment is located at the next one', async () => {
    const dir = tempDir('cycles-verify-')
    await closedLog(dir, 30, {maxSegmentBytes: 2000, batch: 3})
    const files = segments(dir)
    expect(files.length).toBeGreaterThan(3)
    const intact = verifyLogDir(dir)
    expect(intact).toMatchObject({intact: true, records: 30})
    expect(intact.chains[0].files).toBe(files.length)
    fs.rmSync(path.join(dir, files[1]))
    const report = verifyLogDir(dir)
    expect(report.break).toMatchObject({kind: 'deleted', file: files[2], line: 1})
    expect(report.break!.message).toContain(`does not link to the last record of ${files[0]}`)
  })

  it('ingest --verify given one segment verifies its whole chain: the later segments the last checkpoint covers are found', async () => {
    const dir = tempDir('cycles-verify-')
    await closedLog(dir, 30, {maxSegmentBytes: 2000, batch: 3})
    const files = segments(dir)
    const report = verifyLogFiles([path.join(dir, files[0])])
    expect(report).toMatchObject({intact: true, records: 30})
    expect(report.chains[0].files).toBe(files.length)
    edit(path.join(dir, files.at(-1)!), (l) => l.slice(0, -1))
    expect(verifyLogFiles([path.join(dir, files[0])]).break).toMatchObject({kind: 'truncated', file: files.at(-1)})
  })

  it('a log whose oldest segment is gone (retention) starts mid-chain, intact', async () => {
    const dir = tempDir('cycles-verify-')
    await closedLog(dir, 30, {maxSegmentBytes: 2000, batch: 3})
    const files = segments(dir)
    const first = lines(path.join(dir, files[0])).length
    fs.rmSync(path.join(dir, files[0]))
    const report = verifyLogDir(dir)
    expect(report.break).toBeUndefined()
    expect(report.chains[0]).toMatchObject({starts_at_genesis: false, records: 30 - first})
  })
})

describe('audit verify: schema v1', () => {
  it('a v1 log (no chain fields, no checkpoints) is listed as unchained, not as tampering', () => {
    const dir = tempDir('cycles-verify-')
    const name = 'decisions-2026112800-abc123-0001.jsonl'
    writeLines(path.join(dir, name), [0, 1, 2].map((i) => JSON.stringify(record(i))))
    expect(verifyLogDir(dir)).toMatchObject({intact: true, chains: [], unchained_files: [name], records: 0})
  })
})
