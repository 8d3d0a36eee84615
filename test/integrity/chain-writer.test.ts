// The writer's side of the chain: one chain per instance across rotation, restarts and crashes (a
// torn last line is not durable), dropped batches rolled back out of it, signed checkpoints that
// carry the record count, and the instance and key kept in the state directory.
import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {DecisionLogWriter} from '../../src/decision-log/writer.js'
import {GENESIS_HASH} from '../../src/integrity/chain.js'
import {parseCheckpointLine} from '../../src/integrity/checkpoints.js'
import {SIGNING_KEY_ENV, loadLogIdentity} from '../../src/integrity/log-identity.js'
import {SigningKeyError, generateSigningKey, signingKeyPem} from '../../src/integrity/signing.js'
import {verifyLogDir} from '../../src/integrity/verify-log.js'
import {tempDir} from '../support/daemon.js'
import {INSTANCE, chainedWriter, checkpointFile, closedLog, lines, record, segments, writeRecords} from './helpers.js'

const parsed = (line: string) => JSON.parse(line) as {id: string; v: number; prev_hash: string; hash: string}
const checkpoints = (dir: string) => lines(checkpointFile(dir)).map((l) => {
  const c = parseCheckpointLine(l)
  if (typeof c === 'string') throw new Error(c)
  return c
})

describe('decision-log chain across restarts', () => {
  it('a clean restart continues the chain in a new segment, numbered after the last one', async () => {
    const dir = tempDir('cycles-chain-')
    const key = generateSigningKey()
    await closedLog(dir, 5, {key})
    await closedLog(dir, 5, {key})
    const files = segments(dir)
    expect(files).toHaveLength(2)
    expect(files.map((f) => f.split('-').at(-1))).toEqual(['0001.jsonl', '0002.jsonl'])
    const first = lines(path.join(dir, files[0])).map(parsed)
    const second = lines(path.join(dir, files[1])).map(parsed)
    expect(first[0].prev_hash).toBe(GENESIS_HASH)
    expect(second[0].prev_hash).toBe(first[4].hash)
    expect(checkpoints(dir).map((c) => [c.n, c.reason, c.records])).toEqual([[1, 'start', 0], [2, 'shutdown', 5], [3, 'start', 5], [4, 'shutdown', 10]])
    expect(verifyLogDir(dir, {publicKeys: [key.publicText]})).toMatchObject({intact: true, records: 10})
  })

  it('after a crash the first record links to the last durable one (a torn last line is not), and the count goes on from the last checkpoint', async () => {
    const dir = tempDir('cycles-chain-')
    const key = generateSigningKey()
    const crashed = chainedWriter(dir, {key})
    await writeRecords(crashed, 0, 5)
    expect(crashed.chain!.checkpoint('interval')).toBe(true)
    await writeRecords(crashed, 5, 8)
    // The process dies here (no shutdown checkpoint) in the middle of writing a ninth line.
    const [segment] = segments(dir)
    fs.appendFileSync(path.join(dir, segment), '{"v":2,"id":"id-8","ts":"2023-')

    await closedLog(dir, 4, {key})
    const files = segments(dir)
    const before = lines(path.join(dir, files[0]))
    const after = lines(path.join(dir, files[1])).map(parsed)
    expect(after[0].prev_hash).toBe(parsed(before[7]).hash)
    expect(checkpoints(dir).map((c) => [c.reason, c.records])).toEqual([['start', 0], ['interval', 5], ['start', 8], ['shutdown', 12]])
    const report = verifyLogDir(dir, {publicKeys: [key.publicText]})
    expect(report.break).toBeUndefined()
    expect(report.chains[0]).toMatchObject({records: 12, torn_lines: [{file: files[0], line: 9, bytes: 30}], records_after_last_checkpoint: 0})
  })

  it('rotation: every segment\'s first record links to the last record of the one before', async () => {
    const dir = tempDir('cycles-chain-')
    await closedLog(dir, 20, {maxSegmentBytes: 1500, batch: 2})
    const files = segments(dir)
    expect(files.length).toBeGreaterThan(2)
    for (let i = 1; i < files.length; i++) {
      const last = lines(path.join(dir, files[i - 1])).map(parsed).at(-1)!
      expect(parsed(lines(path.join(dir, files[i]))[0]).prev_hash).toBe(last.hash)
    }
    expect(verifyLogDir(dir)).toMatchObject({intact: true, records: 20})
  })

  it('a batch the full disk refused is rolled back out of the chain: the records written next link to the last one written', async () => {
    const dir = tempDir('cycles-chain-')
    let now = Date.UTC(2026, 10, 28, 6, 30)
    const writer = chainedWriter(dir, {now: () => now, maxSegmentBytes: 600})
    await writeRecords(writer, 0, 2)
    // The next segment is on a full disk.
    const next = path.join(dir, `decisions-2026112806-${INSTANCE}-0002.jsonl`)
    fs.symlinkSync('/dev/full', next)
    await writeRecords(writer, 2, 4)
    expect(writer.recordsDropped).toBe(2)
    fs.unlinkSync(next)
    now += 1000
    await writeRecords(writer, 4, 6)
    writer.close()
    const written = segments(dir).flatMap((f) => lines(path.join(dir, f)).map(parsed))
    expect(written.map((r) => r.id)).toEqual(['id-0', 'id-1', 'id-4', 'id-5'])
    expect(written[2].prev_hash).toBe(written[1].hash)
    expect(checkpoints(dir).at(-1)!.records).toBe(4)
    expect(verifyLogDir(dir)).toMatchObject({intact: true, records: 4})
  })

  it('an interval checkpoint is written only when records were added', async () => {
    const dir = tempDir('cycles-chain-')
    const writer = chainedWriter(dir)
    expect(writer.chain!.checkpoint('interval')).toBe(false)
    await writeRecords(writer, 0, 3)
    expect(writer.chain!.checkpoint('interval')).toBe(true)
    expect(writer.chain!.checkpoint('interval')).toBe(false)
    writer.close()
    expect(checkpoints(dir).map((c) => [c.reason, c.records])).toEqual([['start', 0], ['interval', 3], ['shutdown', 3]])
    expect(writer.chainStatus()).toMatchObject({instance: INSTANCE, records: 3, last_checkpoint: {n: 3, records: 3}})
  })

  it('without the chain the writer writes schema v1 and no checkpoints', async () => {
    const dir = tempDir('cycles-chain-')
    const writer = new DecisionLogWriter({dir, fsyncIntervalMs: 0, instanceId: INSTANCE})
    writer.write(record(1))
    await writer.flushed()
    writer.close()
    const [line] = lines(writer.currentPath)
    expect(line).toBe(JSON.stringify(record(1)))
    expect(fs.existsSync(checkpointFile(dir))).toBe(false)
    expect(writer.chainStatus()).toBeUndefined()
  })
})

