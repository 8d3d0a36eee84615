// Admission paths of the runtime plane: reserve (live and dry-run), decide and events (direct
// debit). Each evaluates with the one evaluator against the real and the shadow book and applies one
// atomic transaction, retrying when the ledgers moved in between.
import {type RecordFacts, runIds} from '../decision-log/record.js'
import {type ReserveEvaluation, admissionConditions, evaluateReserve, liveErrorFor} from '../evaluator/evaluate.js'
import {unconditionalHold, unconditionalSettle} from '../evaluator/real-book.js'
import {planSettlement} from '../evaluator/settle.js'
import {chargeDeltas, holdDeltas, wouldOutcome} from '../evaluator/shadow-book.js'
import {requestHash} from '../protocol/canonical-json.js'
import {ProtocolError} from '../protocol/errors.js'
import {
  type EventCreateRequest,
  type ReservationCreateRequest,
  decisionRequest,
  decisionRequestV26,
  eventCreateRequest,
  parseRequest,
  reservationCreateRequest,
  reservationCreateRequestV26,
} from '../protocol/requests.js'
import {type Amount, type Book, type Decision, type Ledger, type Mode, type Reservation, type Tenant, type Tier} from '../protocol/types.js'
import type {Condition, LedgerDelta, Tx} from '../store/types.js'
import {baseFacts, checkHeaderKey, scopesFor, withContext} from './request-facts.js'
import {
  DEFAULT_TTL_MS,
  DEFAULT_MAX_TTL_MS,
  DEFAULT_MAX_EXTENSIONS,
  IDEMPOTENCY_TTL_MS,
  EVENT_IDEMPOTENCY_TTL_MS,
  MAX_ATTEMPTS,
  type CallContext,
  type ServiceResponse,
  type ReserveLike,
  type BookView,
  type RuntimeCore,
  addSettlement,
  overdraftError,
  shadowLimitScope,
  projectLedgers,
} from './runtime-core.js'
import {balancesOf, shadowHeaders, jsonWithBalances} from './wire.js'
import {NO_POLICY_STAGE, type PolicyStage, checkKindDeclared, denyDetailOf, evaluatePolicyStage, observeModeOf, policyWrites} from '../evaluator/policy-stage.js'
import {EMPTY_POLICY_SET} from '../policies/policy-set.js'

export class ReservePath {
  constructor(private readonly core: RuntimeCore) {}

