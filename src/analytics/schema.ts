// How a schema-v1 decision record (src/decision-log/record.ts) is read: the explicit column list
// for DuckDB's JSON reader, and the validity rule a line must pass to be ingested. The same rule
// exists twice — as SQL (decides) and as TypeScript (explains why a quarantined line failed).
import {DECISION_ENDPOINTS, INGESTED_SCHEMA_VERSIONS} from '../decision-log/record.js'
import {DECISIONS, UNITS} from '../protocol/types.js'

/** Columns handed to read_json(..., columns = {...}); fields not listed are ignored. */
export const JSON_COLUMNS: Record<string, string> = {
  v: 'INTEGER',
  id: 'VARCHAR',
  ts: 'TIMESTAMP',
  endpoint: 'VARCHAR',
  tenant: 'VARCHAR',
  dry_run: 'BOOLEAN',
  mode: 'VARCHAR',
  tier: 'VARCHAR',
  scope_path: 'VARCHAR',
  run_id: 'VARCHAR',
  parent_run_id: 'VARCHAR',
  action: 'STRUCT(kind VARCHAR, name VARCHAR)',
  unit: 'VARCHAR',
  estimate: 'BIGINT',
  actual: 'BIGINT',
  decision: 'VARCHAR',
  reason_code: 'VARCHAR',
  would_decision: 'VARCHAR',
  would_reason_code: 'VARCHAR',
  denied_scope: 'VARCHAR',
  http_status: 'INTEGER',
  latency_us: 'BIGINT',
  // Read for the calibration replay (optional in records; older logs lack the last two).
  reservation_id: 'VARCHAR',
  overage_policy: 'VARCHAR',
  seq: 'BIGINT',
  // The policy that governed a request (v0.1.26 policies; older logs lack it): denials by rule.
  policy_id: 'VARCHAR',
}

export const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`
const list = (values: readonly string[]) => values.map((v) => sqlString(v)).join(', ')

export function columnsLiteral(): string {
  return `{${Object.entries(JSON_COLUMNS)
    .map(([k, t]) => `${k}: ${sqlString(t)}`)
    .join(', ')}}`
}

/** The read_json call for one file or several (compression detected from the extension); `filename` adds the source path as a column. */
export function readJsonSql(files: string | string[], options: {filename?: boolean} = {}): string {
  const list = typeof files === 'string' ? sqlString(files) : `[${files.map((f) => sqlString(f)).join(', ')}]`
  return `read_json(${list}, format = 'newline_delimited', columns = ${columnsLiteral()}, ignore_errors = true, maximum_object_size = 16777216${options.filename ? ', filename = true' : ''})`
}

/** Select list mapping read_json's columns to the records table (after file_id, line). */
export const SELECT_COLUMNS =
  'id, ts, endpoint, tenant, dry_run, mode, tier, scope_path, run_id, parent_run_id, ' +
  'action.kind, action.name, unit, estimate, actual, decision, reason_code, would_decision, ' +
  'would_reason_code, denied_scope, http_status, latency_us, reservation_id, overage_policy, seq, policy_id'

/** A row that is a valid schema-v1 record (records table, or read_json output with `v = 1` added). */
export const VALID_SQL = `(
  id IS NOT NULL AND id <> '' AND ts IS NOT NULL AND tenant IS NOT NULL AND dry_run IS NOT NULL AND http_status IS NOT NULL
  AND endpoint IN (${list(DECISION_ENDPOINTS)})
  AND mode IN ('shadow', 'enforce') AND tier IN ('low', 'medium', 'high')
  AND decision IN (${list(DECISIONS)}) AND would_decision IN (${list(DECISIONS)})
  AND (unit IS NULL OR unit IN (${list(UNITS)}))
  AND coalesce(estimate, 0) >= 0 AND coalesce(actual, 0) >= 0
  AND (endpoint NOT IN ('reserve', 'decide', 'commit', 'release', 'extend') OR (unit IS NOT NULL AND estimate IS NOT NULL))
  AND (endpoint NOT IN ('commit', 'event') OR (unit IS NOT NULL AND actual IS NOT NULL))
)`

const isInt = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x)
const isStr = (x: unknown) => typeof x === 'string'

/** Why a line is not a usable schema-v1 record (empty list: it is one). */
export function recordProblems(raw: string): string[] {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch (error) {
    return [`not valid JSON (${(error as Error).message.replace(/^JSON\.parse: /, '')})`]
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return ['not a JSON object']
  const r = value as Record<string, unknown>
  const problems: string[] = []
  if (!INGESTED_SCHEMA_VERSIONS.includes(r.v as number)) problems.push(r.v === undefined ? 'missing v' : `unsupported schema version v=${JSON.stringify(r.v)}`)
  for (const key of ['id', 'ts', 'tenant']) if (!isStr(r[key]) || r[key] === '') problems.push(`missing or non-string ${key}`)
  if (isStr(r.ts) && Number.isNaN(Date.parse(r.ts as string))) problems.push(`ts is not a timestamp: ${JSON.stringify(r.ts)}`)
  if (typeof r.dry_run !== 'boolean') problems.push('missing or non-boolean dry_run')
  if (!isInt(r.http_status)) problems.push('missing or non-integer http_status')
  if (!(DECISION_ENDPOINTS as readonly unknown[]).includes(r.endpoint)) problems.push(`unknown endpoint ${JSON.stringify(r.endpoint)}`)
  if (r.mode !== 'shadow' && r.mode !== 'enforce') problems.push(`bad mode ${JSON.stringify(r.mode)}`)
  if (!['low', 'medium', 'high'].includes(r.tier as string)) problems.push(`bad tier ${JSON.stringify(r.tier)}`)
  if (!(DECISIONS as readonly unknown[]).includes(r.decision)) problems.push(`bad decision ${JSON.stringify(r.decision)}`)
  if (!(DECISIONS as readonly unknown[]).includes(r.would_decision)) problems.push(`bad would_decision ${JSON.stringify(r.would_decision)}`)
  if (r.unit !== undefined && !(UNITS as readonly unknown[]).includes(r.unit)) problems.push(`unknown unit ${JSON.stringify(r.unit)}`)
  for (const key of ['estimate', 'actual']) {
    if (r[key] !== undefined && (!isInt(r[key]) || (r[key] as number) < 0)) problems.push(`${key} is not a non-negative integer: ${JSON.stringify(r[key])}`)
  }
  const needsEstimate = ['reserve', 'decide', 'commit', 'release', 'extend'].includes(r.endpoint as string)
  if (needsEstimate && (r.unit === undefined || r.estimate === undefined)) problems.push(`${String(r.endpoint)} record without unit/estimate`)
  if ((r.endpoint === 'commit' || r.endpoint === 'event') && (r.unit === undefined || r.actual === undefined)) problems.push(`${String(r.endpoint)} record without unit/actual`)
  return problems.length > 0 ? problems : ['rejected by the JSON reader (a field has the wrong type)']
}
