// What the runtime answers while the store is unreachable (config `on_store_error`): an admission
// (reserve, decide, event) in a shadow tier is admitted and logged with `store_error`; in an
// enforce tier it follows the tier's setting (deny = 503 INTERNAL_ERROR). A live reservation
// admitted that way gets an `unrecorded_…` id carrying what its commit/release/extend need, since
// the store never saw it; those are answered from the id alone.
// Policies still apply from the set last loaded (policy-stage.ts policyStageWithoutStore): access
// lists and the approval gate (fails closed) deny whatever on_store_error says; quota and rate
// counters cannot be read, so such requests follow on_store_error like the budgets.
import type {RecordFacts} from '../decision-log/record.js'
import {liveErrorFor} from '../evaluator/evaluate.js'
import {type StageDenial, accessControlStage, policyStageWithoutStore} from '../evaluator/policy-stage.js'
import type {PolicySet} from '../policies/policy-set.js'
import {ProtocolError} from '../protocol/errors.js'
import {
  type EventCreateRequest,
  type ReservationCreateRequest,
  commitRequest,
  decisionRequest,
  decisionRequestV26,
  eventCreateRequest,
  extendRequest,
  parseRequest,
  releaseRequest,
  reservationCreateRequest,
  reservationCreateRequestV26,
} from '../protocol/requests.js'
import type {Action, Amount, Mode, Tier, Unit} from '../protocol/types.js'
import {baseFacts, checkHeaderKey, scopesFor, withContext} from './request-facts.js'
import type {CallContext, ServiceResponse} from './runtime-service.js'
import {shadowHeaders} from './wire.js'

export const UNRECORDED = 'unrecorded_'
const DEFAULT_TTL_MS = 60_000
const DEFAULT_MAX_TTL_MS = 3_600_000

export interface OutageDeps {
  tierOf(action: Action): {tier: Tier; mode: Mode}
  /** The request's mode after the enforcement ramp (RuntimeCore.modeOfRequest). */
  modeOfRequest(tenant: string, tier: Tier, run_id: string | undefined, scope_path: string): {mode: Mode; enforce_percent: number}
  onStoreError(tier: Tier): 'deny' | 'allow'
  /** The policies as last loaded (undefined when none ever were: then only on_store_error decides). */
  lastKnownPolicies(): PolicySet | undefined
  now(): number
  newId(): string
}

const STORE_HEADER = {'X-Cycles-Store': 'unavailable'}

export class StoreOutageFallback {
  constructor(private readonly deps: OutageDeps) {}

