// Decision records gained an optional `enforce_percent` (the enforcement ramp): logs with it, logs
// without it (older daemons) and a mix of both ingest alike, nothing quarantined.
import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {plantedLog} from '../../src/simulate/synthetic.js'
import {tempDir} from '../support/daemon.js'
import {PLANTED} from './helpers.js'

describe('shadow ingest of records with enforce_percent', () => {
  it('ingests new and old records alike', async () => {
    const dir = tempDir('cycles-ingest-ramp-')
    const records = plantedLog(PLANTED)
    const lines = records.map((r, i) => JSON.stringify(i % 2 === 0 ? {...r, enforce_percent: i % 101} : r))
    const file = path.join(dir, 'decisions.jsonl')
    fs.writeFileSync(file, `${lines.join('\n')}\n`)
    const db = await openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
    try {
      const result = await ingest(db, [file])
      expect(result).toMatchObject({rows: lines.length, ingested: lines.length, malformed: 0, total_records: lines.length})
      const [{n}] = await db.all<{n: number}>("SELECT count(*)::DOUBLE AS n FROM records WHERE mode IN ('shadow', 'enforce')")
      expect(n).toBe(lines.length)
    } finally {
      db.close()
    }
  })
})