describe('the chain\'s identity: instance and checkpoint key', () => {
  it('are generated on first start, kept in the state directory (0600) and the same at the next start', () => {
    const stateDir = path.join(tempDir('cycles-identity-'), 'state')
    const first = loadLogIdentity({stateDir})
    expect(first.keySource).toBe('generated')
    expect(first.instanceId).toMatch(/^[0-9a-f]{6}$/)
    expect(first.key.publicText).toMatch(/^ed25519:[A-Za-z0-9_-]{43}$/)
    expect(fs.statSync(first.keyFile!).mode & 0o777).toBe(0o600)
    expect(fs.statSync(path.join(stateDir, 'decision-log-instance')).mode & 0o777).toBe(0o600)
    const second = loadLogIdentity({stateDir})
    expect(second).toMatchObject({instanceId: first.instanceId, keySource: 'state'})
    expect(second.key.publicText).toBe(first.key.publicText)
  })

  it(`a key from the config file or $${SIGNING_KEY_ENV} wins; a bad one is refused`, () => {
    const stateDir = tempDir('cycles-identity-')
    const fromEnv = generateSigningKey()
    expect(loadLogIdentity({stateDir, keyPem: signingKeyPem(fromEnv)})).toMatchObject({keySource: 'env', key: {publicText: fromEnv.publicText}})
    const fromFile = generateSigningKey()
    const keyFile = path.join(stateDir, 'key.pem')
    fs.writeFileSync(keyFile, signingKeyPem(fromFile))
    expect(loadLogIdentity({stateDir, keyPem: signingKeyPem(fromEnv), keyFile})).toMatchObject({keySource: 'config', key: {publicText: fromFile.publicText}})
    expect(() => loadLogIdentity({stateDir, keyPem: 'not a key'})).toThrow(SigningKeyError)
    expect(() => loadLogIdentity({stateDir, keyFile: path.join(stateDir, 'missing.pem')})).toThrow(/ENOENT/)
  })
})

describe('two daemons on one state directory (possible with --redis)', () => {
  it('the second gets an instance of its own while the first holds it; the instance is free again once released', async () => {
    const stateDir = tempDir('cycles-identity-')
    const first = loadLogIdentity({stateDir})
    // A live process other than this one holds the lock (the parent of this test process).
    fs.writeFileSync(path.join(stateDir, 'decision-log.lock'), `${process.ppid}\n`)
    const second = loadLogIdentity({stateDir})
    expect(second.instanceInUseBy).toBe(process.ppid)
    expect(second.instanceId).not.toBe(first.instanceId)
    expect(second.key.publicText).toBe(first.key.publicText) // one key signs both chains
    // A lock left by a dead daemon (kill -9) is taken over.
    fs.writeFileSync(path.join(stateDir, 'decision-log.lock'), '999999999\n')
    const third = loadLogIdentity({stateDir})
    expect(third.instanceInUseBy).toBeUndefined()
    expect(third.instanceId).toBe(first.instanceId)
    third.release()
    expect(fs.existsSync(path.join(stateDir, 'decision-log.lock'))).toBe(false)
  })
})