  admit(endpoint: 'reserve' | 'decide' | 'event', ctx: CallContext, raw: unknown, reason: string): ServiceResponse {
    const v26 = ctx.wireVersion === '0.1.26'
    const req =
      endpoint === 'reserve'
        ? parseRequest(v26 ? reservationCreateRequestV26 : reservationCreateRequest, raw)
        : endpoint === 'decide'
          ? parseRequest(v26 ? decisionRequestV26 : decisionRequest, raw)
          : parseRequest(eventCreateRequest, raw)
    const amount: Amount = 'estimate' in req ? req.estimate : (req as EventCreateRequest).actual
    // A v0.1.26 request's own observe_mode is a dry-run (the tenant's cannot be read now).
    const observed = endpoint === 'reserve' && (req as ReservationCreateRequest).observe_mode === 'OBSERVE'
    const dryRun = endpoint === 'reserve' && (((req as ReservationCreateRequest).dry_run ?? false) || observed)
    const {tier, mode: tierMode} = this.deps.tierOf(req.action)
    const facts = baseFacts(endpoint, req.subject, req.action, req.metadata, {tier, mode: tierMode, dry_run: (req as ReservationCreateRequest).dry_run ?? false})
    facts.unit = amount.unit
    if (endpoint === 'event') facts.actual = amount.amount
    else facts.estimate = amount.amount
    const scopes = scopesFor(ctx, req.subject, facts)
    Object.assign(facts, scopes)
    const {mode, enforce_percent} = this.deps.modeOfRequest(ctx.tenant, tier, facts.run_id, scopes.scope_path)
    facts.mode = mode
    facts.enforce_percent = enforce_percent
    facts.store_error = reason
    if (observed) facts.observe_mode = 'OBSERVE'

    const denial = this.policyDenial(endpoint, ctx, req.action, scopes, facts)
    if (denial) {
      Object.assign(facts, {would_decision: 'DENY', would_reason_code: denial.reason_code, denied_scope: denial.detail.blocked_by_scope})
      // Non-persisting answers are the evaluation's, whatever the tier; a persisting one is refused when enforced.
      if (endpoint === 'decide' || dryRun) return this.deniedEvaluation(endpoint, v26, denial, scopes, facts)
      if (mode === 'enforce') return this.refused(endpoint, ctx, denial, facts)
    }
    if (mode === 'enforce' && this.deps.onStoreError(tier) === 'deny') {
      const error = new ProtocolError('INTERNAL_ERROR', 'Budget store unavailable; retry with the same idempotency_key', undefined, 503)
      error.context = {...facts, decision: 'DENY', reason_code: 'INTERNAL_ERROR'}
      throw error
    }
    facts.decision = 'ALLOW'
    if (!denial) facts.would_decision = 'ALLOW'
    const headers = {...STORE_HEADER, ...shadowHeaders(facts)}
    if (endpoint === 'event') return {status: 201, body: JSON.stringify({status: 'APPLIED', event_id: this.deps.newId()}), headers, record: facts}
    if (endpoint === 'decide') return {status: 200, body: JSON.stringify({decision: 'ALLOW', affected_scopes: scopes.affected_scopes}), headers, record: facts}
    const body: Record<string, unknown> = {decision: 'ALLOW'}
    if (!dryRun) {
      const r = req as ReservationCreateRequest
      const ttl = Math.min(r.ttl_ms ?? DEFAULT_TTL_MS, DEFAULT_MAX_TTL_MS)
      const expires = this.deps.now() + ttl
      const id = `${UNRECORDED}${mode[0]}${tier[0]}_${amount.unit}_${amount.amount}_${expires}_${this.deps.newId()}`
      body.reservation_id = id
      body.affected_scopes = scopes.affected_scopes
      body.expires_at_ms = expires
      body.remaining_ttl_ms = ttl
      facts.reservation_id = id
    } else body.affected_scopes = scopes.affected_scopes
    body.scope_path = scopes.scope_path
    body.reserved = amount
    return {status: 200, body: JSON.stringify(body), headers, record: facts}
  }

  /**
   * The denial the last loaded policies give without the store (access lists; an approval, failing
   * closed). Events get access control only, as when the store answers. A request whose quota or
   * rate counters cannot be read is marked so in its record and left to on_store_error.
   */
  private policyDenial(endpoint: 'reserve' | 'decide' | 'event', ctx: CallContext, action: Action, scopes: {affected_scopes: string[]; scope_path: string}, facts: RecordFacts): StageDenial | undefined {
    const set = this.deps.lastKnownPolicies()
    if (!set) return undefined
    const input = {set, tenant: ctx.tenant, affected_scopes: scopes.affected_scopes, scope_path: scopes.scope_path, action, run_id: facts.run_id, nowMs: this.deps.now()}
    if (endpoint === 'event') {
      // Access lists only, the stage the event path uses when the store answers.
      const access = accessControlStage(input)
      if (access.selected) facts.policy_id = access.selected.policy.policy_id
      return access.denial
    }
    let result
    try {
      result = policyStageWithoutStore(input)
    } catch (error) {
      throw error instanceof ProtocolError ? withContext(error, facts) : error
    }
    const {stage, countersUnread} = result
    if (stage.selected) facts.policy_id = stage.selected.policy.policy_id
    const denial = stage.denial
    if (!denial && countersUnread) facts.store_error = `${facts.store_error}; quota and rate counters of policy ${stage.selected!.policy.policy_id} not checked`
    return denial
  }

