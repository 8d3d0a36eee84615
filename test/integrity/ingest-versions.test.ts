// Schema v1 and v2 logs both ingest: the chain members are ignored by the analyzer, the records are
// the same; the checkpoint file next to the segments is not taken for a log. A version the analyzer
// does not know is still quarantined.
import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {tempDir} from '../support/daemon.js'
import {closedLog, record, writeLines} from './helpers.js'

describe('ingest of decision-log schema v1 and v2', () => {
  it('loads a chained v2 log and a v1 log side by side, and quarantines v3', async () => {
    const dir = tempDir('cycles-ingest-v2-')
    const logs = path.join(dir, 'logs')
    await closedLog(logs, 6)
    writeLines(path.join(logs, 'decisions-2026010100-old001-0001.jsonl'), [10, 11, 12].map((i) => JSON.stringify(record(i))))
    writeLines(path.join(logs, 'decisions-2026010100-old001-0002.jsonl'), [JSON.stringify({...record(20), v: 3})])
    expect(fs.readdirSync(logs).some((f) => f.endsWith('.ckpt'))).toBe(true)
    const db = await openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
    try {
      const result = await ingest(db, [logs])
      expect(result).toMatchObject({files: 3, ingested: 9, malformed: 1, failed_files: 0})
      const rows = await db.all<{id: string; estimate: number}>('SELECT id, estimate::INTEGER AS estimate FROM records ORDER BY estimate')
      expect(rows.map((r) => r.id)).toEqual(['id-0', 'id-1', 'id-2', 'id-3', 'id-4', 'id-5', 'id-10', 'id-11', 'id-12'])
      const [q] = await db.all<{reason: string}>('SELECT reason FROM quarantine')
      expect(q.reason).toMatch(/unsupported schema version v=3/)
    } finally {
      await db.close()
    }
  })
})
