// `cycles shadow ingest`: decision logs into the analysis database with DuckDB's own JSON reader
// and an explicit column list — never row-by-row inserts.
//
// Per file: one INSERT ... SELECT FROM read_json(..., ignore_errors) loads every non-blank line (the
// reader turns a line it cannot use into a row of NULLs, so nothing is dropped silently). Rows
// failing the schema rule move to `quarantine` with their physical line number and text (found by
// a second, numbered read of that file, only when it has such rows). Duplicate ids — a file seen
// before, a copy of it, a grown live segment read again — are removed by comparing 64-bit id hashes
// within the file's time range, then checking candidate ids exactly. Unchanged files (same path,
// size, mtime and content fingerprint) are skipped outright.
import fs from 'node:fs'

import {SELECT_COLUMNS, VALID_SQL, readJsonSql, recordProblems, sqlString} from './schema.js'
import {type InputFile, fingerprint, locateLines, resolveInputs} from './files.js'
import type {ShadowDb} from './db.js'

export interface IngestOptions {
  /** How many quarantined lines to return for display. */
  showMalformed?: number
  onProgress?: (event: {file: string; bytesDone: number; bytesTotal: number}) => void
}

export interface QuarantinedLine {
  file: string
  line: number
  reason: string
  raw: string
}

export interface FileResult {
  path: string
  rows: number
  ingested: number
  duplicates: number
  malformed: number
  skipped: boolean
}

export interface IngestResult {
  files: number
  skipped_files: number
  /** Non-blank lines read. */
  rows: number
  ingested: number
  duplicates: number
  malformed: number
  total_records: number
  seconds: number
  records_per_second: number
  malformed_sample: QuarantinedLine[]
  per_file: FileResult[]
}

export async function ingest(db: ShadowDb, inputs: string[], options: IngestOptions = {}): Promise<IngestResult> {
  const started = performance.now()
  const files = resolveInputs(inputs)
  const bytesTotal = files.reduce((s, f) => s + f.size, 0)
  let bytesDone = 0
  const result: IngestResult = {
    files: files.length,
    skipped_files: 0,
    rows: 0,
    ingested: 0,
    duplicates: 0,
    malformed: 0,
    total_records: 0,
    seconds: 0,
    records_per_second: 0,
    malformed_sample: [],
    per_file: [],
  }
  await db.run(`SET enable_progress_bar = true`)
  await db.run(`SET enable_progress_bar_print = false`)
  for (const file of files) {
    const timer = options.onProgress
      ? setInterval(() => {
          const pct = Math.max(0, Math.min(100, db.conn.progress.percentage))
          options.onProgress!({file: file.path, bytesDone: bytesDone + (file.size * pct) / 100, bytesTotal})
        }, 200)
      : undefined
    try {
      const r = await ingestFile(db, file, result.malformed_sample, options.showMalformed ?? 5)
      result.per_file.push(r)
      if (r.skipped) result.skipped_files++
      result.rows += r.rows
      result.ingested += r.ingested
      result.duplicates += r.duplicates
      result.malformed += r.malformed
    } finally {
      if (timer) clearInterval(timer)
    }
    bytesDone += file.size
    options.onProgress?.({file: file.path, bytesDone, bytesTotal})
  }
  await db.run('CHECKPOINT')
  const [{n}] = await db.all<{n: number}>('SELECT count(*)::DOUBLE AS n FROM records')
  result.total_records = n
  result.seconds = (performance.now() - started) / 1000
  result.records_per_second = result.seconds > 0 ? Math.round(result.rows / result.seconds) : 0
  return result
}

