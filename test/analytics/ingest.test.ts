import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import {describe, expect, it} from 'vitest'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {plantedLog} from '../../src/simulate/synthetic.js'
import {tempDir} from '../support/daemon.js'
import {PLANTED, writePlanted} from './helpers.js'

const open = (dir: string) => openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
const lines = plantedLog(PLANTED).map((r) => JSON.stringify(r))

describe('shadow ingest', () => {
  it('loads every record once; ingesting the same file again adds nothing', async () => {
    const dir = tempDir('cycles-ingest-')
    const file = writePlanted(dir)
    const db = await open(dir)
    try {
      const first = await ingest(db, [file])
      expect(first).toMatchObject({files: 1, rows: lines.length, ingested: lines.length, duplicates: 0, malformed: 0, total_records: lines.length})
      const again = await ingest(db, [file])
      expect(again).toMatchObject({files: 1, skipped_files: 1, ingested: 0, duplicates: lines.length, malformed: 0, total_records: lines.length})
      // a copy under another name (not skipped by path): every record is a duplicate by id
      const copy = path.join(dir, 'copy.jsonl')
      fs.copyFileSync(file, copy)
      const copied = await ingest(db, [copy])
      expect(copied).toMatchObject({skipped_files: 0, rows: lines.length, ingested: 0, duplicates: lines.length, total_records: lines.length})
      const [{n}] = await db.all<{n: number}>('SELECT count(DISTINCT id)::DOUBLE AS n FROM records')
      expect(n).toBe(lines.length)
    } finally {
      db.close()
    }
  })

  it('a grown live segment adds only its new records; duplicates inside one file are kept once', async () => {
    const dir = tempDir('cycles-ingest-')
    const file = path.join(dir, 'live.jsonl')
    fs.writeFileSync(file, `${lines.slice(0, 100).join('\n')}\n`)
    const db = await open(dir)
    try {
      expect((await ingest(db, [file])).ingested).toBe(100)
      fs.appendFileSync(file, `${lines.slice(100, 150).join('\n')}\n${lines[3]}\n`)
      const grown = await ingest(db, [file])
      expect(grown).toMatchObject({rows: 151, ingested: 50, duplicates: 101, total_records: 150})
    } finally {
      db.close()
    }
  })

  it('quarantines malformed, schema-violating and torn lines with file and physical line number', async () => {
    const dir = tempDir('cycles-ingest-')
    const file = path.join(dir, 'bad.jsonl')
    const good = lines.slice(0, 6)
    const noId = JSON.parse(good[1]) as Record<string, unknown>
    delete noId.id
    const wrongVersion = {...(JSON.parse(good[2]) as object), v: 3}
    const badEstimate = {...(JSON.parse(good[3]) as object), endpoint: 'reserve', estimate: 'lots'}
    const content = [
      good[0], // 1
      '', // 2 blank: skipped, not counted
      'this is not json', // 3
      JSON.stringify(noId), // 4
      '   ', // 5 whitespace only
      good[4], // 6
      JSON.stringify(wrongVersion), // 7
      '[1, 2, 3]', // 8
      JSON.stringify(badEstimate), // 9
      good[5], // 10
      good[1].slice(0, 70), // 11: torn last line, no newline
    ].join('\n')
    fs.writeFileSync(file, content)
    // an incomplete last line is torn only once nobody is writing the file any more
    const old = new Date(Date.now() - 10 * 60_000)
    fs.utimesSync(file, old, old)
    const db = await open(dir)
    try {
      const result = await ingest(db, [file], {showMalformed: 10})
      expect(result).toMatchObject({rows: 9, ingested: 3, malformed: 6, duplicates: 0})
      const q = await db.all<{file: string; line: number; reason: string; raw: string}>('SELECT file, line::INTEGER AS line, reason, raw FROM quarantine ORDER BY line')
      expect(q.map((r) => r.line)).toEqual([3, 4, 7, 8, 9, 11])
      expect(q.every((r) => r.file === path.resolve(file))).toBe(true)
      expect(q[0].reason).toMatch(/not valid JSON/)
      expect(q[1].reason).toMatch(/missing or non-string id/)
      expect(q[2].reason).toMatch(/unsupported schema version v=3/)
      expect(q[3].reason).toBe('not a JSON object')
      expect(q[4].reason).toMatch(/estimate is not a non-negative integer/)
      expect(q[5].reason).toMatch(/^torn tail \(no newline at end of file/)
      expect(q[0].raw).toBe('this is not json')
      expect(result.malformed_sample.map((m) => m.line)).toEqual([3, 4, 7, 8, 9, 11])
      const [{n}] = await db.all<{n: number}>('SELECT count(*)::DOUBLE AS n FROM records')
      expect(n).toBe(3)
    } finally {
      db.close()
    }
  })

  it('reads folders, globs and .gz files', async () => {
    const dir = tempDir('cycles-ingest-')
    const logs = path.join(dir, 'logs', 'nested')
    fs.mkdirSync(logs, {recursive: true})
    fs.writeFileSync(path.join(logs, 'a.jsonl'), `${lines.slice(0, 10).join('\n')}\n`)
    fs.writeFileSync(path.join(logs, 'b.jsonl.gz'), zlib.gzipSync(`${lines.slice(10, 30).join('\n')}\n`))
    fs.writeFileSync(path.join(logs, 'notes.txt'), 'not a log')
    const db = await open(dir)
    try {
      const viaFolder = await ingest(db, [path.join(dir, 'logs')])
      expect(viaFolder).toMatchObject({files: 2, ingested: 30, malformed: 0})
      const viaGlob = await ingest(db, [`${dir}/logs/**/*.gz`])
      expect(viaGlob).toMatchObject({files: 1, ingested: 0, duplicates: 20})
      await expect(ingest(db, [path.join(dir, 'missing')])).rejects.toMatchObject({code: 'INPUT_NOT_FOUND', exit: 5})
    } finally {
      db.close()
    }
  })
})
