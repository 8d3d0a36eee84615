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
import os from 'node:os'
import path from 'node:path'

import {SELECT_COLUMNS, VALID_SQL, readJsonSql, recordProblems} from './schema.js'
import {type InputFile, completeLinesEnd, copyPrefix, countNewlines, fingerprint, fingerprintBytes, gunzipLines, lineText, locateLines, readRange, resolveInputs} from './files.js'
import type {ShadowDb} from './db.js'

/** An incomplete last line in a file changed more recently than this may still be being written. */
export const LIVE_WINDOW_MS = 60_000
/** Files loaded by one statement and transaction (many small files: one each cost ~9 ms a file). */
const BATCH_MAX_FILES = 1000
const BATCH_MAX_BYTES = 256 * 2 ** 20
/** How much of a torn tail is read to judge it and keep it. */
const TAIL_READ_BYTES = 65_536
/** Files up to this size are read whole once while planning (fingerprintBytes covers up to 64 KiB). */
const SMALL_FILE_BYTES = 65_536

export interface IngestOptions {
  /** How many quarantined lines to return for display. */
  showMalformed?: number
  onProgress?: (event: {file: string; bytesDone: number; bytesTotal: number}) => void
  /** Wall clock in ms, for the live-file rule (tests pass their own). */
  now?: () => number
  /** Most files per batch (default 1000); 1 gives one transaction per file, the benchmark's baseline. */
  batchFiles?: number
}

export interface QuarantinedLine {
  file: string
  line: number
  reason: string
  raw: string
}

export interface FileResult {
  path: string
  /** Non-blank lines read (a quarantined torn tail counts as one). */
  rows: number
  ingested: number
  /** Records already in the database, and bad lines already quarantined by an earlier run. */
  duplicates: number
  /** Lines newly quarantined. */
  malformed: number
  skipped: boolean
  /** Bytes after the last complete line of a file still being written, left for the next run. */
  pending_bytes: number
  /** Damage worked around (e.g. a truncated .gz, salvaged), or why the file could not be ingested. */
  problem?: string
  /** The file could not be ingested at all (nothing of it was loaded). */
  failed?: boolean
}

export interface IngestResult {
  files: number
  skipped_files: number
  failed_files: number
  /** Non-blank lines read. */
  rows: number
  ingested: number
  duplicates: number
  malformed: number
  pending_bytes: number
  total_records: number
  seconds: number
  records_per_second: number
  malformed_sample: QuarantinedLine[]
  /** Every file with a problem, by name: damage salvaged around, or a file that failed. */
  problems: Array<{file: string; problem: string}>
  per_file: FileResult[]
}

/** A file's part in this run, fixed before anything is read. */
interface Plan {
  index: number
  file: InputFile
  gz: boolean
  /** Bytes of the file this run accounts for (stored, with the fingerprint, to skip it next time). */
  consumed: number
  /** Bytes of the (plain) file that DuckDB reads: its complete lines. */
  readEnd: number
  fingerprint: string
  pending_bytes: number
  torn?: {line: number; raw: string; reason: string}
  problem?: string
  fileId: number
  /** What DuckDB reads: the file itself (direct) or a copy/decompression of its readable part; undefined when nothing. */
  source?: string
  direct: boolean
}

class SourceChanged extends Error {
  constructor(readonly plans: Plan[]) {
    super(`changed while being read: ${plans.map((p) => p.file.path).join(', ')}`)
  }
}

