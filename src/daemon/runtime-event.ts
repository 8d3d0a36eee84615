// POST /v1/events: a direct debit without a reservation (protocol §events). Enforced, the real book
// must cover it per the overage policy (409 otherwise); shadowed, the spend is debited regardless. The
// shadow book records whether enforcement would have refused it. Of the policies only step 1 (denied /
// allowed action kinds) applies: quotas, rate limits and approvals are counted on the reservation path.
import {planSettlement} from '../evaluator/settle.js'
import {unconditionalSettle} from '../evaluator/real-book.js'
import {requestHash} from '../protocol/canonical-json.js'
import {ProtocolError} from '../protocol/errors.js'
import {type EventCreateRequest, eventCreateRequest, parseRequest} from '../protocol/requests.js'
import {type RecordFacts} from '../decision-log/record.js'
import {type Ledger} from '../protocol/types.js'
import type {Tx} from '../store/types.js'
import {baseFacts, checkHeaderKey, scopesFor, withContext} from './request-facts.js'
import {accessControlStage, observeModeOf, type StageDenial} from '../evaluator/policy-stage.js'
import {
  EVENT_IDEMPOTENCY_TTL_MS,
  MAX_ATTEMPTS,
  type CallContext,
  type ServiceResponse,
  type BookView,
  type RuntimeCore,
  addSettlement,
  assertTenantOpen,
  overdraftError,
  shadowLimitScope,
  projectLedgers,
} from './runtime-core.js'
import {balancesOf, shadowHeaders} from './wire.js'

export class EventPath {
  constructor(private readonly core: RuntimeCore) {}

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
    const set = await this.core.policies()
    const access = accessControlStage({set, tenant: ctx.tenant, affected_scopes: scopes.affected_scopes, action: req.action, nowMs: this.core.now()})
    if (access.selected) facts.policy_id = access.selected.policy.policy_id

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const tenant = await this.core.store.getTenant(ctx.tenant)
      assertTenantOpen(tenant, ctx.tenant, facts)
      // The tenant's observe mode (v0.1.26) observes a policy denial instead of enforcing it (an event
      // always persists); recorded only when it did, so that budget answers of events stay plain.
      const observed = observeModeOf(undefined, tenant) === 'OBSERVE'
      const denial = access.denial
      if (observed && denial) facts.observe_mode = 'OBSERVE'
      if (denial && enforce && !observed) throw this.denied(ctx, denial, facts)
      const zero = {unit: req.actual.unit, amount: 0}
      const [real, shadow] = await Promise.all([
        this.core.view('real', scopes.affected_scopes, zero),
        this.core.view('shadow', scopes.affected_scopes, zero),
      ])
      const present = (v: BookView) => v.ledgers.filter((l): l is Ledger => l !== undefined)
      const args = {estimate: 0, actual: req.actual.amount, policy, kind: 'event' as const}
      // The shadow book is what full enforcement would have done: a policy denial debits nothing there.
      const shadowSettle = !denial && present(shadow).length > 0 ? planSettlement({...args, ledgers: present(shadow)}) : undefined
      if (denial) {
        facts.would_decision = 'DENY'
        facts.would_reason_code = denial.reason_code
        facts.denied_scope = denial.detail.blocked_by_scope
      } else if (!shadowSettle) {
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

  /** An enforced access-control denial: 409 with the v0.1.26 code; deny_detail under `details` for v0.1.26 clients only. */
  private denied(ctx: CallContext, denial: StageDenial, facts: RecordFacts): ProtocolError {
    const details = ctx.wireVersion === '0.1.26' ? {deny_detail: denial.detail} : undefined
    return withContext(new ProtocolError(denial.reason_code as ProtocolError['code'], denial.message, details), {...facts, decision: 'DENY', reason_code: denial.reason_code})
  }
}
