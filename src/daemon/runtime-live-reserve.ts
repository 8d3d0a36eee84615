// The live reserve transaction: an enforced denial answered with its error, or the reservation, its
// ledger holds, policy counters and idempotency record written in one atomic transaction.
import {runIds} from '../decision-log/record.js'
import {admissionConditions, liveErrorFor} from '../evaluator/evaluate.js'
import {unconditionalHold} from '../evaluator/real-book.js'
import {holdDeltas} from '../evaluator/shadow-book.js'
import {ProtocolError} from '../protocol/errors.js'
import {type ReservationCreateRequest} from '../protocol/requests.js'
import {type Book, type Decision, type Ledger, type Reservation} from '../protocol/types.js'
import type {Condition, LedgerDelta, Tx} from '../store/types.js'
import {
  DEFAULT_TTL_MS,
  DEFAULT_MAX_TTL_MS,
  DEFAULT_MAX_EXTENSIONS,
  IDEMPOTENCY_TTL_MS,
  type CallContext,
  type ServiceResponse,
  type RuntimeCore,
  projectLedgers,
} from './runtime-core.js'
import type {Admitted} from './runtime-admission.js'
import {jsonWithBalances} from './wire.js'
import {denyDetailOf, policyWrites} from '../evaluator/policy-stage.js'

export async function liveReserve(
  core: RuntimeCore,
  ctx: CallContext,
  req: ReservationCreateRequest,
  admitted: Admitted,
): Promise<ServiceResponse | 'retry' | 'replay'> {
  const {tier, mode, tenant, real, realEval, shadowEval, stage, scopes, idemKey, hash, facts} = admitted
  const enforce = mode === 'enforce'
  if (enforce) {
    if (real.unitMismatch && !stage.denial) throw core.unitMismatch(real, req.estimate.unit, facts)
    if (realEval.decision === 'DENY') return liveDenial(core, ctx, req, admitted)
  }
  const policy = stage.selected?.policy
  // Shadow mode holds on the real book too, without admission conditions (evaluator/real-book.ts).
  const budgetedReal = real.ledgers.filter((l): l is Ledger => l !== undefined)
  const realHold = enforce ? undefined : shadowRealHold(budgetedReal, req.estimate.amount)
  const now = core.now()
  // A policy's reservation_ttl_override and commit_overage_policy override the tenant's defaults (admin spec).
  const ttlOverride = policy?.reservation_ttl_override
  const ttl = Math.min(
    req.ttl_ms ?? ttlOverride?.default_ttl_ms ?? tenant?.default_reservation_ttl_ms ?? DEFAULT_TTL_MS,
    ttlOverride?.max_ttl_ms ?? tenant?.max_reservation_ttl_ms ?? DEFAULT_MAX_TTL_MS,
  )
  const perRun = stage.counters.filter((c) => c.per_run).map((c) => c.id)
  const reservation: Reservation = {
    reservation_id: core.newId(),
    tenant: ctx.tenant,
    status: 'ACTIVE',
    subject: req.subject,
    action: req.action,
    reserved: req.estimate,
    scope_path: scopes.scope_path,
    affected_scopes: scopes.affected_scopes,
    real_scopes: enforce ? realEval.budgeted : realHold!.scopes,
    ...(realHold?.partial ? {real_held: realHold.held} : {}),
    shadow_scopes: shadowEval.decision === 'DENY' ? [] : shadowEval.budgeted,
    mode,
    tier,
    ...(facts.enforce_percent === undefined ? {} : {enforce_percent: facts.enforce_percent}),
    idempotency_key: req.idempotency_key,
    overage_policy: req.overage_policy ?? policy?.commit_overage_policy ?? tenant?.default_commit_overage_policy ?? 'ALLOW_IF_AVAILABLE',
    created_at_ms: now,
    expires_at_ms: now + ttl,
    ttl_ms: ttl,
    grace_period_ms: req.grace_period_ms,
    extension_count: 0,
    max_extensions: ttlOverride?.max_extensions ?? tenant?.max_reservation_extensions ?? DEFAULT_MAX_EXTENSIONS,
    ...(req.metadata ? {metadata: req.metadata} : {}),
    ...runIds(req.subject, req.metadata),
    would_decision: facts.would_decision,
    ...(facts.would_reason_code ? {would_reason_code: facts.would_reason_code} : {}),
    ...(perRun.length > 0 ? {per_run_counters: perRun} : {}),
  }
  facts.overage_policy = reservation.overage_policy
  const hold = (book: Book, scopesHeld: string[]): LedgerDelta[] => holdDeltas(book, scopesHeld, req.estimate)
  const realDeltas = enforce ? hold('real', reservation.real_scopes) : realHold!.deltas
  const conditions: Condition[] = [
    ...(enforce ? admissionConditions(realEval) : realHold!.conditions),
    ...(shadowEval.decision === 'DENY' ? [] : admissionConditions(shadowEval)),
  ]
  // The response is known before the write except for post-mutation balances; build it after.
  const decision: Decision = enforce ? realEval.decision : realEval.decision === 'ALLOW_WITH_CAPS' ? 'ALLOW_WITH_CAPS' : 'ALLOW'
  const tx: Tx = {
    conditions,
    deltas: [...realDeltas, ...hold('shadow', reservation.shadow_scopes)],
    reservation: {value: reservation, expectStatus: 'absent'},
    ...policyWrites(stage, enforce),
  }
  // Idempotency and the response body are written in the same transaction below; compute balances
  // from the pre-state plus our own hold, which is what the post-mutation snapshot shows.
  const postLedgers = projectLedgers(budgetedReal, realDeltas)
  const body: Record<string, unknown> = {
    decision,
    reservation_id: reservation.reservation_id,
    affected_scopes: scopes.affected_scopes,
    expires_at_ms: reservation.expires_at_ms,
    remaining_ttl_ms: ttl,
    scope_path: scopes.scope_path,
    reserved: req.estimate,
  }
  if (decision === 'ALLOW_WITH_CAPS' && realEval.caps) body.caps = realEval.caps
  const text = jsonWithBalances(body, postLedgers)
  tx.idempotency = {
    key: idemKey,
    record: {hash, status: 200, body: text, reservation_id: reservation.reservation_id, expires_at_ms: reservation.expires_at_ms},
    ttl_ms: Math.max(ttl + reservation.grace_period_ms, IDEMPOTENCY_TTL_MS),
  }
  const applied = await core.store.apply(tx)
  if (!applied.ok) return applied.failed === 'idempotency' ? 'replay' : 'retry'
  core.rememberHolds(reservation)
  facts.decision = decision
  facts.reservation_id = reservation.reservation_id
  return {status: 200, body: text, record: facts}
}