  async reserveStored(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    // observe_mode and action.policy_keys only from v0.1.26 clients: v0.1.25 ones get the v0.1.25 schema (unknown field → 400).
    const req = parseRequest(ctx.wireVersion === '0.1.26' ? reservationCreateRequestV26 : reservationCreateRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const dryRun = req.dry_run ?? false
    const {tier, mode, facts, scopes, idemKey, hash} = this.begin('reserve', ctx, req, dryRun)

    // Per-request observe mode is known now; the tenant's once it is read (observe-mode rules, v0.1.26).
    const observeAsked = req.observe_mode === 'OBSERVE'
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await this.readAndEvaluate(ctx, req, scopes, idemKey, hash, facts, attempt === 0, mode === 'enforce' && !observeAsked)
      if ('replay' in read) return read.replay
      const {tenant, real, realEval, shadowEval, stage} = read
      const observed = observeModeOf(req.observe_mode, tenant) === 'OBSERVE'
      if (observed) facts.observe_mode = 'OBSERVE'
      const wouldDenyHeaders = shadowHeaders(facts)

      const result =
        dryRun || observed
          ? await this.dryRunResponse(ctx, req, real, realEval, shadowEval, stage, scopes, idemKey, hash, facts)
          : await this.liveReserve(ctx, req, {tier, mode}, tenant, real, realEval, shadowEval, stage, scopes, idemKey, hash, facts)
      if (result === 'retry') continue
      if (result === 'replay') return (await this.core.replay(idemKey, hash, facts))!
      if (wouldDenyHeaders) result.headers = {...result.headers, ...wouldDenyHeaders}
      return result
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget state changed too often during evaluation; retry with the same idempotency_key')
  }

  private async dryRunResponse(
    ctx: CallContext,
    req: ReservationCreateRequest,
    real: BookView,
    realEval: ReserveEvaluation,
    shadowEval: ReserveEvaluation,
    stage: PolicyStage,
    scopes: {affected_scopes: string[]; scope_path: string},
    idemKey: string,
    hash: string,
    facts: RecordFacts,
  ): Promise<ServiceResponse | 'retry' | 'replay'> {
    if (real.unitMismatch && !stage.denial) throw this.core.unitMismatch(real, req.estimate.unit, facts)
    const body: Record<string, unknown> = {decision: realEval.decision}
    if (realEval.decision === 'DENY') {
      body.reason_code = realEval.reason_code
      body.affected_scopes = scopes.affected_scopes
      body.scope_path = scopes.scope_path
      if (ctx.wireVersion === '0.1.26') body.deny_detail = denyDetailOf(realEval, stage, real, req.estimate)
    } else {
      if (realEval.caps) body.caps = realEval.caps
      body.affected_scopes = scopes.affected_scopes
      body.scope_path = scopes.scope_path
      body.reserved = req.estimate
    }
    facts.decision = realEval.decision
    if (realEval.reason_code) facts.reason_code = realEval.reason_code
    // denied_scope stays the would-be denial's (schema v1): now that the real book counts shadowed
    // spend, the real book often denies where full enforcement would not, and the replay reads it so.
    const text = realEval.decision === 'DENY' ? JSON.stringify(body) : jsonWithBalances(body, real.ledgers)
    const tx: Tx = {
      ...this.shadowCharge(shadowEval, req.estimate),
      idempotency: {key: idemKey, record: {hash, status: 200, body: text}, ttl_ms: IDEMPOTENCY_TTL_MS},
    }
    const applied = await this.core.store.apply(tx)
    if (!applied.ok) return applied.failed === 'idempotency' ? 'replay' : 'retry'
    return {status: 200, body: text, record: facts}
  }

  private async liveReserve(
    ctx: CallContext,
    req: ReservationCreateRequest,
    {tier, mode}: {tier: Tier; mode: Mode},
    tenant: Tenant | undefined,
    real: BookView,
    realEval: ReserveEvaluation,
    shadowEval: ReserveEvaluation,
    stage: PolicyStage,
    scopes: {affected_scopes: string[]; scope_path: string},
    idemKey: string,
    hash: string,
    facts: RecordFacts,
  ): Promise<ServiceResponse | 'retry' | 'replay'> {
    const enforce = mode === 'enforce'
    if (enforce) {
      if (real.unitMismatch && !stage.denial) throw this.core.unitMismatch(real, req.estimate.unit, facts)
      if (realEval.decision === 'DENY') return this.liveDenial(ctx, req, real, realEval, stage, scopes, facts)
    }
    const policy = stage.selected?.policy
    // Shadow mode holds on the real book too, without admission conditions (evaluator/real-book.ts).
    const budgetedReal = real.ledgers.filter((l): l is Ledger => l !== undefined)
    const realHold = enforce ? undefined : shadowRealHold(budgetedReal, req.estimate.amount)
    const now = this.core.now()
    // A policy's reservation_ttl_override and commit_overage_policy override the tenant's defaults (admin spec).
    const ttlOverride = policy?.reservation_ttl_override
    const ttl = Math.min(
      req.ttl_ms ?? ttlOverride?.default_ttl_ms ?? tenant?.default_reservation_ttl_ms ?? DEFAULT_TTL_MS,
      ttlOverride?.max_ttl_ms ?? tenant?.max_reservation_ttl_ms ?? DEFAULT_MAX_TTL_MS,
    )
    const perRun = stage.counters.filter((c) => c.per_run).map((c) => c.id)
    const reservation: Reservation = {
      reservation_id: this.core.newId(),
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
    const applied = await this.core.store.apply(tx)
    if (!applied.ok) return applied.failed === 'idempotency' ? 'replay' : 'retry'
    this.core.rememberHolds(reservation)
    facts.decision = decision
    facts.reservation_id = reservation.reservation_id
    return {status: 200, body: text, record: facts}
  }

  async decideStored(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    const req = parseRequest(ctx.wireVersion === '0.1.26' ? decisionRequestV26 : decisionRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const {facts, scopes, idemKey, hash} = this.begin('decide', ctx, req, false)

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await this.readAndEvaluate(ctx, req, scopes, idemKey, hash, facts, attempt === 0, facts.mode === 'enforce')
      if ('replay' in read) return read.replay
      const {tenant, real, realEval, shadowEval, stage} = read
      if (observeModeOf(undefined, tenant) === 'OBSERVE') facts.observe_mode = 'OBSERVE'
      if (real.unitMismatch && !stage.denial) throw this.core.unitMismatch(real, req.estimate.unit, facts)
      const body: Record<string, unknown> = {decision: realEval.decision}
      if (realEval.decision === 'ALLOW_WITH_CAPS') body.caps = realEval.caps
      if (realEval.reason_code) body.reason_code = realEval.reason_code
      body.affected_scopes = scopes.affected_scopes
      if (realEval.decision === 'DENY' && ctx.wireVersion === '0.1.26') body.deny_detail = denyDetailOf(realEval, stage, real, req.estimate)
      facts.decision = realEval.decision
      if (realEval.reason_code) facts.reason_code = realEval.reason_code
      const text = JSON.stringify(body)
      const applied = await this.core.store.apply({
        ...this.shadowCharge(shadowEval, req.estimate),
        idempotency: {key: idemKey, record: {hash, status: 200, body: text}, ttl_ms: IDEMPOTENCY_TTL_MS},
      })
      if (!applied.ok) {
        if (applied.failed === 'idempotency') return (await this.core.replay(idemKey, hash, facts))!
        continue
      }
      const response: ServiceResponse = {status: 200, body: text, record: facts}
      response.headers = shadowHeaders(facts)
      return response
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget state changed too often during evaluation; retry with the same idempotency_key')
  }

  async eventStored(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    const req: EventCreateRequest = parseRequest(eventCreateRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const {tier, mode: tierMode} = this.core.tierOf(req.action)
    const facts = baseFacts('event', req.subject, req.action, req.metadata, {tier, mode: tierMode, dry_run: false})
    facts.unit = req.actual.unit
    facts.actual = req.actual.amount
    const scopes = scopesFor(ctx, req.subject, facts)
    Object.assign(facts, scopes)
    const {mode, enforce_percent} = this.core.modeOfRequest(ctx.tenant, tier, facts.run_id, scopes.scope_path)
    facts.mode = mode
    facts.enforce_percent = enforce_percent
    const idemKey = `${ctx.tenant}:event:${req.idempotency_key}`
    const hash = requestHash(req)
    const replay = await this.core.replay(idemKey, hash, facts)
    if (replay) return replay
    facts.overage_policy = req.overage_policy
    const policy = req.overage_policy
    const enforce = mode === 'enforce'

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      await this.core.checkTenantOpen(ctx.tenant, facts)
      const zero = {unit: req.actual.unit, amount: 0}
      const [real, shadow] = await Promise.all([
        this.core.view('real', scopes.affected_scopes, zero),
        this.core.view('shadow', scopes.affected_scopes, zero),
      ])
      const present = (v: BookView) => v.ledgers.filter((l): l is Ledger => l !== undefined)
      const args = {estimate: 0, actual: req.actual.amount, policy, kind: 'event' as const}
      const shadowSettle = present(shadow).length > 0 ? planSettlement({...args, ledgers: present(shadow)}) : undefined
      if (!shadowSettle) {
        facts.would_decision = 'DENY'
        facts.would_reason_code = shadow.unitMismatch ? 'UNIT_MISMATCH' : 'BUDGET_NOT_FOUND'
      } else if (!shadowSettle.ok) {
        facts.would_decision = 'DENY'
        facts.would_reason_code = shadowSettle.code
        facts.denied_scope = shadowSettle.scope
      } else facts.would_decision = 'ALLOW'

      const tx: Tx = {conditions: [], deltas: []}
      let charged = req.actual.amount
      let realPost: Ledger[] = []
      if (enforce) {
        if (real.unitMismatch) throw this.core.unitMismatch(real, req.actual.unit, facts)
        if (present(real).length === 0) {
          throw withContext(new ProtocolError('NOT_FOUND', `Budget not found for provided scope: ${scopes.scope_path}`), {...facts, decision: 'DENY', reason_code: 'NOT_FOUND'})
        }
        const realSettle = planSettlement({...args, ledgers: present(real)})
        if (!realSettle.ok) {
          throw withContext(new ProtocolError(realSettle.code, `Event rejected: ${realSettle.code} on scope ${realSettle.scope}`), {...facts, decision: 'DENY', reason_code: realSettle.code})
        }
        addSettlement(tx, 'real', realSettle)
        charged = realSettle.charged
        realPost = projectLedgers(present(real), realSettle.deltas)
      } else {
        // Shadow mode: the spend is real, so the real book is debited all the same (debt where it cannot cover it).
        const settled = unconditionalSettle(present(real), () => 0, req.actual.amount)
        tx.conditions!.push(...settled.conditions)
        tx.deltas!.push(...settled.deltas)
        realPost = projectLedgers(present(real), settled.deltas)
      }
      if (shadowSettle?.ok) addSettlement(tx, 'shadow', shadowSettle)
      const body: Record<string, unknown> = {status: 'APPLIED', event_id: this.core.newId()}
      if (charged !== req.actual.amount) body.charged = {unit: req.actual.unit, amount: charged}
      if (realPost.length > 0) body.balances = balancesOf(realPost)
      const text = JSON.stringify(body)
      tx.idempotency = {key: idemKey, record: {hash, status: 201, body: text}, ttl_ms: EVENT_IDEMPOTENCY_TTL_MS}
      const applied = await this.core.store.apply(tx)
      const overLimit = overdraftError(applied, facts, 'Event')
      if (overLimit) throw overLimit
      if (!applied.ok) {
        if (applied.failed === 'idempotency') return (await this.core.replay(idemKey, hash, facts))!
        continue
      }
      const shadowLimit = shadowLimitScope(tx, applied)
      if (shadowLimit) Object.assign(facts, {would_decision: 'DENY', would_reason_code: 'OVERDRAFT_LIMIT_EXCEEDED', denied_scope: shadowLimit})
      facts.decision = 'ALLOW'
      const response: ServiceResponse = {status: 201, body: text, record: facts}
      response.headers = shadowHeaders(facts)
      return response
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget state changed too often during the event; retry with the same idempotency_key')
  }

  /**
   * What reserve and decide establish first: tier and the request's mode (the ramp needs the scope
   * path when there is no run id), the record's facts, the scopes, the idempotency key and payload hash.
   */
  private begin(endpoint: 'reserve' | 'decide', ctx: CallContext, req: ReserveLike, dryRun: boolean) {
    const {tier, mode: tierMode} = this.core.tierOf(req.action)
    const facts = baseFacts(endpoint, req.subject, req.action, req.metadata, {tier, mode: tierMode, dry_run: dryRun})
    facts.unit = req.estimate.unit
    facts.estimate = req.estimate.amount
    const scopes = scopesFor(ctx, req.subject, facts)
    Object.assign(facts, scopes)
    const {mode, enforce_percent} = this.core.modeOfRequest(ctx.tenant, tier, facts.run_id, scopes.scope_path)
    facts.mode = mode
    facts.enforce_percent = enforce_percent
    return {tier, mode, facts, scopes, idemKey: `${ctx.tenant}:${endpoint}:${req.idempotency_key}`, hash: requestHash(req)}
  }

  /**
   * Read the tenant and both books and evaluate the estimate against each; the would-be decision
   * goes into `facts`. On a first attempt the idempotency lookup goes out with the reads (one round
   * trip with a remote store), and a replay simply discards them.
   */
  private async readAndEvaluate(
    ctx: CallContext,
    req: ReserveLike,
    scopes: {affected_scopes: string[]; scope_path: string},
    idemKey: string,
    hash: string,
    facts: RecordFacts,
    lookUpReplay: boolean,
    consultApprovals: boolean,
  ): Promise<{replay: ServiceResponse} | {tenant: Tenant | undefined; real: BookView; realEval: ReserveEvaluation; shadowEval: ReserveEvaluation; stage: PolicyStage}> {
    const estimate = req.estimate
    const policies = this.core.policies()
    const set = policies instanceof Promise ? await policies : policies
    try {
      checkKindDeclared(req.action.kind, set)
    } catch (error) {
      throw withContext(error as ProtocolError, facts)
    }
    const [replay, tenant, real, shadow, stage] = await Promise.all([
      lookUpReplay ? this.core.replay(idemKey, hash, facts) : undefined,
      this.core.store.getTenant(ctx.tenant),
      this.core.view('real', scopes.affected_scopes, estimate),
      this.core.view('shadow', scopes.affected_scopes, estimate),
      // Steps 1–3 of the v0.1.26 order; the evaluator puts them after the closed-tenant guard.
      set === EMPTY_POLICY_SET
        ? NO_POLICY_STAGE
        : evaluatePolicyStage({
            store: this.core.store,
            set,
            tenant: ctx.tenant,
            affected_scopes: scopes.affected_scopes,
            scope_path: scopes.scope_path,
            action: req.action,
            run_id: facts.run_id,
            estimate,
            nowMs: this.core.now(),
            consultApprovals,
            gate: this.core.approvalGate,
          }).catch((error: unknown) => {
            throw error instanceof ProtocolError ? withContext(error, facts) : error
          }),
    ])
    if (replay) return {replay}
    if (stage.selected) facts.policy_id = stage.selected.policy.policy_id
    const realEval = this.finish(real, tenant, stage)
    const shadowEval = this.finish(shadow, tenant, stage)
    Object.assign(facts, wouldOf(shadow, shadowEval))
    return {tenant, real, realEval, shadowEval, stage}
  }

  private finish(view: BookView, tenant: Tenant | undefined, stage: PolicyStage): ReserveEvaluation {
    const denial = stage.denial
    return evaluateReserve({
      tenant,
      affected_scopes: view.scopes,
      unit: view.estimate.unit,
      estimate: view.estimate.amount,
      ledgers: view.ledgers,
      book: view.book,
      policy: {
        ...(denial ? {denial: {reason_code: denial.reason_code, scope: denial.detail.blocked_by_scope}} : {}),
        ...(stage.selected?.policy.caps ? {caps: stage.selected.policy.caps} : {}),
      },
    })
  }

  /**
   * An enforced live reserve the evaluator denied: 409 (the v0.1.26 codes for policy denials; a
   * missing approval answers ACTION_KIND_NOT_ALLOWED naming the pending request), 404 without a
   * budget, 429 with Retry-After and X-RateLimit-Reset for a policy rate limit. deny_detail goes in
   * `details` for v0.1.26 clients only.
   */
  private liveDenial(
    ctx: CallContext,
    req: ReservationCreateRequest,
    real: BookView,
    realEval: ReserveEvaluation,
    stage: PolicyStage,
    scopes: {scope_path: string},
    facts: RecordFacts,
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
      const reset = stage.rate?.reset_s ?? Math.floor(this.core.now() / 1000) + retry
      return {status, body: JSON.stringify(body), record: facts, headers: {'Retry-After': String(retry), 'X-RateLimit-Reset': String(reset)}}
    }
    const error = new ProtocolError(code as ProtocolError['code'], message, details)
    error.context = facts
    throw error
  }

  /** Debit the shadow ledger with the estimate of a would-be-allowed dry-run or decide. */
  private shadowCharge(shadowEval: ReserveEvaluation, estimate: Amount): Pick<Tx, 'conditions' | 'deltas'> {
    if (shadowEval.decision === 'DENY' || estimate.amount === 0) return {}
    return {conditions: admissionConditions(shadowEval), deltas: chargeDeltas(shadowEval, estimate)}
  }
}

/** A shadow-mode reservation's real-book hold: every budgeted scope, what each can cover of the estimate. */
function shadowRealHold(ledgers: Ledger[], estimate: number) {
  const hold = unconditionalHold(ledgers, estimate)
  return {...hold, scopes: ledgers.map((l) => l.scope), partial: hold.held.some((h) => h !== estimate)}
}

function wouldOf(view: BookView, evaluation: ReserveEvaluation): Pick<RecordFacts, 'would_decision' | 'would_reason_code' | 'denied_scope'> {
  return wouldOutcome(view.unitMismatch !== undefined, evaluation)
}