async function ingestFile(db: ShadowDb, file: InputFile, sample: QuarantinedLine[], sampleMax: number): Promise<FileResult> {
  const fp = fingerprint(file)
  const seen = await db.all<{rows: number}>(
    `SELECT rows::DOUBLE AS rows FROM ingested_files WHERE path = $1 AND size = $2 AND mtime_ms = $3 AND fingerprint = $4 LIMIT 1`,
    [file.path, file.size, file.mtime_ms, fp],
  )
  if (seen.length > 0) {
    return {path: file.path, rows: seen[0].rows, ingested: 0, duplicates: seen[0].rows, malformed: 0, skipped: true}
  }
  const [{next}] = await db.all<{next: number}>(`SELECT (coalesce(max(file_id), 0) + 1)::INTEGER AS next FROM ingested_files`)
  const fileId = next
  await db.run('BEGIN TRANSACTION')
  try {
    // 1. Load every non-blank line; a line with v ≠ 1 gets a NULL id so the schema rule rejects it.
    await db.run(`INSERT INTO records SELECT ${fileId}, ${SELECT_COLUMNS.replace(/^id,/, 'CASE WHEN v = 1 THEN id END,')} FROM ${readJsonSql(file.path)}`)
    const [counts] = await db.all<{rows: number; bad: number; lo: unknown; hi: unknown}>(
      `SELECT count(*)::DOUBLE AS rows, count(*) FILTER (WHERE NOT coalesce(${VALID_SQL}, false))::DOUBLE AS bad,
              min(ts)::VARCHAR AS lo, max(ts)::VARCHAR AS hi FROM records WHERE file_id = ${fileId}`,
    )
    // 2. Quarantine rows that are not valid schema-v1 records. Only then is the file read a second
    //    time, numbering its non-blank lines (WITH ORDINALITY), to find them; then the physical line
    //    numbers and text come from a scan of the file.
    let malformed = 0
    if (counts.bad > 0) {
      const bad = await db.all<{line: number}>(
        `SELECT ordinality::DOUBLE AS line FROM ${readJsonSql(file.path)} WITH ORDINALITY WHERE NOT coalesce(v = 1 AND ${VALID_SQL}, false) ORDER BY ordinality`,
      )
      if (bad.length !== counts.bad) throw new Error(`ingest: ${file.path}: ${counts.bad} invalid rows but ${bad.length} located; please report this`)
      const located = await locateLines(file.path, bad.map((b) => b.line))
      const byOrdinal = new Map(located.map((l) => [l.ordinal, l]))
      const rows = bad.map((b) => {
        const loc = byOrdinal.get(b.line)
        const raw = loc?.raw ?? ''
        const isLast = b.line === counts.rows
        const problems = recordProblems(raw)
        const torn = isLast && problems[0]?.startsWith('not valid JSON') && !endsWithNewline(file.path)
        return {line: loc?.line ?? b.line, raw, reason: torn ? `torn last line (no newline; ${problems[0]})` : problems.join('; ')}
      })
      for (let i = 0; i < rows.length; i += 500) {
        const chunk = rows.slice(i, i + 500)
        const values = chunk.map((r) => `(${fileId}, ${sqlString(file.path)}, ${r.line}, ${sqlString(r.reason)}, ${sqlString(r.raw)}, now())`).join(', ')
        await db.run(`INSERT INTO quarantine VALUES ${values}`)
      }
      for (const r of rows) if (sample.length < sampleMax) sample.push({file: file.path, line: r.line, reason: r.reason, raw: r.raw})
      malformed = await db.run(`DELETE FROM records WHERE file_id = ${fileId} AND NOT coalesce(${VALID_SQL}, false)`)
    }
    // 3. Duplicates by id, inside this file or against earlier files: keep the first copy.
    let duplicates = 0
    if (counts.rows - malformed > 0) {
      const range = `ts BETWEEN ${sqlString(String(counts.lo))}::TIMESTAMP AND ${sqlString(String(counts.hi))}::TIMESTAMP`
      await db.run(`CREATE OR REPLACE TEMP TABLE dup_hashes AS SELECT hash(id) AS h FROM records WHERE ${range} GROUP BY h HAVING count(*) > 1`)
      const [{n}] = await db.all<{n: number}>('SELECT count(*)::DOUBLE AS n FROM dup_hashes')
      if (n > 0) {
        duplicates = await db.run(
          `DELETE FROM records WHERE rowid IN (
             SELECT rid FROM (
               SELECT rowid AS rid, file_id, row_number() OVER (PARTITION BY id ORDER BY file_id, rowid) AS rn
               FROM records WHERE ${range} AND hash(id) IN (SELECT h FROM dup_hashes)
             ) WHERE rn > 1 AND file_id = ${fileId})`,
        )
      }
    }
    const ingested = counts.rows - malformed - duplicates
    await db.run(
      `INSERT INTO ingested_files VALUES (${fileId}, $1, $2, $3, $4, $5, $6, $7, $8, now())`,
      [file.path, file.size, file.mtime_ms, fp, counts.rows, ingested, duplicates, malformed],
    )
    await db.run('COMMIT')
    return {path: file.path, rows: counts.rows, ingested, duplicates, malformed, skipped: false}
  } catch (error) {
    await db.run('ROLLBACK').catch(() => {})
    throw error
  }
}

function endsWithNewline(file: string): boolean {
  if (/\.gz$/i.test(file)) return true
  return lastByte(file) === 10
}

function lastByte(file: string): number | undefined {
  const size = fs.statSync(file).size
  if (size === 0) return undefined
  const fd = fs.openSync(file, 'r')
  try {
    const b = Buffer.alloc(1)
    fs.readSync(fd, b, 0, 1, size - 1)
    return b[0]
  } finally {
    fs.closeSync(fd)
  }
}