export async function ingest(db: ShadowDb, inputs: string[], options: IngestOptions = {}): Promise<IngestResult> {
  const started = performance.now()
  const now = options.now ?? Date.now
  const files = resolveInputs(inputs)
  const bytesTotal = files.reduce((s, f) => s + f.size, 0)
  let bytesDone = 0
  const sampleMax = options.showMalformed ?? 5
  const result: IngestResult = {
    files: files.length,
    skipped_files: 0,
    failed_files: 0,
    rows: 0,
    ingested: 0,
    duplicates: 0,
    malformed: 0,
    pending_bytes: 0,
    total_records: 0,
    seconds: 0,
    records_per_second: 0,
    malformed_sample: [],
    problems: [],
    per_file: [],
  }
  const perFile: FileResult[] = new Array(files.length)
  const failed = (plan: {index: number; file: InputFile}, error: unknown) => {
    perFile[plan.index] = {...emptyResult(plan.file.path), problem: `could not be ingested: ${(error as Error).message ?? String(error)}`, failed: true}
  }
  await db.run(`SET enable_progress_bar = true`)
  await db.run(`SET enable_progress_bar_print = false`)
  const known = await knownFiles(db)
  const [{next}] = await db.all<{next: number}>(`SELECT (coalesce(max(file_id), 0) + 1)::INTEGER AS next FROM ingested_files`)
  let fileId = next
  const work: Plan[] = []
  for (const [index, file] of files.entries()) {
    try {
      const plan = planFile(index, file, now())
      const seen = known.get(file.path)?.find((k) => k.size === plan.consumed && k.mtime_ms === file.mtime_ms && k.fingerprint === plan.fingerprint)
      if (seen) {
        perFile[index] = {...emptyResult(file.path), rows: seen.rows, duplicates: seen.rows, skipped: true, pending_bytes: plan.pending_bytes}
        bytesDone += file.size
      } else {
        plan.fileId = fileId++
        work.push(plan)
      }
    } catch (error) {
      failed({index, file}, error)
    }
  }
  const tmp = fs.mkdtempSync(path.join(db.path === ':memory:' ? os.tmpdir() : path.dirname(path.resolve(db.path)), '.cycles-ingest-'))
  try {
    for (const batch of batches(work, options.batchFiles ?? BATCH_MAX_FILES)) {
      const batchBytes = batch.reduce((s, p) => s + p.file.size, 0)
      const timer = options.onProgress
        ? setInterval(() => {
            const pct = Math.max(0, Math.min(100, db.conn.progress.percentage))
            options.onProgress!({file: batch[0].file.path, bytesDone: bytesDone + (batchBytes * pct) / 100, bytesTotal})
          }, 200)
        : undefined
      try {
        await loadWithRetries(db, batch, tmp, perFile, result.malformed_sample, sampleMax, failed)
      } finally {
        if (timer) clearInterval(timer)
      }
      bytesDone += batchBytes
      options.onProgress?.({file: batch.at(-1)!.file.path, bytesDone, bytesTotal})
    }
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true})
  }
  for (const r of perFile) {
    result.per_file.push(r)
    if (r.skipped) result.skipped_files++
    if (r.failed) result.failed_files++
    if (r.problem) result.problems.push({file: r.path, problem: r.problem})
    result.rows += r.rows
    result.ingested += r.ingested
    result.duplicates += r.duplicates
    result.malformed += r.malformed
    result.pending_bytes += r.pending_bytes
  }
  await db.run('CHECKPOINT')
  const [{n}] = await db.all<{n: number}>('SELECT count(*)::DOUBLE AS n FROM records')
  result.total_records = n
  result.seconds = (performance.now() - started) / 1000
  result.records_per_second = result.seconds > 0 ? Math.round(result.rows / result.seconds) : 0
  return result
}

const emptyResult = (file: string): FileResult => ({path: file, rows: 0, ingested: 0, duplicates: 0, malformed: 0, skipped: false, pending_bytes: 0})

async function knownFiles(db: ShadowDb): Promise<Map<string, Array<{size: number; mtime_ms: number; fingerprint: string; rows: number}>>> {
  const rows = await db.all<{path: string; size: number; mtime_ms: number; fingerprint: string; rows: number}>(
    'SELECT path, size::DOUBLE AS size, mtime_ms, fingerprint, rows::DOUBLE AS rows FROM ingested_files',
  )
  const out = new Map<string, Array<{size: number; mtime_ms: number; fingerprint: string; rows: number}>>()
  for (const r of rows) {
    const list = out.get(r.path) ?? []
    list.push(r)
    out.set(r.path, list)
  }
  return out
}

/**
 * Decide what of a file this run reads, from the size measured once: its complete lines. What
 * follows the last newline is a line still being written (the file changed within LIVE_WINDOW_MS:
 * left for the next run), a complete record missing only its newline (read), or a torn tail (NUL
 * bytes — the zero-filled end a host crash leaves — or text nobody finished: quarantined).
 */
