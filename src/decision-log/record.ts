// Decision log record, schema v1 and v2: the contract between the daemon (and the simulator) and the
// analyzer. Documented in the README; change it only with a new `v`.
//
// v2 is v1 plus the hash chain: `prev_hash` and `hash` as the last two members of the line, sealed
// by the writer (src/decision-log/chain.ts with src/integrity/chain.ts). Records are built as v1;
// the daemon's writer turns them into v2 lines as it writes them. Ingest reads both.
import type {Action, Caps, Decision, Mode, OveragePolicy, Subject, Tier, Unit} from '../protocol/types.js'

export const DECISION_LOG_SCHEMA_VERSION = 1
/** Schema versions `cycles shadow ingest` reads. */
export const INGESTED_SCHEMA_VERSIONS: readonly number[] = [1, 2]

export type DecisionEndpoint = 'reserve' | 'decide' | 'commit' | 'release' | 'extend' | 'event'
export const DECISION_ENDPOINTS: readonly DecisionEndpoint[] = ['reserve', 'decide', 'commit', 'release', 'extend', 'event']

export interface DecisionRecord {
  /** 1 as built; 2 in a chained log (then `prev_hash` and `hash` follow as the last members). */
  v: 1 | 2
  /** UUID, unique per record; ingest de-duplicates on it. */
  id: string
  /** ISO-8601 UTC with milliseconds. */
  ts: string
  endpoint: DecisionEndpoint
  request_id: string
  trace_id: string
  tenant: string
  dry_run: boolean
  /** The mode this request got: the kill switch, the tier's mode and, inside an enforce tier, the ramp. */
  mode: Mode
  tier: Tier
  /**
   * Optional (added with the enforcement ramp; older logs lack it): the tier's enforce_percent (0–100)
   * when the request was decided; on commit, release and extend records, the reservation's.
   */
  enforce_percent?: number
  subject?: Subject
  scope_path?: string
  affected_scopes?: string[]
  run_id?: string
  parent_run_id?: string
  action?: Pick<Action, 'kind' | 'name'>
  unit?: Unit
  estimate?: number
  actual?: number
  reservation_id?: string
  /** What the daemon answered: ALLOW, ALLOW_WITH_CAPS or DENY (4xx/409 answers are DENY). */
  decision: Decision
  /** Reason on a DENY, or the error code of a 4xx/5xx answer. */
  reason_code?: string
  /** What full enforcement would have answered, from the shadow ledger. */
  would_decision: Decision
  would_reason_code?: string
  /** First failing scope of the would-be denial. */
  denied_scope?: string
  http_status: number
  latency_us: number
  /** Set when the budget store was unreachable and this answer is the outage fallback (on_store_error). */
  store_error?: string
  /**
   * Optional (added for calibration replay; older logs lack it): the overage policy in force — the
   * reservation's resolved policy on live reserve, commit, release and extend records, the request's on events.
   */
  overage_policy?: OveragePolicy
  /** Optional: the writer's record sequence number (increasing within one process), to order records of one millisecond. */
  seq?: number
  /**
   * Optional (v0.1.26 observe mode; older logs lack it): OBSERVE when the request was evaluated as
   * observed (per request or per tenant) — answered as a dry-run, nothing held or counted. `mode`
   * still says what the tier gave it: tiers decide which actions are enforced, observe mode which tenants.
   */
  observe_mode?: 'OBSERVE'
  /** Optional: the policy that governed the request (its denial, quotas, caps or limits), when one did. */
  policy_id?: string
  /** Optional (v0.1.26 observe mode): the caps of an observed ALLOW_WITH_CAPS (reservation.observed_allowed's caps_applied). */
  caps?: Caps
  /** v2: the previous record's hash (64 zeros for the first record of the instance's chain). */
  prev_hash?: string
  /** v2: SHA-256 of the line up to and with prev_hash (src/integrity/chain.ts). */
  hash?: string
}

/** run_id / parent_run_id from subject.dimensions, else metadata. */
export function runIds(subject: Subject | undefined, metadata: Record<string, unknown> | undefined): {run_id?: string; parent_run_id?: string} {
  const d = subject?.dimensions
  const run = d?.run_id ?? (typeof metadata?.run_id === 'string' ? metadata.run_id : undefined)
  const parent = d?.parent_run_id ?? (typeof metadata?.parent_run_id === 'string' ? metadata.parent_run_id : undefined)
  return {...(run ? {run_id: run} : {}), ...(parent ? {parent_run_id: parent} : {})}
}

/** The parts of a record a request handler knows; the transport adds ids, status and timing. */
export type RecordFacts = Omit<DecisionRecord, 'v' | 'id' | 'ts' | 'request_id' | 'trace_id' | 'tenant' | 'http_status' | 'latency_us'>

export interface RecordEnvelope {
  id: string
  ts_ms: number
  request_id: string
  trace_id: string
  tenant: string
  http_status: number
  latency_us: number
  /** Optional record sequence number (see DecisionRecord.seq). */
  seq?: number
}

// Thousands of records share one millisecond under load: format each millisecond once.
let lastTsMs = Number.NaN
let lastTs = ''
function isoOf(ms: number): string {
  if (ms !== lastTsMs) {
    lastTs = new Date(ms).toISOString()
    lastTsMs = ms
  }
  return lastTs
}

/** The one place a schema-v1 record is assembled (daemon and simulator alike). */
export function buildDecisionRecord(facts: RecordFacts, e: RecordEnvelope): DecisionRecord {
  return {
    v: 1,
    id: e.id,
    ts: isoOf(e.ts_ms),
    ...facts,
    request_id: e.request_id,
    trace_id: e.trace_id,
    tenant: e.tenant,
    http_status: e.http_status,
    latency_us: e.latency_us,
    ...(e.seq === undefined ? {} : {seq: e.seq}),
  }
}

/**
 * Answers that count as a budget denial (other 4xx answers are the caller's mistakes, not decisions):
 * the admin overview's denials and the per-tier statistics the guard and rollout gates read.
 */
export const BUDGET_DENIAL_REASONS: ReadonlySet<string> = new Set([
  'BUDGET_EXCEEDED',
  'BUDGET_FROZEN',
  'BUDGET_CLOSED',
  'OVERDRAFT_LIMIT_EXCEEDED',
  'DEBT_OUTSTANDING',
  'TENANT_CLOSED',
  'BUDGET_NOT_FOUND',
  'NOT_FOUND',
])

/**
 * Policy refusals (v0.1.26 access lists and quotas, the approval gate): traffic refused like a budget
 * denial, so a limit set too tight shows in the tier figures, the overview and the denial-rate spike.
 */
export const POLICY_DENIAL_REASON_CODES = ['ACTION_KIND_DENIED', 'ACTION_KIND_NOT_ALLOWED', 'ACTION_QUOTA_EXCEEDED', 'APPROVAL_REQUIRED'] as const
export const POLICY_DENIAL_REASONS: ReadonlySet<string> = new Set(POLICY_DENIAL_REASON_CODES)

/**
 * A budget or policy denial (a decision, not the caller's mistake). LIMIT_EXCEEDED counts only with a
 * policy behind it (a policy's rate limit); the daemon's own capacity 429 is no decision.
 */
export function isDenialReason(reason: string | undefined, policyId: string | undefined): boolean {
  if (reason === undefined) return false
  return BUDGET_DENIAL_REASONS.has(reason) || POLICY_DENIAL_REASONS.has(reason) || (reason === 'LIMIT_EXCEEDED' && policyId !== undefined)
}