  /** A dry-run or decide the policies deny: 200 DENY, as when the store answers (deny_detail for v0.1.26 clients). */
  private deniedEvaluation(endpoint: 'reserve' | 'decide' | 'event', v26: boolean, denial: StageDenial, scopes: {affected_scopes: string[]; scope_path: string}, facts: RecordFacts): ServiceResponse {
    facts.decision = 'DENY'
    facts.reason_code = denial.reason_code
    const body: Record<string, unknown> = {decision: 'DENY', reason_code: denial.reason_code, affected_scopes: scopes.affected_scopes}
    if (endpoint === 'reserve') body.scope_path = scopes.scope_path
    if (v26) body.deny_detail = denial.detail
    return {status: 200, body: JSON.stringify(body), headers: STORE_HEADER, record: facts}
  }

  /** An enforced live reserve or event the policies deny: 409 with the v0.1.26 code, as when the store answers. */
  private refused(endpoint: 'reserve' | 'decide' | 'event', ctx: CallContext, denial: StageDenial, facts: RecordFacts): ServiceResponse {
    const {code} = liveErrorFor(denial.reason_code)
    facts.decision = 'DENY'
    facts.reason_code = endpoint === 'reserve' && denial.reason_code === 'APPROVAL_REQUIRED' ? denial.reason_code : code
    const details = ctx.wireVersion === '0.1.26' ? {details: {deny_detail: denial.detail}} : {}
    const body = {error: code, message: denial.message, request_id: ctx.request_id, trace_id: ctx.trace_id, ...details}
    return {status: 409, body: JSON.stringify(body), headers: STORE_HEADER, record: facts}
  }

  /** Commit / release / extend of a reservation admitted while the store was down: never stored, so answered from its id. */
  answerUnrecorded(endpoint: 'commit' | 'release' | 'extend', ctx: CallContext, id: string, raw: unknown): ServiceResponse {
    const m = /^unrecorded_([se])([lmh])_([A-Z_]+?)_(\d+)_(\d+)_[0-9a-f-]+$/.exec(id)
    if (!m) throw new ProtocolError('NOT_FOUND', `Reservation ${id} not found`)
    const mode: Mode = m[1] === 's' ? 'shadow' : 'enforce'
    const tier = ({l: 'low', m: 'medium', h: 'high'} as const)[m[2] as 'l' | 'm' | 'h']
    const reserved: Amount = {unit: m[3] as Unit, amount: Number(m[4])}
    const expires = Number(m[5])
    const facts: RecordFacts = {
      endpoint,
      dry_run: false,
      mode,
      tier,
      subject: {tenant: ctx.tenant},
      unit: reserved.unit,
      estimate: reserved.amount,
      reservation_id: id,
      decision: 'ALLOW',
      would_decision: 'ALLOW',
      store_error: 'reservation admitted while the budget store was unavailable; not recorded',
    }
    let body: Record<string, unknown>
    if (endpoint === 'commit') {
      const req = parseRequest(commitRequest, raw)
      checkHeaderKey(ctx, req.idempotency_key)
      if (req.actual.unit !== reserved.unit) throw new ProtocolError('UNIT_MISMATCH', `actual.unit ${req.actual.unit} does not match reservation unit ${reserved.unit}`)
      facts.actual = req.actual.amount
      body = {status: 'COMMITTED', charged: req.actual}
    } else if (endpoint === 'release') {
      const req = parseRequest(releaseRequest, raw)
      checkHeaderKey(ctx, req.idempotency_key)
      body = {status: 'RELEASED', released: reserved}
    } else {
      const req = parseRequest(extendRequest, raw)
      checkHeaderKey(ctx, req.idempotency_key)
      const next = expires + req.extend_by_ms
      body = {status: 'ACTIVE', expires_at_ms: next, remaining_ttl_ms: Math.max(0, next - this.deps.now())}
    }
    return {status: 200, body: JSON.stringify(body), headers: {'X-Cycles-Store': 'unrecorded'}, record: facts}
  }
}