function planFile(index: number, file: InputFile, nowMs: number): Plan {
  const plan: Plan = {index, file, gz: /\.gz$/i.test(file.path), consumed: file.size, readEnd: file.size, fingerprint: '', pending_bytes: 0, fileId: 0, direct: false}
  // a small file is read once here (its end and fingerprint from the same bytes): with thousands of
  // small files, opening each twice was a good part of the time
  const whole = !plan.gz && file.size <= SMALL_FILE_BYTES ? readRange(file.path, 0, file.size) : undefined
  if (!plan.gz) {
    const end = whole ? whole.lastIndexOf(10) + 1 : completeLinesEnd(file.path, file.size)
    if (end < file.size) {
      const tail = whole ? whole.subarray(end) : readRange(file.path, end, file.size, TAIL_READ_BYTES)
      const nul = tail.includes(0)
      if (!nul && nowMs - file.mtime_ms < LIVE_WINDOW_MS) {
        plan.consumed = plan.readEnd = end
        plan.pending_bytes = file.size - end
      } else if (!nul && isJson(tail) && file.size - end <= TAIL_READ_BYTES) {
        plan.readEnd = file.size
      } else {
        plan.readEnd = end
        const why = nul
          ? `NUL-filled, ${file.size - end} bytes after the last newline: what a host crash leaves`
          : `no newline at end of file, unchanged for ${Math.round((nowMs - file.mtime_ms) / 1000)} s; ${recordProblems(lineText(tail))[0]}`
        plan.torn = {line: countNewlines(file.path, end) + 1, raw: lineText(tail), reason: `torn tail (${why})`}
      }
    }
  }
  plan.fingerprint = whole ? fingerprintBytes(whole.subarray(0, plan.consumed)) : fingerprint(file.path, plan.consumed)
  return plan
}

function isJson(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'))
    return true
  } catch {
    return false
  }
}

/** Many small files per batch; a large file alone. */
function* batches(work: Plan[], maxFiles: number): Generator<Plan[]> {
  let batch: Plan[] = []
  let bytes = 0
  for (const plan of work) {
    if (batch.length > 0 && (batch.length >= maxFiles || bytes + plan.file.size > BATCH_MAX_BYTES)) {
      yield batch
      batch = []
      bytes = 0
    }
    batch.push(plan)
    bytes += plan.file.size
  }
  if (batch.length > 0) yield batch
}

/** Make what DuckDB reads for each plan: the file itself when all of it is readable, else a copy of its readable part. */
async function prepareSources(batch: Plan[], tmp: string): Promise<void> {
  for (const plan of batch) {
    if (plan.source !== undefined || plan.readEnd === 0) continue
    const scratch = path.join(tmp, `${plan.fileId}.jsonl`)
    if (plan.gz) {
      const d = await gunzipLines(plan.file.path, scratch)
      plan.source = scratch
      if (d.error) {
        plan.problem = `truncated or corrupt gzip (${d.error}): salvaged ${d.lines} complete line(s) (${d.bytes} bytes) before the damage`
        if (d.tail.length > 0) plan.torn = {line: d.lines + 1, raw: lineText(d.tail), reason: `torn tail (truncated or corrupt gzip: ${d.error})`}
      } else if (d.tail.length > 0) {
        if (isJson(d.tail)) fs.appendFileSync(scratch, Buffer.concat([d.tail, Buffer.from('\n')]))
        else plan.torn = {line: d.lines + 1, raw: lineText(d.tail), reason: `torn tail (no newline at end of file; ${recordProblems(lineText(d.tail))[0]})`}
      }
      if (fs.statSync(scratch).size === 0) plan.source = undefined
    } else if (plan.readEnd === plan.file.size && !/[*?[\]{}]/.test(plan.file.path)) {
      // (DuckDB expands glob characters in a path: such a file is read from a copy)
      plan.source = plan.file.path
      plan.direct = true
    } else {
      copyPrefix(plan.file.path, scratch, plan.readEnd)
      plan.source = scratch
    }
  }
}

async function loadWithRetries(
  db: ShadowDb,
  batch: Plan[],
  tmp: string,
  perFile: FileResult[],
  sample: QuarantinedLine[],
  sampleMax: number,
  failed: (plan: Plan, error: unknown) => void,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await prepareSources(batch, tmp)
      const {results, quarantined} = await loadBatch(db, batch)
      for (const r of results) perFile[r.index] = r.result
      for (const q of quarantined) if (sample.length < sampleMax) sample.push(q)
      return
    } catch (error) {
      if (error instanceof SourceChanged && attempt < 2) {
        // a file grew (or was rewritten) while DuckDB read it: read a copy of the measured prefix instead
        for (const plan of error.plans) {
          const scratch = path.join(tmp, `${plan.fileId}.jsonl`)
          copyPrefix(plan.file.path, scratch, plan.readEnd)
          plan.source = scratch
          plan.direct = false
        }
        continue
      }
      if (batch.length > 1) {
        // find the file at fault: the others still load
        for (const plan of batch) await loadWithRetries(db, [plan], tmp, perFile, sample, sampleMax, failed)
        return
      }
      failed(batch[0], error)
      return
    }
  }
}

