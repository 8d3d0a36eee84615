// The shadow-analysis database: one DuckDB file (default .cycles/shadow.duckdb). Opened only by the
// commands that need it (DuckDB is imported lazily by them), one writer at a time.
import fs from 'node:fs'
import path from 'node:path'

import type {DuckDBConnection, DuckDBInstance} from '@duckdb/node-api'

import {CliError, EXIT} from '../cli/errors.js'

export const DEFAULT_DB = '.cycles/shadow.duckdb'

/**
 * Record columns as stored: the schema-v1 fields the analysis uses, flattened (action → action_kind,
 * action_name). request_id and trace_id stay in the raw logs: they are unique per record, costly
 * to store, and no metric needs them (find a record by its id in the log). reservation_id,
 * overage_policy and seq are kept for the calibration replay (it links commits to their reserve
 * and orders one millisecond's records).
 */
export const RECORD_TABLE = `CREATE TABLE IF NOT EXISTS records (
  file_id INTEGER,
  id VARCHAR, ts TIMESTAMP, endpoint VARCHAR, tenant VARCHAR,
  dry_run BOOLEAN, mode VARCHAR, tier VARCHAR, scope_path VARCHAR, run_id VARCHAR, parent_run_id VARCHAR,
  action_kind VARCHAR, action_name VARCHAR, unit VARCHAR, estimate BIGINT, actual BIGINT,
  decision VARCHAR, reason_code VARCHAR, would_decision VARCHAR, would_reason_code VARCHAR, denied_scope VARCHAR,
  http_status INTEGER, latency_us BIGINT,
  reservation_id VARCHAR, overage_policy VARCHAR, seq BIGINT, policy_id VARCHAR)`

const SCHEMA = [
  RECORD_TABLE,
  // Databases written before the calibration replay columns existed get them (NULL for old rows).
  `ALTER TABLE records ADD COLUMN IF NOT EXISTS reservation_id VARCHAR`,
  `ALTER TABLE records ADD COLUMN IF NOT EXISTS overage_policy VARCHAR`,
  `ALTER TABLE records ADD COLUMN IF NOT EXISTS seq BIGINT`,
  `ALTER TABLE records ADD COLUMN IF NOT EXISTS policy_id VARCHAR`,
  `CREATE TABLE IF NOT EXISTS quarantine (file_id INTEGER, file VARCHAR, line BIGINT, reason VARCHAR, raw VARCHAR, ingested_at TIMESTAMP)`,
  `CREATE TABLE IF NOT EXISTS ingested_files (file_id INTEGER, path VARCHAR, size BIGINT, mtime_ms DOUBLE, fingerprint VARCHAR,
     rows BIGINT, ingested BIGINT, duplicates BIGINT, malformed BIGINT, ingested_at TIMESTAMP)`,
  `CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR)`,
]

export interface ShadowDb {
  path: string
  instance: DuckDBInstance
  conn: DuckDBConnection
  /** Run a statement; rows as plain JS objects (cast in SQL to get the JS types you want). */
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  run(sql: string, params?: unknown[]): Promise<number>
  close(): void
}

export interface OpenOptions {
  /** Create the file (and its folder) when missing; report/read commands pass false. */
  create?: boolean
  readOnly?: boolean
  memoryLimit?: string
  threads?: number
}

/** Open (or create) the analysis database. A file locked by another process → EXIT.DB_LOCKED. */
export async function openShadowDb(dbPath: string, options: OpenOptions = {}): Promise<ShadowDb> {
  const {DuckDBInstance} = await import('@duckdb/node-api')
  const memory = dbPath === ':memory:'
  if (!memory) {
    if (!fs.existsSync(dbPath)) {
      if (!options.create) {
        throw new CliError('DB_NOT_FOUND', `no shadow database at ${dbPath}`, {
          exit: EXIT.NOT_FOUND,
          suggestions: ['ingest decision logs first: cycles shadow ingest .cycles/decisions', 'or pass --db PATH (env CYCLES_DB)'],
        })
      }
      fs.mkdirSync(path.dirname(path.resolve(dbPath)), {recursive: true})
    }
  }
  // Ingest order carries no meaning (line numbers come from a separate numbered read), so DuckDB may
  // load in parallel without keeping it.
  const config: Record<string, string> = {memory_limit: options.memoryLimit ?? '1GB', preserve_insertion_order: 'false'}
  if (options.threads) config.threads = String(options.threads)
  if (options.readOnly && !memory) config.access_mode = 'READ_ONLY'
  let instance: DuckDBInstance
  try {
    instance = await DuckDBInstance.create(dbPath, config)
  } catch (error) {
    throw translateOpenError(error as Error, dbPath)
  }
  const conn = await instance.connect()
  const db: ShadowDb = {
    path: dbPath,
    instance,
    conn,
    async all<T>(sql: string, params?: unknown[]) {
      const reader = await conn.runAndReadAll(sql, params as never)
      return reader.getRowObjectsJS() as T[]
    },
    async run(sql: string, params?: unknown[]) {
      const result = await conn.run(sql, params as never)
      return Number(result.rowsChanged)
    },
    close() {
      try {
        conn.closeSync()
      } finally {
        instance.closeSync()
      }
    },
  }
  if (!options.readOnly) for (const statement of SCHEMA) await db.run(statement)
  return db
}

export function translateOpenError(error: Error, dbPath: string): Error {
  const message = error.message ?? String(error)
  if (/lock/i.test(message)) {
    const pid = /PID (\d+)/.exec(message)?.[1]
    return new CliError('DB_LOCKED', `the shadow database ${dbPath} is locked by another process${pid ? ` (PID ${pid})` : ''}`, {
      exit: EXIT.DB_LOCKED,
      suggestions: [
        'wait for the other cycles shadow command to finish, or stop it',
        'DuckDB allows one writer per file: pass --db with another path (env CYCLES_DB) to work on a copy',
      ],
    })
  }
  if (/not a valid DuckDB database|Unable to open database|corrupt/i.test(message)) {
    return new CliError('DB_INVALID', `cannot open ${dbPath} as a DuckDB database: ${message}`, {
      exit: EXIT.ERROR,
      suggestions: ['pass --db with the path of a database written by cycles shadow ingest'],
    })
  }
  return error
}