/**
 * An enforced live reserve the evaluator denied: 409 (the v0.1.26 codes for policy denials; a
 * missing approval answers ACTION_KIND_NOT_ALLOWED naming the pending request), 404 without a
 * budget, 429 with Retry-After and X-RateLimit-Reset for a policy rate limit. deny_detail goes in
 * `details` for v0.1.26 clients only.
 */
function liveDenial(
  core: RuntimeCore,
  ctx: CallContext,
  req: ReservationCreateRequest,
  {real, realEval, stage, scopes, facts}: Pick<Admitted, 'real' | 'realEval' | 'stage' | 'scopes' | 'facts'>,
): ServiceResponse {
  const reason = realEval.reason_code!
  const {code, status} = liveErrorFor(reason)
  facts.decision = 'DENY'
  facts.reason_code = reason === 'APPROVAL_REQUIRED' ? reason : code
  const policyDenial = stage.denial?.reason_code === reason ? stage.denial : undefined
  const message =
    policyDenial?.message ??
    (code === 'NOT_FOUND' ? `Budget not found for provided scope: ${scopes.scope_path}` : `Reservation denied: ${reason} on scope ${realEval.denied_scope ?? scopes.scope_path}`)
  const details = ctx.wireVersion === '0.1.26' ? {deny_detail: denyDetailOf(realEval, stage, real, req.estimate)} : undefined
  if (status === 429) {
    const body = {error: code, message, request_id: ctx.request_id, trace_id: ctx.trace_id, ...(details ? {details} : {})}
    const retry = policyDenial?.retry_after_s ?? 1
    const reset = stage.rate?.reset_s ?? Math.floor(core.now() / 1000) + retry
    return {status, body: JSON.stringify(body), record: facts, headers: {'Retry-After': String(retry), 'X-RateLimit-Reset': String(reset)}}
  }
  const error = new ProtocolError(code as ProtocolError['code'], message, details)
  error.context = facts
  throw error
}

/** A shadow-mode reservation's real-book hold: every budgeted scope, what each can cover of the estimate. */
function shadowRealHold(ledgers: Ledger[], estimate: number) {
  const hold = unconditionalHold(ledgers, estimate)
  return {...hold, scopes: ledgers.map((l) => l.scope), partial: hold.held.some((h) => h !== estimate)}
}
