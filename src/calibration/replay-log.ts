// The ingested decision log in replay form: one compact, column-wise array per field, in log order
// (time, then the writer's sequence number within a millisecond), with scopes, reservations and
// reason codes interned. Loaded once from the DuckDB database; every replay then runs in memory.
import type {ShadowDb} from '../analytics/db.js'
import {labelCondition} from '../analytics/provenance.js'
import {sqlString} from '../analytics/schema.js'
import {OVERAGE_POLICIES, type OveragePolicy, type Tier, type Unit} from '../protocol/types.js'

export const KIND = {reserve: 0, dryRun: 1, decide: 2, commit: 3, release: 4, event: 5, extend: 6} as const
export type KindCode = (typeof KIND)[keyof typeof KIND]

/** Reason codes the replay can produce, by index (0: none). */
export const REASONS = [
  '',
  'BUDGET_EXCEEDED',
  'BUDGET_FROZEN',
  'BUDGET_CLOSED',
  'BUDGET_NOT_FOUND',
  'OVERDRAFT_LIMIT_EXCEEDED',
  'DEBT_OUTSTANDING',
  'TENANT_CLOSED',
  'UNIT_MISMATCH',
] as const
export const reasonIndex = (code: string | undefined): number => {
  if (!code) return 0
  const i = (REASONS as readonly string[]).indexOf(code)
  return i < 0 ? REASONS.length : i
}

export const TIER_CODES: readonly Tier[] = ['low', 'medium', 'high']

/** One distinct (tenant, scope_path, unit): the scopes its records affect, root first. */
export interface ScopeGroup {
  tenant: string
  scope_path: string
  unit: Unit
  affected: string[]
}

export interface ReplayLog {
  n: number
  kind: Uint8Array
  /** 1 when the daemon answered 2xx. */
  ok: Uint8Array
  group: Int32Array
  estimate: Float64Array
  actual: Float64Array
  /** Reservation index (commit/release/extend link to their reserve), -1 when absent. */
  res: Int32Array
  /** Index into OVERAGE_POLICIES + 1; 0 when the record does not say (older logs). */
  policy: Uint8Array
  /** A commit or release answered RESERVATION_EXPIRED: the hold had been returned by expiry. */
  expired: Uint8Array
  tier: Uint8Array
  /** What the daemon logged: would-be DENY, its reason (REASONS index) and the denying scope's position in the group's affected scopes (-1: none). */
  loggedDeny: Uint8Array
  loggedReason: Uint8Array
  loggedDeniedLevel: Int8Array
  /** Logged would_decision was ALLOW or a reason was given: the record was evaluated (a 400 before evaluation was not). */
  evaluated: Uint8Array
  groups: ScopeGroup[]
  /** Per record: index of (action_kind, action_name) in `actions`. */
  action: Int32Array
  actions: Array<{kind: string; name: string}>
  /** Per record: run index (-1: no run_id), for the small-sample per-run rule. */
  run: Int32Array
  window: {from: string | null; to: string | null}
}

export type Typed = Uint8Array | Int8Array | Int32Array | Float64Array
export type TypedCtor<T extends Typed> = {new (buffer: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number}

/** A typed array of n elements in shared memory (zero-filled): the log's columns are, so the search's worker threads read them without a copy. */
export function sharedArray<T extends Typed>(Ctor: TypedCtor<T>, n: number): T {
  return new Ctor(new SharedArrayBuffer(Math.max(1, n) * Ctor.BYTES_PER_ELEMENT)).subarray(0, n) as T
}

export interface LogFilter {
  since?: string
  until?: string
  tenant?: string
  /** Only records of files ingested under one of these labels (analytics/provenance.ts). */
  labels?: string[]
}

function timeArg(value: string, flag: string): string {
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) throw new Error(`${flag}: not a date/time: ${value}`)
  return `${sqlString(new Date(ms).toISOString().replace('Z', ''))}::TIMESTAMP`
}

export function filterSql(f: LogFilter, alias = ''): string {
  const where: string[] = []
  if (f.since) where.push(`${alias}ts >= ${timeArg(f.since, '--since')}`)
  if (f.until) where.push(`${alias}ts < ${timeArg(f.until, '--until')}`)
  if (f.tenant) where.push(`${alias}tenant = ${sqlString(f.tenant)}`)
  if (f.labels && f.labels.length > 0) where.push(labelCondition(f.labels, alias))
  return where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
}

