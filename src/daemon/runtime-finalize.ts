// Finalizing paths of the runtime plane: commit, release, extend and the expiry sweep, each one
// guarded transaction on an ACTIVE reservation.
import {type RecordFacts} from '../decision-log/record.js'
import {realHeldOn, releaseRealHold, unconditionalSettle} from '../evaluator/real-book.js'
import {planSettlement} from '../evaluator/settle.js'
import {requestHash} from '../protocol/canonical-json.js'
import {ProtocolError} from '../protocol/errors.js'
import {
  type CommitRequest,
  type ExtendRequest,
  type ReleaseRequest,
  commitRequest,
  extendRequest,
  parseRequest,
  releaseRequest,
} from '../protocol/requests.js'
import {type Ledger, type Reservation, type Tenant} from '../protocol/types.js'
import type {Tx} from '../store/types.js'
import {checkHeaderKey, withContext} from './request-facts.js'
import {
  MAX_ATTEMPTS,
  type CallContext,
  type ServiceResponse,
  type Holds,
  type RuntimeCore,
  assertTenantOpen,
  releaseHold,
  releaseBoth,
  addSettlement,
  overdraftError,
  shadowLimitScope,
  projectLedgers,
} from './runtime-core.js'
import {balancesOf, shadowHeaders} from './wire.js'
import {rateDenial, rateUse, rateWrites} from '../policies/evaluate.js'
import {RATE_COUNTERS_COLLECTION} from '../policies/types.js'

export class FinalizePath {
  constructor(private readonly core: RuntimeCore) {}

