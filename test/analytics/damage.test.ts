// What a crash, a bad disk or a hostile writer leaves in decision logs: NUL bytes, NUL-filled tails,
// binary garbage, SQL-looking text, truncated .gz files, a file still being appended to. Each must be
// quarantined and counted (or salvaged, or left for the next run) without failing the file or the run.
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import {describe, expect, it} from 'vitest'

import {openShadowDb, type ShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {plantedLog} from '../../src/simulate/synthetic.js'
import {tempDir} from '../support/daemon.js'
import {PLANTED} from './helpers.js'

const open = (dir: string) => openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
const lines = plantedLog(PLANTED).map((r) => JSON.stringify(r))
const idOf = (line: string) => (JSON.parse(line) as {id: string}).id

interface QuarantineRow {
  file: string
  line: number
  reason: string
  raw: string
}
const quarantine = (db: ShadowDb) =>
  db.all<QuarantineRow>('SELECT file, line::INTEGER AS line, reason, raw FROM quarantine ORDER BY file, line')
const recordIds = async (db: ShadowDb) => (await db.all<{id: string}>('SELECT id FROM records ORDER BY id')).map((r) => r.id)

describe('shadow ingest on damaged logs', () => {
  it('NUL bytes mid-file are quarantined verbatim; a NUL-filled tail is a torn tail, quarantined and counted', async () => {
    const dir = tempDir('cycles-damage-')
    const midFile = path.join(dir, 'nul-mid.jsonl')
    const tailFile = path.join(dir, 'nul-tail.jsonl')
    const halfTail = path.join(dir, 'half-then-nul.jsonl')
    const nulInString = lines[1].replace('"id":"', '"id":"\u0000')
    fs.writeFileSync(midFile, `${lines[0]}\nab\u0000cd\n${nulInString}\n${lines[2]}\n`)
    // a host crash: the size was extended, the data never written
    fs.writeFileSync(tailFile, Buffer.concat([Buffer.from(`${lines[3]}\n${lines[4]}\n`), Buffer.alloc(4096)]))
    fs.writeFileSync(halfTail, Buffer.concat([Buffer.from(`${lines[5]}\n${lines[6].slice(0, 40)}`), Buffer.alloc(512)]))
    const db = await open(dir)
    try {
      const result = await ingest(db, [dir], {showMalformed: 10})
      expect(result).toMatchObject({files: 3, ingested: 5, malformed: 4, duplicates: 0})
      expect(result.per_file.map((f) => [path.basename(f.path), f.ingested, f.malformed])).toEqual([
        ['half-then-nul.jsonl', 1, 1],
        ['nul-mid.jsonl', 2, 2],
        ['nul-tail.jsonl', 2, 1],
      ])
      expect(await recordIds(db)).toEqual([lines[0], lines[2], lines[3], lines[4], lines[5]].map(idOf).sort())
      const q = await quarantine(db)
      expect(q.map((r) => [path.basename(r.file), r.line])).toEqual([
        ['half-then-nul.jsonl', 2],
        ['nul-mid.jsonl', 2],
        ['nul-mid.jsonl', 3],
        ['nul-tail.jsonl', 3],
      ])
      expect(q[1].raw).toBe('ab\u0000cd')
      expect(q[2].raw).toBe(nulInString)
      expect(q[0].reason).toMatch(/^torn tail/)
      expect(q[0].raw.startsWith(lines[6].slice(0, 40))).toBe(true)
      expect(q[3].reason).toMatch(/^torn tail \(NUL-filled/)
      expect(q[3].raw).toMatch(/^\u0000+…?$/)
    } finally {
      db.close()
    }
  })

  it('binary garbage lines (invalid UTF-8, lone CR, NUL, quotes) are quarantined; line numbers after them stay right', async () => {
    const dir = tempDir('cycles-damage-')
    const file = path.join(dir, 'garbage.jsonl')
    const garbage = Buffer.from([0xff, 0xfe, 0x00, 0x0d, 0x27, 0x5c, 0x80, 0xc3, 0x28, 0x22, 0x0d, 0x7b, 0x01, 0x02])
    fs.writeFileSync(file, Buffer.concat([
      Buffer.from(`${lines[0]}\n`), // 1
      garbage, Buffer.from('\n'), // 2
      Buffer.from(`${lines[1]}\n`), // 3
      Buffer.from('\u000c\n'), // 4: form feed only: blank to the JSON reader
      Buffer.from('{"v":1,"id":\r"broken"\n'), // 5
      Buffer.from(`${lines[2]}\n`), // 6
    ]))
    const db = await open(dir)
    try {
      const result = await ingest(db, [file])
      expect(result).toMatchObject({rows: 5, ingested: 3, malformed: 2})
      const q = await quarantine(db)
      expect(q.map((r) => r.line)).toEqual([2, 5])
      expect(q[0].raw).toBe(garbage.toString('utf8'))
      expect(q[0].reason).toMatch(/not valid JSON/)
      expect(q[1].raw).toBe('{"v":1,"id":\r"broken"')
      expect(await recordIds(db)).toEqual([lines[0], lines[1], lines[2]].map(idOf).sort())
    } finally {
      db.close()
    }
  })

  it('a quote/backslash/SQL-laden bad line is quarantined verbatim, never parsed as SQL', async () => {
    const dir = tempDir('cycles-damage-')
    const file = path.join(dir, 'hostile.jsonl')
    const hostile = [
      `x'); DROP TABLE records; -- \\' \\\\ E'\\n' $1 ? $$ \u0000 '' "`,
      `{"v":1,"id":"'; DELETE FROM records; --","note":"a\\nb\\\\c\\"d'e"} trailing`,
      `\\x00\\'\\"\r\\`,
    ]
    fs.writeFileSync(file, `${lines[0]}\n${hostile.join('\n')}\n${lines[1]}\n`)
    const db = await open(dir)
    try {
      const result = await ingest(db, [file])
      expect(result).toMatchObject({ingested: 2, malformed: 3})
      const q = await quarantine(db)
      expect(q.map((r) => r.raw)).toEqual(hostile)
      expect(q.map((r) => r.line)).toEqual([2, 3, 4])
      expect(await recordIds(db)).toEqual([lines[0], lines[1]].map(idOf).sort())
    } finally {
      db.close()
    }
  })

  it('a truncated .gz between two good files: both good files and the salvaged prefix load, the file is named, the run continues', async () => {
    const dir = tempDir('cycles-damage-')
    const full = lines.slice(100, 1100)
    const gz = zlib.gzipSync(`${full.join('\n')}\n`)
    fs.writeFileSync(path.join(dir, 'a.jsonl'), `${lines.slice(0, 50).join('\n')}\n`)
    fs.writeFileSync(path.join(dir, 'b.jsonl.gz'), gz.subarray(0, Math.floor(gz.length / 2)))
    fs.writeFileSync(path.join(dir, 'c.jsonl'), `${lines.slice(50, 100).join('\n')}\n`)
    const db = await open(dir)
    try {
      const result = await ingest(db, [dir])
      const [a, b, c] = result.per_file
      expect([a, c].map((f) => [path.basename(f.path), f.ingested, f.malformed])).toEqual([['a.jsonl', 50, 0], ['c.jsonl', 50, 0]])
      expect(path.basename(b.path)).toBe('b.jsonl.gz')
      expect(b.problem).toMatch(/truncated or corrupt gzip/)
      // the salvaged prefix: the first complete lines, in order; the torn last one quarantined
      expect(b.ingested).toBeGreaterThan(100)
      expect(b.ingested).toBeLessThan(1000)
      expect(b.malformed).toBe(1)
      const salvaged = await db.all<{id: string}>(`SELECT r.id FROM records r JOIN ingested_files f USING (file_id) WHERE f.path LIKE '%b.jsonl.gz'`)
      expect(new Set(salvaged.map((r) => r.id))).toEqual(new Set(full.slice(0, b.ingested).map(idOf)))
      const q = await quarantine(db)
      expect(q).toHaveLength(1)
      expect(q[0]).toMatchObject({line: b.ingested + 1})
      expect(q[0].reason).toMatch(/^torn tail \(truncated or corrupt gzip/)
      expect(full[b.ingested].startsWith(q[0].raw)).toBe(true)
      expect(result.problems).toEqual([{file: b.path, problem: b.problem}])
      expect(result.total_records).toBe(100 + b.ingested)
    } finally {
      db.close()
    }
  })

  it('a file still being appended to: every record is eventually ingested exactly once, no half line is quarantined', async () => {
    const dir = tempDir('cycles-damage-')
    const file = path.join(dir, 'live.jsonl')
    fs.writeFileSync(file, '')
    const total = 1440
    expect(lines.length).toBeGreaterThanOrEqual(total)
    const payload = lines.slice(0, total)
    fs.writeFileSync(path.join(dir, 'payload.json'), JSON.stringify(payload))
    // A separate process appends a burst of records on each "go", cut at two random points: the
    // first part at once (so every ingest starts on a half-written last line), the second a few ms
    // later (racing the ingest's reads), the rest with the next go.
    const burstSize = 40
    const writer = spawn(process.execPath, ['-e', `
      const fs = require('node:fs')
      const lines = JSON.parse(fs.readFileSync(process.argv[1] + '/payload.json', 'utf8'))
      const fd = fs.openSync(process.argv[1] + '/live.jsonl', 'a')
      let i = 0
      let middle = ''
      let rest = ''
      let seed = 7
      const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647)
      // bytes go out in order whatever the timers do: a late middle part is written before the rest
      const writeMiddle = () => { if (middle !== '') fs.writeSync(fd, middle); middle = '' }
      process.stdin.on('data', (chunk) => {
        for (const _ of chunk.toString().split('\\n').filter(Boolean)) {
          writeMiddle()
          const burst = lines.slice(i, i + ${burstSize}).map((l) => l + '\\n').join('')
          i += ${burstSize}
          const c1 = 1 + Math.floor(random() * (burst.length - 2))
          const c2 = c1 + Math.floor(random() * (burst.length - c1))
          fs.writeSync(fd, rest + burst.slice(0, c1))
          middle = burst.slice(c1, c2)
          rest = burst.slice(c2)
          setTimeout(writeMiddle, Math.floor(random() * 20))
        }
      })
      process.stdin.on('end', () => { writeMiddle(); fs.writeSync(fd, rest); fs.closeSync(fd) })
    `, dir], {stdio: ['pipe', 'inherit', 'inherit']})
    const exited = new Promise<number | null>((resolve) => writer.on('exit', resolve))
    const db = await open(dir)
    try {
      for (let round = 0; round < total / burstSize; round++) {
        writer.stdin.write('go\n')
        await ingest(db, [file])
      }
      writer.stdin.end()
      expect(await exited).toBe(0)
      const final = await ingest(db, [file])
      expect(await quarantine(db)).toEqual([])
      const [{n, distinct}] = await db.all<{n: number; distinct: number}>('SELECT count(*)::DOUBLE AS n, count(DISTINCT id)::DOUBLE AS distinct FROM records')
      expect({n, distinct}).toEqual({n: total, distinct: total})
      expect(await recordIds(db)).toEqual(payload.map(idOf).sort())
      expect(final.pending_bytes).toBe(0)
    } finally {
      db.close()
      writer.kill()
    }
  }, 300_000) // ~36 ingest rounds: slow on a loaded machine

  it('an incomplete last line is left for the next run while the file is fresh, quarantined as torn once it is old', async () => {
    const dir = tempDir('cycles-damage-')
    const file = path.join(dir, 'tail.jsonl')
    fs.writeFileSync(file, `${lines[0]}\n${lines[1].slice(0, 30)}`)
    const db = await open(dir)
    try {
      const fresh = await ingest(db, [file])
      expect(fresh).toMatchObject({ingested: 1, malformed: 0, pending_bytes: 30})
      // the writer finishes the line: it is picked up, the first record is not counted twice
      fs.appendFileSync(file, `${lines[1].slice(30)}\n${lines[2].slice(0, 20)}`)
      const grown = await ingest(db, [file])
      expect(grown).toMatchObject({ingested: 1, duplicates: 1, malformed: 0, pending_bytes: 20})
      // nobody finishes the last line: once the file has not changed for a while it is a torn tail
      const old = new Date(Date.now() - 10 * 60_000)
      fs.utimesSync(file, old, old)
      const later = await ingest(db, [file])
      expect(later).toMatchObject({ingested: 0, duplicates: 2, malformed: 1, pending_bytes: 0})
      const q = await quarantine(db)
      expect(q.map((r) => [r.line, r.raw])).toEqual([[3, lines[2].slice(0, 20)]])
      expect(q[0].reason).toMatch(/^torn tail \(no newline/)
      const again = await ingest(db, [file])
      expect(again).toMatchObject({skipped_files: 1, ingested: 0, malformed: 0})
      expect(await quarantine(db)).toHaveLength(1)
    } finally {
      db.close()
    }
  })

  it('a file whose name has glob characters is read as itself, not as a pattern', async () => {
    const dir = tempDir('cycles-damage-')
    fs.writeFileSync(path.join(dir, 'decisions [1] *.jsonl'), `${lines.slice(0, 5).join('\n')}\n`)
    fs.writeFileSync(path.join(dir, 'decisions 1 a.jsonl'), `${lines.slice(5, 8).join('\n')}\n`)
    const db = await open(dir)
    try {
      const result = await ingest(db, [dir])
      expect(result.per_file.map((f) => [path.basename(f.path), f.ingested])).toEqual([['decisions 1 a.jsonl', 3], ['decisions [1] *.jsonl', 5]])
      expect(result).toMatchObject({ingested: 8, failed_files: 0, total_records: 8})
    } finally {
      db.close()
    }
  })

  it('many small files are ingested in batches: per-file counts and quarantine line numbers stay exact; re-ingest adds nothing', async () => {
    const dir = tempDir('cycles-damage-')
    const logs = path.join(dir, 'logs')
    fs.mkdirSync(logs)
    const perFile = 4
    const count = 300
    const name = (i: number) => path.join(logs, `s-${String(i).padStart(4, '0')}.jsonl`)
    for (let i = 0; i < count; i++) {
      const body = lines.slice(i * perFile, (i + 1) * perFile)
      if (i === 7) body.splice(2, 0, 'not json at line 3')
      if (i === 200) body.unshift('{"v":2}')
      if (i === 250) body.push(lines[0]) // a duplicate of file 0's first record
      fs.writeFileSync(name(i), `${body.join('\n')}\n`)
    }
    fs.writeFileSync(name(count), '') // an empty file
    const db = await open(dir)
    try {
      const first = await ingest(db, [logs])
      expect(first).toMatchObject({files: count + 1, ingested: count * perFile, malformed: 2, duplicates: 1, total_records: count * perFile})
      const byName = new Map(first.per_file.map((f) => [path.basename(f.path), f]))
      expect(byName.get('s-0007.jsonl')).toMatchObject({rows: 5, ingested: 4, malformed: 1, duplicates: 0})
      expect(byName.get('s-0200.jsonl')).toMatchObject({rows: 5, ingested: 4, malformed: 1, duplicates: 0})
      expect(byName.get('s-0250.jsonl')).toMatchObject({rows: 5, ingested: 4, malformed: 0, duplicates: 1})
      expect(byName.get('s-0300.jsonl')).toMatchObject({rows: 0, ingested: 0})
      expect((await quarantine(db)).map((r) => [path.basename(r.file), r.line, r.raw])).toEqual([
        ['s-0007.jsonl', 3, 'not json at line 3'],
        ['s-0200.jsonl', 1, '{"v":2}'],
      ])
      const fileIds = await db.all<{path: string; n: number}>(
        `SELECT f.path, count(*)::DOUBLE AS n FROM records r JOIN ingested_files f USING (file_id) GROUP BY f.path ORDER BY f.path`,
      )
      expect(fileIds).toHaveLength(count)
      expect(fileIds.every((f) => f.n === perFile)).toBe(true)
      const again = await ingest(db, [logs])
      expect(again).toMatchObject({files: count + 1, skipped_files: count + 1, ingested: 0, malformed: 0, total_records: count * perFile})
      expect(await quarantine(db)).toHaveLength(2)
      // touched files are read again: their records are duplicates, their bad lines not quarantined twice
      for (const i of [7, 8, 9]) fs.utimesSync(name(i), new Date(), new Date(Date.now() + 1000))
      const touched = await ingest(db, [logs])
      expect(touched).toMatchObject({skipped_files: count - 2, ingested: 0, malformed: 0, total_records: count * perFile})
      const reread = touched.per_file.filter((f) => !f.skipped).map((f) => [path.basename(f.path), f.rows, f.duplicates, f.malformed])
      expect(reread).toEqual([['s-0007.jsonl', 5, 5, 0], ['s-0008.jsonl', 4, 4, 0], ['s-0009.jsonl', 4, 4, 0]])
      expect(await quarantine(db)).toHaveLength(2)
    } finally {
      db.close()
    }
  })
})