/** The records a replay reads: the filter, and reservation-path endpoints with a unit and a scope. */
function replayCondition(f: LogFilter, alias = ''): string {
  const where = filterSql(f, alias)
  return `${where ? `${where} AND` : 'WHERE'} ${alias}unit IS NOT NULL AND ${alias}scope_path IS NOT NULL
      AND ${alias}endpoint IN ('reserve', 'decide', 'commit', 'release', 'extend', 'event')`
}

const iso = (v: unknown): string | null => (v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : `${String(v).replace(' ', 'T')}Z`)

/**
 * Load the filtered records in log order: small dictionaries (scope groups, actions) first, then one
 * ordered scan of the record columns the replay reads, with the small codes packed into one integer
 * per record. Runs and reservations are numbered in no particular order: the replay only matches
 * them for equality, so hashing beats sorting 10 M identifiers.
 */
export async function loadReplayLog(db: ShadowDb, filter: LogFilter = {}): Promise<ReplayLog> {
  const cond = replayCondition(filter)
  const policyList = `[${OVERAGE_POLICIES.map((p) => sqlString(p)).join(', ')}]`
  const reasonList = `[${REASONS.slice(1).map((r) => sqlString(r)).join(', ')}]`
  await db.run(`CREATE OR REPLACE TEMP TABLE rp_groups AS
    SELECT (row_number() OVER (ORDER BY tenant, scope_path, unit) - 1)::INTEGER AS g, tenant, scope_path, unit
    FROM (SELECT DISTINCT tenant, scope_path, unit FROM records ${cond})`)
  await db.run(`CREATE OR REPLACE TEMP TABLE rp_actions AS
    SELECT (row_number() OVER (ORDER BY k, nm) - 1)::INTEGER AS a, k, nm
    FROM (SELECT DISTINCT coalesce(action_kind, '') AS k, coalesce(action_name, '') AS nm FROM records ${cond})`)
  await db.run(`CREATE OR REPLACE TEMP TABLE rp_runs AS
    SELECT (row_number() OVER () - 1)::INTEGER AS u, run_id FROM (SELECT DISTINCT run_id FROM records ${cond} AND run_id IS NOT NULL)`)
  await db.run(`CREATE OR REPLACE TEMP TABLE rp_res AS
    SELECT (row_number() OVER () - 1)::INTEGER AS r, reservation_id FROM (SELECT DISTINCT reservation_id FROM records ${cond} AND reservation_id IS NOT NULL)`)
  const groups = (await db.all<{tenant: string; scope_path: string; unit: Unit}>(`SELECT tenant, scope_path, unit FROM rp_groups ORDER BY g`)).map((g) => {
    const parts = g.scope_path.split('/')
    return {...g, affected: parts.map((_, i) => parts.slice(0, i + 1).join('/'))}
  })
  const actions = (await db.all<{k: string; nm: string}>(`SELECT k, nm FROM rp_actions ORDER BY a`)).map((a) => ({kind: a.k, name: a.nm}))
  const [{n, lo, hi}] = await db.all<{n: number; lo: unknown; hi: unknown}>(`SELECT count(*)::DOUBLE AS n, min(ts) AS lo, max(ts) AS hi FROM records ${cond}`)
  const log: ReplayLog = {
    n,
    kind: sharedArray(Uint8Array, n),
    ok: sharedArray(Uint8Array, n),
    group: sharedArray(Int32Array, n),
    estimate: sharedArray(Float64Array, n),
    actual: sharedArray(Float64Array, n),
    res: sharedArray(Int32Array, n),
    policy: sharedArray(Uint8Array, n),
    expired: sharedArray(Uint8Array, n),
    tier: sharedArray(Uint8Array, n),
    loggedDeny: sharedArray(Uint8Array, n),
    loggedReason: sharedArray(Uint8Array, n),
    loggedDeniedLevel: sharedArray(Int8Array, n),
    evaluated: sharedArray(Uint8Array, n),
    groups,
    action: sharedArray(Int32Array, n),
    actions,
    run: sharedArray(Int32Array, n),
    window: {from: iso(lo), to: iso(hi)},
  }
  // flags: kind (bits 0-2), ok (3), expired (4), tier (5-6), logged DENY (7), evaluated (8),
  // policy (9-10), logged reason (11-14), logged denied level + 1 (16-23)
  // Joined without order into a narrow temp table first (DuckDB can spill it), then streamed in log
  // order: one statement doing both ran out of DuckDB's memory limit at 10 M records.
  await db.run(`CREATE OR REPLACE TEMP TABLE rp_rows AS
    SELECT
      ((CASE s.endpoint WHEN 'reserve' THEN (CASE WHEN s.dry_run THEN 1 ELSE 0 END) WHEN 'decide' THEN 2 WHEN 'commit' THEN 3
          WHEN 'release' THEN 4 WHEN 'event' THEN 5 ELSE 6 END)
       + (CASE WHEN s.http_status BETWEEN 200 AND 299 THEN 8 ELSE 0 END)
       + (CASE WHEN s.reason_code = 'RESERVATION_EXPIRED' THEN 16 ELSE 0 END)
       + (CASE s.tier WHEN 'low' THEN 0 WHEN 'medium' THEN 32 ELSE 64 END)
       + (CASE WHEN s.would_decision = 'DENY' THEN 128 ELSE 0 END)
       + (CASE WHEN s.would_decision <> 'DENY' OR s.would_reason_code IS NOT NULL THEN 256 ELSE 0 END)
       + coalesce(list_position(${policyList}, s.overage_policy), 0) * 512
       + (CASE WHEN s.would_reason_code IS NULL THEN 0 ELSE coalesce(list_position(${reasonList}, s.would_reason_code), ${REASONS.length - 1}) END) * 2048
       + (CASE WHEN s.denied_scope IS NULL THEN 0 ELSE len(string_split(s.denied_scope, '/')) END) * 65536)::INTEGER AS flags,
      g.g AS grp,
      coalesce(s.estimate, 0)::DOUBLE AS estimate,
      coalesce(s.actual, 0)::DOUBLE AS actual,
      coalesce(r.r, -1)::INTEGER AS res,
      a.a AS action,
      coalesce(u.u, -1)::INTEGER AS run,
      s.ts, s.seq, s.file_id, s.rowid AS row_in_file
    FROM records s
    JOIN rp_groups g ON g.tenant = s.tenant AND g.scope_path = s.scope_path AND g.unit = s.unit
    JOIN rp_actions a ON a.k = coalesce(s.action_kind, '') AND a.nm = coalesce(s.action_name, '')
    LEFT JOIN rp_res r ON r.reservation_id = s.reservation_id
    LEFT JOIN rp_runs u ON u.run_id = s.run_id
    ${replayCondition(filter, 's.')}`)
  const result = await db.conn.stream(`SELECT flags, grp, estimate, actual, res, action, run FROM rp_rows ORDER BY ts, seq NULLS FIRST, file_id, row_in_file`)
  let i = 0
  for (;;) {
    const chunk = await result.fetchChunk()
    if (!chunk || chunk.rowCount === 0) break
    const rows = chunk.rowCount
    const [flags, grp, estimate, actual, res, action, run] = [0, 1, 2, 3, 4, 5, 6].map((c) => chunk.getColumnVector(c))
    for (let j = 0; j < rows; j++, i++) {
      const f = flags.getItem(j) as number
      log.kind[i] = f & 7
      log.ok[i] = (f >> 3) & 1
      log.expired[i] = (f >> 4) & 1
      log.tier[i] = (f >> 5) & 3
      log.loggedDeny[i] = (f >> 7) & 1
      log.evaluated[i] = (f >> 8) & 1
      log.policy[i] = (f >> 9) & 3
      log.loggedReason[i] = (f >> 11) & 15
      log.loggedDeniedLevel[i] = ((f >> 16) & 255) - 1
      log.group[i] = grp.getItem(j) as number
      log.estimate[i] = estimate.getItem(j) as number
      log.actual[i] = actual.getItem(j) as number
      log.res[i] = res.getItem(j) as number
      log.action[i] = action.getItem(j) as number
      log.run[i] = run.getItem(j) as number
    }
  }
  await db.run('DROP TABLE rp_rows')
  if (i !== n) throw new Error(`replay log: expected ${n} records, read ${i}`)
  return log
}

export const policyOf = (code: number): OveragePolicy | undefined => (code > 0 ? OVERAGE_POLICIES[code - 1] : undefined)