  async commitStored(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    const req: CommitRequest = parseRequest(commitRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const hash = requestHash(req)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const open = await this.openToFinalize('commit', ctx, id, req.idempotency_key, hash, (facts) => (facts.actual = req.actual.amount))
      if ('replay' in open) return open.replay
      const {r, facts, held} = open
      if (req.actual.unit !== r.reserved.unit) {
        throw withContext(new ProtocolError('UNIT_MISMATCH', `actual.unit ${req.actual.unit} does not match reservation unit ${r.reserved.unit}`), facts)
      }
      const policy = r.overage_policy
      const [realLedgers, shadowLedgers] = held ?? (await this.core.heldBy(r))
      const args = {estimate: r.reserved.amount, actual: req.actual.amount, policy, kind: 'commit' as const}
      const enforced = r.mode === 'enforce'
      const realSettle = enforced && r.real_scopes.length > 0 ? planSettlement({...args, ledgers: realLedgers}) : undefined
      if (realSettle && !realSettle.ok) {
        facts.decision = 'DENY'
        facts.reason_code = realSettle.code
        throw withContext(new ProtocolError(realSettle.code, `Commit rejected: ${realSettle.code} on scope ${realSettle.scope}`), facts)
      }
      const shadowSettle = r.shadow_scopes.length > 0 ? planSettlement({...args, ledgers: shadowLedgers}) : undefined
      const tx: Tx = {conditions: [], deltas: []}
      if (realSettle?.ok) addSettlement(tx, 'real', realSettle)
      // Shadow mode: settle on the real book whatever it says, the shortfall as debt (evaluator/real-book.ts).
      const unconditional = enforced ? undefined : unconditionalSettle(realLedgers, realHeldOn(r), req.actual.amount)
      if (unconditional) {
        tx.conditions!.push(...unconditional.conditions)
        tx.deltas!.push(...unconditional.deltas)
      }
      if (shadowSettle?.ok) addSettlement(tx, 'shadow', shadowSettle)
      else if (shadowSettle && !shadowSettle.ok) {
        // Under full enforcement this commit would have failed; the hold would have expired.
        tx.deltas!.push(...releaseHold('shadow', r.shadow_scopes, r.reserved))
        facts.would_decision = 'DENY'
        facts.would_reason_code = shadowSettle.code
        facts.denied_scope = shadowSettle.scope
      }
      const rate = await this.commitRate(ctx, r, facts, enforced)
      if ('denied' in rate) return rate.denied
      if (rate.writes) {
        tx.docs = rate.writes.docs
        tx.docConditions = enforced ? rate.writes.docConditions : []
      }
      const charged = realSettle?.ok ? realSettle.charged : req.actual.amount
      const body: Record<string, unknown> = {status: 'COMMITTED', charged: {unit: r.reserved.unit, amount: charged}}
      if (charged < r.reserved.amount) body.released = {unit: r.reserved.unit, amount: r.reserved.amount - charged}
      const realPost = realSettle?.ok ? projectLedgers(realLedgers, realSettle.deltas) : unconditional ? projectLedgers(realLedgers, unconditional.deltas) : []
      if (realPost.length > 0) body.balances = balancesOf(realPost)
      const text = JSON.stringify(body)
      const now = this.core.now()
      tx.reservation = {
        expectStatus: 'ACTIVE',
        value: {
          ...r,
          status: 'COMMITTED',
          finalized_at_ms: now,
          committed: {unit: r.reserved.unit, amount: charged},
          committed_actual: req.actual.amount,
          ...(req.metadata ? {committed_metadata: req.metadata} : {}),
          finalize: {endpoint: 'commit', key: req.idempotency_key, hash, status: 200, body: text},
        },
      }
      const applied = await this.core.store.apply(tx)
      const overLimit = overdraftError(applied, facts, 'Commit')
      if (overLimit) throw overLimit
      // 'settlement': the capped extra is no longer the one this response states; read again.
      if (!applied.ok) continue
      const shadowLimit = shadowLimitScope(tx, applied)
      if (shadowLimit) Object.assign(facts, {would_decision: 'DENY', would_reason_code: 'OVERDRAFT_LIMIT_EXCEEDED', denied_scope: shadowLimit})
      this.core.openHolds.delete(id)
      facts.decision = 'ALLOW'
      return {status: 200, body: text, record: facts, headers: shadowHeaders(facts)}
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Reservation changed too often during commit; retry with the same idempotency_key')
  }

  async releaseStored(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    const req: ReleaseRequest = parseRequest(releaseRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const hash = requestHash(req)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const open = await this.openToFinalize('release', ctx, id, req.idempotency_key, hash)
      if ('replay' in open) return open.replay
      const {r, facts, held} = open
      const [realLedgers] = held ?? (await this.core.heldBy(r))
      const deltas = releaseBoth(r)
      const body: Record<string, unknown> = {status: 'RELEASED', released: r.reserved}
      const realPost = projectLedgers(realLedgers, releaseRealHold(r))
      if (realPost.length > 0) body.balances = balancesOf(realPost)
      const text = JSON.stringify(body)
      const applied = await this.core.store.apply({
        deltas,
        ...(await this.core.perRunDecrements(r)),
        reservation: {
          expectStatus: 'ACTIVE',
          value: {
            ...r,
            status: 'RELEASED',
            finalized_at_ms: this.core.now(),
            finalize: {endpoint: 'release', key: req.idempotency_key, hash, status: 200, body: text},
          },
        },
      })
      if (!applied.ok) continue
      this.core.openHolds.delete(id)
      facts.decision = 'ALLOW'
      return {status: 200, body: text, record: facts}
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Reservation changed too often during release; retry with the same idempotency_key')
  }

  async extendStored(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    const req: ExtendRequest = parseRequest(extendRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const hash = requestHash(req)
    const idemKey = `${ctx.tenant}:extend:${id}:${req.idempotency_key}`
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const r = await this.core.ownedReservation(ctx, id)
      const facts = this.core.reservationFacts('extend', r)
      const replay = await this.core.replay(idemKey, hash, facts, r.status === 'ACTIVE' ? undefined : 0)
      if (replay) return replay
      await this.core.checkTenantOpen(ctx.tenant, facts)
      if (r.status === 'EXPIRED') throw withContext(new ProtocolError('RESERVATION_EXPIRED', `Reservation ${id} has expired`), facts)
      if (r.status !== 'ACTIVE') throw withContext(new ProtocolError('RESERVATION_FINALIZED', `Reservation ${id} is ${r.status}`), facts)
      const now = this.core.now()
      if (now > r.expires_at_ms) throw withContext(new ProtocolError('RESERVATION_EXPIRED', `Reservation ${id} expired at ${r.expires_at_ms}; extend is not allowed in the grace period`), facts)
      if (r.extension_count >= r.max_extensions) {
        throw withContext(new ProtocolError('MAX_EXTENSIONS_EXCEEDED', `Reservation ${id} was already extended ${r.extension_count} times`), facts)
      }
      const expires = r.expires_at_ms + req.extend_by_ms
      const realLedgers = await this.core.heldLedgers('real', r.real_scopes, r.reserved.unit)
      const body: Record<string, unknown> = {status: 'ACTIVE', expires_at_ms: expires, remaining_ttl_ms: Math.max(0, expires - now)}
      if (realLedgers.length > 0) body.balances = balancesOf(realLedgers)
      const text = JSON.stringify(body)
      const applied = await this.core.store.apply({
        reservation: {expectStatus: 'ACTIVE', value: {...r, expires_at_ms: expires, extension_count: r.extension_count + 1}},
        idempotency: {key: idemKey, record: {hash, status: 200, body: text, expires_at_ms: expires}, ttl_ms: Math.max(expires - now + r.grace_period_ms, 60_000)},
      })
      if (!applied.ok) continue
      facts.decision = 'ALLOW'
      return {status: 200, body: text, record: facts}
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Reservation changed too often during extend; retry with the same idempotency_key')
  }

  /**
   * The governing policy's max_commits_per_minute on the reservation's scopes: over it an enforced
   * commit is 429 LIMIT_EXCEEDED (Retry-After, X-RateLimit-Reset); a shadow-mode commit is counted and
   * admitted. Otherwise the counter increment the commit's transaction carries.
   */
  private async commitRate(ctx: CallContext, r: Reservation, facts: RecordFacts, enforced: boolean): Promise<{denied: ServiceResponse} | {writes?: ReturnType<typeof rateWrites>}> {
    const selected = await this.core.policyFor(r.tenant, r.affected_scopes)
    const use = selected ? rateUse(selected, r.tenant, 'commits', this.core.now()) : undefined
    if (!use) return {}
    const [doc] = await this.core.store.getDocs(RATE_COUNTERS_COLLECTION, [use.id])
    const denial = rateDenial(use, typeof doc?.value.used === 'number' ? doc.value.used : 0)
    if (denial && enforced) {
      facts.decision = 'DENY'
      facts.reason_code = 'LIMIT_EXCEEDED'
      facts.policy_id = use.policy_id
      const details = ctx.wireVersion === '0.1.26' ? {details: {deny_detail: denial.detail}} : {}
      const body = {error: 'LIMIT_EXCEEDED', message: denial.message, request_id: ctx.request_id, trace_id: ctx.trace_id, ...details}
      const headers = {'Retry-After': String(use.retry_after_s), 'X-RateLimit-Reset': String(use.reset_s)}
      return {denied: {status: 429, body: JSON.stringify(body), record: facts, headers}}
    }
    return {writes: rateWrites(use)}
  }

  /** Expire ACTIVE reservations past expires_at + grace, returning their holds. Returns how many. */
  async expireDue(limit = 1000): Promise<number> {
    const now = this.core.now()
    const due = await this.core.store.dueForExpiry(now, limit)
    let expired = 0
    for (const r of due) {
      const applied = await this.core.store.apply({
        deltas: releaseBoth(r),
        ...(await this.core.perRunDecrements(r)),
        reservation: {expectStatus: 'ACTIVE', value: {...r, status: 'EXPIRED', finalized_at_ms: now}},
      })
      if (applied.ok) {
        expired++
        this.core.openHolds.delete(r.reservation_id)
        this.core.onExpired(r)
      }
    }
    return expired
  }

  /**
   * The checks commit and release start with, in the protocol's order: the reservation exists and is
   * the caller's; a finished one answers its replay (or a mismatch / finalized / expired error); the
   * grace window; the tenant is open. Returns the reservation, its record facts and any held ledgers.
   */
  private async openToFinalize(
    endpoint: 'commit' | 'release',
    ctx: CallContext,
    id: string,
    key: string,
    hash: string,
    addFacts?: (facts: RecordFacts) => void,
  ): Promise<{replay: ServiceResponse} | {r: Reservation; facts: RecordFacts; held?: [Ledger[], Ledger[]]}> {
    const {r, tenant, held} = await this.reservationToFinalize(ctx, id)
    const facts = this.core.reservationFacts(endpoint, r)
    addFacts?.(facts)
    const replay = this.finalizeReplay(r, endpoint, key, hash, facts)
    if (replay) return {replay}
    // The spec gives TENANT_CLOSED precedence over the reservation's own state.
    assertTenantOpen(tenant, r.tenant, facts)
    this.rejectFinalized(r, facts)
    this.checkWindow(r, endpoint, facts)
    return {r, facts, held}
  }

  /**
   * The reservation to commit or release, its tenant, and — when this daemon created it — the
   * ledgers it holds, all read in one round trip to the store instead of three. `held` is set only
   * when the remembered scopes are the reservation's (they never change once it exists).
   */
  private async reservationToFinalize(ctx: CallContext, id: string): Promise<{r: Reservation; tenant: Tenant | undefined; held?: [Ledger[], Ledger[]]}> {
    const known = this.core.openHolds.get(id)
    const [r, tenant, held] = await Promise.all([
      this.core.ownedReservation(ctx, id),
      this.core.store.getTenant(ctx.tenant),
      known ? this.core.heldBy(known) : undefined,
    ])
    const usable = held && r.status === 'ACTIVE' && sameHolds(known!, r)
    return {r, tenant, held: usable ? held : undefined}
  }

  /** The same commit or release again: its stored response (or a mismatch when the payload differs). */
  private finalizeReplay(r: Reservation, endpoint: 'commit' | 'release', key: string, hash: string, facts: RecordFacts): ServiceResponse | undefined {
    if (r.status === 'ACTIVE' || !r.finalize || r.finalize.endpoint !== endpoint || r.finalize.key !== key) return undefined
    if (r.finalize.hash !== hash) {
      throw withContext(new ProtocolError('IDEMPOTENCY_MISMATCH', 'idempotency_key was already used with a different request payload'), facts)
    }
    return {status: r.finalize.status, body: r.finalize.body}
  }

  /** A reservation already committed, released or expired cannot be finalized again. */
  private rejectFinalized(r: Reservation, facts: RecordFacts): void {
    if (r.status === 'ACTIVE') return
    if (r.status === 'EXPIRED') throw withContext(new ProtocolError('RESERVATION_EXPIRED', `Reservation ${r.reservation_id} has expired`), facts)
    throw withContext(new ProtocolError('RESERVATION_FINALIZED', `Reservation ${r.reservation_id} is already ${r.status}`), facts)
  }

  private checkWindow(r: Reservation, what: string, facts: RecordFacts): void {
    if (this.core.now() > r.expires_at_ms + r.grace_period_ms) {
      throw withContext(new ProtocolError('RESERVATION_EXPIRED', `Reservation ${r.reservation_id} expired; ${what} is past expires_at_ms + grace_period_ms`), facts)
    }
  }
}

function sameHolds(a: Holds, b: Holds): boolean {
  return (
    a.reserved.unit === b.reserved.unit &&
    sameList(a.real_scopes, b.real_scopes) &&
    sameList(a.shadow_scopes, b.shadow_scopes) &&
    sameList((a.real_held ?? []).map(String), (b.real_held ?? []).map(String))
  )
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