async function loadBatch(db: ShadowDb, batch: Plan[]): Promise<{results: Array<{index: number; result: FileResult}>; quarantined: QuarantinedLine[]}> {
  const lo = batch[0].fileId
  const hi = batch.at(-1)!.fileId
  const inBatch = `file_id BETWEEN ${lo} AND ${hi}`
  const readable = batch.filter((p) => p.source !== undefined)
  // a v other than 1 or 2 (ingested schemas) gets a NULL id so the schema rule rejects the row
  const columns = SELECT_COLUMNS.replace(/^id,/, 'CASE WHEN v IN (1, 2) THEN id END,')
  await db.run('BEGIN TRANSACTION')
  try {
    // 1. Load every non-blank line of every file of the batch in one statement.
    if (readable.length === 1) {
      await db.run(`INSERT INTO records SELECT ${readable[0].fileId}, ${columns} FROM ${readJsonSql(readable[0].source!)}`)
    } else if (readable.length > 1) {
      await db.run('CREATE OR REPLACE TEMP TABLE batch_sources (source VARCHAR, batch_file_id INTEGER)')
      await insertRows(db, 'batch_sources', readable.map((p) => [p.source!, p.fileId]))
      await db.run(
        `INSERT INTO records SELECT b.batch_file_id, ${columns} FROM ${readJsonSql(readable.map((p) => p.source!), {filename: true})} JOIN batch_sources b ON filename = b.source`,
      )
    }
    const counts = new Map<number, {rows: number; bad: number; lo: string | null; hi: string | null}>()
    for (const c of await db.all<{file_id: number; rows: number; bad: number; lo: string | null; hi: string | null}>(
      `SELECT file_id, count(*)::DOUBLE AS rows, count(*) FILTER (WHERE NOT coalesce(${VALID_SQL}, false))::DOUBLE AS bad,
              min(ts)::VARCHAR AS lo, max(ts)::VARCHAR AS hi FROM records WHERE ${inBatch} GROUP BY file_id`,
    )) counts.set(c.file_id, c)
    // 2. Quarantine what is not a valid schema-v1 record, with physical line numbers and text: the
    //    bad rows (found by a second, numbered read of their file, only when it has some) and torn
    //    tails. A line quarantined by an earlier run of the same file is not added again.
    const quarantined: QuarantinedLine[] = []
    const requarantined = new Map<number, number>()
    let anyBad = false
    for (const plan of batch) {
      const c = counts.get(plan.fileId)
      const lines: QuarantinedLine[] = []
      if (c && c.bad > 0) {
        anyBad = true
        const bad = await db.all<{line: number}>(
          `SELECT ordinality::DOUBLE AS line FROM ${readJsonSql(plan.source!)} WITH ORDINALITY WHERE NOT coalesce(v IN (1, 2) AND ${VALID_SQL}, false) ORDER BY ordinality`,
        )
        if (bad.length !== c.bad) throw new Error(`${plan.file.path}: ${c.bad} invalid rows on the first read but ${bad.length} on the second`)
        const located = new Map((await locateLines(plan.source!, bad.map((b) => b.line))).map((l) => [l.ordinal, l]))
        for (const b of bad) {
          const loc = located.get(b.line)
          const raw = loc?.raw ?? ''
          lines.push({file: plan.file.path, line: loc?.line ?? b.line, reason: recordProblems(raw).join('; '), raw})
        }
      }
      if (plan.torn) lines.push({file: plan.file.path, ...plan.torn})
      if (lines.length === 0) continue
      const before = new Set(
        (await db.all<{line: number; raw: string}>('SELECT line::DOUBLE AS line, raw FROM quarantine WHERE file = $1', [plan.file.path])).map((q) => `${q.line}\n${q.raw}`),
      )
      const fresh = lines.filter((l) => !before.has(`${l.line}\n${l.raw}`))
      requarantined.set(plan.fileId, lines.length - fresh.length)
      // bound parameters: the text of a bad line (NUL bytes, quotes, garbage) never becomes SQL
      await insertRows(db, 'quarantine', fresh.map((l) => [plan.fileId, l.file, l.line, l.reason, l.raw]), 'now()')
      quarantined.push(...fresh)
    }
    if (anyBad) await db.run(`DELETE FROM records WHERE ${inBatch} AND NOT coalesce(${VALID_SQL}, false)`)
    // 3. Duplicates by id, inside the batch or against earlier files: keep the first copy.
    const ranges = [...counts.values()].filter((c) => c.lo !== null && c.rows > c.bad)
    const kept = new Map<number, number>()
    for (const [id, c] of counts) kept.set(id, c.rows - c.bad)
    if (ranges.length > 0) {
      const tsLo = ranges.reduce((m, c) => (c.lo! < m ? c.lo! : m), ranges[0].lo!)
      const tsHi = ranges.reduce((m, c) => (c.hi! > m ? c.hi! : m), ranges[0].hi!)
      const range = `ts BETWEEN $1::TIMESTAMP AND $2::TIMESTAMP`
      await db.run(`CREATE OR REPLACE TEMP TABLE dup_hashes AS SELECT hash(id) AS h FROM records WHERE ${range} GROUP BY h HAVING count(*) > 1`, [tsLo, tsHi])
      const [{n}] = await db.all<{n: number}>('SELECT count(*)::DOUBLE AS n FROM dup_hashes')
      if (n > 0) {
        const deleted = await db.run(
          `DELETE FROM records WHERE rowid IN (
             SELECT rid FROM (
               SELECT rowid AS rid, file_id, row_number() OVER (PARTITION BY id ORDER BY file_id, rowid) AS rn
               FROM records WHERE ${range} AND hash(id) IN (SELECT h FROM dup_hashes)
             ) WHERE rn > 1 AND ${inBatch})`,
          [tsLo, tsHi],
        )
        if (deleted > 0) {
          for (const id of kept.keys()) kept.set(id, 0)
          for (const r of await db.all<{file_id: number; n: number}>(`SELECT file_id, count(*)::DOUBLE AS n FROM records WHERE ${inBatch} GROUP BY file_id`)) kept.set(r.file_id, r.n)
        }
      }
    }
    // 4. A file DuckDB read in place must not have changed meanwhile (a live segment growing).
    const changed = changedInPlace(batch)
    if (changed.length > 0) throw new SourceChanged(changed)
    const results = batch.map((plan) => {
      const c = counts.get(plan.fileId) ?? {rows: 0, bad: 0}
      const again = requarantined.get(plan.fileId) ?? 0
      const rows = c.rows + (plan.torn ? 1 : 0)
      const malformed = c.bad + (plan.torn ? 1 : 0) - again
      const ingested = kept.get(plan.fileId) ?? 0
      const result: FileResult = {path: plan.file.path, rows, ingested, duplicates: rows - ingested - malformed, malformed, skipped: false, pending_bytes: plan.pending_bytes}
      if (plan.problem) result.problem = plan.problem
      return {index: plan.index, result, plan}
    })
    await insertRows(
      db,
      'ingested_files',
      results.map(({plan, result: r}) => [plan.fileId, plan.file.path, plan.consumed, plan.file.mtime_ms, plan.fingerprint, r.rows, r.ingested, r.duplicates, r.malformed]),
      'now()',
    )
    await db.run('COMMIT')
    return {results, quarantined}
  } catch (error) {
    await db.run('ROLLBACK').catch(() => {})
    // whatever failed, a file that changed under the reader explains it first (e.g. the two reads disagree)
    const changed = error instanceof SourceChanged ? [] : changedInPlace(batch)
    throw changed.length > 0 ? new SourceChanged(changed) : error
  }
}

function changedInPlace(batch: Plan[]): Plan[] {
  return batch.filter((p) => {
    if (!p.direct) return false
    const now = fs.statSync(p.file.path, {throwIfNoEntry: false})
    return !now || now.size !== p.file.size || now.mtimeMs !== p.file.mtime_ms
  })
}

/** Multi-row INSERT with every value a bound parameter (plus constant trailing SQL, e.g. now()). */
async function insertRows(db: ShadowDb, table: string, rows: unknown[][], trailing?: string): Promise<void> {
  if (rows.length === 0) return
  const width = rows[0].length
  const perStatement = Math.max(1, Math.floor(2000 / width))
  for (let i = 0; i < rows.length; i += perStatement) {
    const chunk = rows.slice(i, i + perStatement)
    const values = chunk.map((_, r) => `(${Array.from({length: width}, (_, c) => `$${r * width + c + 1}`).join(', ')}${trailing ? `, ${trailing}` : ''})`).join(', ')
    await db.run(`INSERT INTO ${table} VALUES ${values}`, chunk.flat())
  }
}
