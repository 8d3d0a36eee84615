// The runtime plane's behaviour, independent of HTTP: the daemon's HTTP layer and the offline
// simulator both call it. Each method validates, evaluates with the one evaluator against the real
// and the shadow book, applies one atomic transaction and returns the exact wire response plus the
// facts the decision log needs.
import {randomUUID} from 'node:crypto'

import {type RecordFacts, runIds} from '../decision-log/record.js'
import {type ReserveEvaluation, admissionConditions, evaluateReserve, liveErrorFor} from '../evaluator/evaluate.js'
import {settle} from '../evaluator/settle.js'
import {chargeDeltas, holdDeltas, releaseHold, wouldOutcome} from '../evaluator/shadow-book.js'
import {TierClassifier, modeFor} from '../evaluator/tiers.js'
import {requestHash} from '../protocol/canonical-json.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {
  type CommitRequest,
  type EventCreateRequest,
  type ExtendRequest,
  type ReleaseRequest,
  type ReservationCreateRequest,
  commitRequest,
  decisionRequest,
  eventCreateRequest,
  extendRequest,
  parseRequest,
  releaseRequest,
  reservationCreateRequest,
} from '../protocol/requests.js'
import {
  type Action,
  type Amount,
  type Book,
  type Decision,
  type Ledger,
  type Mode,
  type Reservation,
  SCOPE_LEVELS,
  type Tenant,
  type Tier,
  type Unit,
} from '../protocol/types.js'
import {isStoreUnavailable} from '../store/errors.js'
import {encodeCursor} from '../store/filters.js'
import {applyDelta} from '../store/ledger-math.js'
import type {Condition, IdempotencyRecord, LedgerDelta, Store, TierControl, Tx} from '../store/types.js'
import {baseFacts, checkHeaderKey, scopesFor, withContext} from './request-facts.js'
import {StoreOutageFallback, UNRECORDED} from './store-outage.js'
import {balancesOf, cursorOffset, denyHeaders, jsonWithBalances, parseLimit, summaryOf} from './wire.js'

const DEFAULT_TTL_MS = 60_000
const DEFAULT_MAX_TTL_MS = 3_600_000
const DEFAULT_MAX_EXTENSIONS = 10
const IDEMPOTENCY_TTL_MS = 24 * 3_600_000
const EVENT_IDEMPOTENCY_TTL_MS = 7 * 24 * 3_600_000
/** Attempts when the ledger moved between evaluation and write (optimistic retry). */
const MAX_ATTEMPTS = 16
const MAX_OPEN_HOLDS = 100_000

export interface CallContext {
  request_id: string
  trace_id: string
  /** Effective tenant (from the API key, or the `tenant` parameter for admin-on-behalf-of). */
  tenant: string
  /** X-Idempotency-Key header, when sent. */
  headerIdempotencyKey?: string
  /** Authenticated with the admin key (release, list, get). */
  admin?: boolean
}

export type {RecordFacts} from '../decision-log/record.js'

export interface ServiceResponse {
  status: number
  /** Serialized JSON body, exactly as sent (and as replayed for idempotent retries). */
  body: string
  headers?: Record<string, string>
  record?: RecordFacts
}

export interface RuntimeDeps {
  store: Store
  classifier: TierClassifier
  /** Current tier modes and kill switch. */
  control: () => TierControl
  now?: () => number
  newId?: () => string
  /** What an enforce-mode tier answers while the store is unreachable (config `on_store_error`); default deny. */
  onStoreError?: (tier: Tier) => 'deny' | 'allow'
}

/** What a reservation holds, and where. */
type Holds = Pick<Reservation, 'real_scopes' | 'shadow_scopes' | 'reserved'>

/** The parts of a reserve or decide request that evaluation reads. */
type ReserveLike = Pick<ReservationCreateRequest, 'idempotency_key' | 'subject' | 'action' | 'metadata' | 'estimate'>

interface BookView {
  book: Book
  scopes: string[]
  estimate: Amount
  ledgers: Array<Ledger | undefined>
  /** Set when no scope is budgeted in the unit but another unit exists there. */
  unitMismatch?: {scope: string; expected_units: Unit[]}
}

export class RuntimeService {
  private readonly store: Store
  private readonly classifier: TierClassifier
  private readonly control: () => TierControl
  private readonly now: () => number
  private readonly newId: () => string
  private readonly outage: StoreOutageFallback
  /** Scopes held by open reservations this daemon created (see reservationToFinalize). */
  private readonly openHolds = new Map<string, Holds>()

  constructor(deps: RuntimeDeps) {
    this.store = deps.store
    this.classifier = deps.classifier
    this.control = deps.control
    this.now = deps.now ?? Date.now
    this.newId = deps.newId ?? randomUUID
    const onStoreError = deps.onStoreError ?? (() => 'deny' as const)
    this.outage = new StoreOutageFallback({tierOf: (a) => this.tierOf(a), onStoreError, now: this.now, newId: this.newId})
  }

  // ---------------------------------------------------------------- entry points
  // Each runs against the store; while the store is unreachable, store-outage.ts answers instead
  // (admissions per tier mode and on_store_error; `unrecorded_…` reservations from their id).

  async reserve(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    return this.admitting('reserve', ctx, raw, () => this.reserveStored(ctx, raw))
  }

  async decide(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    return this.admitting('decide', ctx, raw, () => this.decideStored(ctx, raw))
  }

  async event(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    return this.admitting('event', ctx, raw, () => this.eventStored(ctx, raw))
  }

  async commit(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    return id.startsWith(UNRECORDED) ? this.outage.answerUnrecorded('commit', ctx, id, raw) : this.commitStored(ctx, id, raw)
  }

  async release(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    return id.startsWith(UNRECORDED) ? this.outage.answerUnrecorded('release', ctx, id, raw) : this.releaseStored(ctx, id, raw)
  }

  async extend(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    return id.startsWith(UNRECORDED) ? this.outage.answerUnrecorded('extend', ctx, id, raw) : this.extendStored(ctx, id, raw)
  }

  private async admitting(
    endpoint: 'reserve' | 'decide' | 'event',
    ctx: CallContext,
    raw: unknown,
    run: () => Promise<ServiceResponse>,
  ): Promise<ServiceResponse> {
    try {
      return await run()
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error
      return this.outage.admit(endpoint, ctx, raw, (error as Error).message)
    }
  }

  tierOf(action: Action): {tier: Tier; mode: Mode} {
    const tier = this.classifier.classify(action.kind)
    return {tier, mode: modeFor(this.control(), tier)}
  }

  // ---------------------------------------------------------------- reserve (live and dry-run)

  private async reserveStored(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    const req = parseRequest(reservationCreateRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const dryRun = req.dry_run ?? false
    const {tier, mode, facts, scopes, idemKey, hash} = this.begin('reserve', ctx, req, dryRun)

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await this.readAndEvaluate(ctx, scopes, req.estimate, idemKey, hash, facts, attempt === 0)
      if ('replay' in read) return read.replay
      const {tenant, real, realEval, shadowEval} = read
      const shadowHeaders = facts.would_decision === 'DENY' ? denyHeaders(facts.would_reason_code) : undefined

      const result = dryRun
        ? await this.dryRunResponse(req, real, realEval, shadowEval, scopes, idemKey, hash, facts)
        : await this.liveReserve(ctx, req, {tier, mode}, tenant, real, realEval, shadowEval, scopes, idemKey, hash, facts)
      if (result === 'retry') continue
      if (result === 'replay') return (await this.replay(idemKey, hash, facts))!
      if (shadowHeaders) result.headers = {...result.headers, ...shadowHeaders}
      return result
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget state changed too often during evaluation; retry with the same idempotency_key')
  }

  private async dryRunResponse(
    req: ReservationCreateRequest,
    real: BookView,
    realEval: ReserveEvaluation,
    shadowEval: ReserveEvaluation,
    scopes: {affected_scopes: string[]; scope_path: string},
    idemKey: string,
    hash: string,
    facts: RecordFacts,
  ): Promise<ServiceResponse | 'retry' | 'replay'> {
    if (real.unitMismatch) throw this.unitMismatch(real, req.estimate.unit, facts)
    const body: Record<string, unknown> = {decision: realEval.decision}
    if (realEval.decision === 'DENY') {
      body.reason_code = realEval.reason_code
      body.affected_scopes = scopes.affected_scopes
      body.scope_path = scopes.scope_path
    } else {
      if (realEval.caps) body.caps = realEval.caps
      body.affected_scopes = scopes.affected_scopes
      body.scope_path = scopes.scope_path
      body.reserved = req.estimate
    }
    facts.decision = realEval.decision
    if (realEval.reason_code) facts.reason_code = realEval.reason_code
    if (realEval.denied_scope && !facts.denied_scope) facts.denied_scope = realEval.denied_scope
    const text = realEval.decision === 'DENY' ? JSON.stringify(body) : jsonWithBalances(body, real.ledgers)
    const tx: Tx = {
      ...this.shadowCharge(shadowEval, req.estimate),
      idempotency: {key: idemKey, record: {hash, status: 200, body: text}, ttl_ms: IDEMPOTENCY_TTL_MS},
    }
    const applied = await this.store.apply(tx)
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
    scopes: {affected_scopes: string[]; scope_path: string},
    idemKey: string,
    hash: string,
    facts: RecordFacts,
  ): Promise<ServiceResponse | 'retry' | 'replay'> {
    const enforce = mode === 'enforce'
    if (enforce) {
      if (real.unitMismatch) throw this.unitMismatch(real, req.estimate.unit, facts)
      if (realEval.decision === 'DENY') {
        const {code} = liveErrorFor(realEval.reason_code!)
        facts.decision = 'DENY'
        facts.reason_code = code
        const message =
          code === 'NOT_FOUND'
            ? `Budget not found for provided scope: ${scopes.scope_path}`
            : `Reservation denied: ${realEval.reason_code} on scope ${realEval.denied_scope ?? scopes.scope_path}`
        const error = new ProtocolError(code as ProtocolError['code'], message)
        error.context = facts
        throw error
      }
    }
    const now = this.now()
    const ttl = Math.min(req.ttl_ms ?? tenant?.default_reservation_ttl_ms ?? DEFAULT_TTL_MS, tenant?.max_reservation_ttl_ms ?? DEFAULT_MAX_TTL_MS)
    const reservation: Reservation = {
      reservation_id: this.newId(),
      tenant: ctx.tenant,
      status: 'ACTIVE',
      subject: req.subject,
      action: req.action,
      reserved: req.estimate,
      scope_path: scopes.scope_path,
      affected_scopes: scopes.affected_scopes,
      real_scopes: enforce ? realEval.budgeted : [],
      shadow_scopes: shadowEval.decision === 'DENY' ? [] : shadowEval.budgeted,
      mode,
      tier,
      idempotency_key: req.idempotency_key,
      overage_policy: req.overage_policy ?? tenant?.default_commit_overage_policy ?? 'ALLOW_IF_AVAILABLE',
      created_at_ms: now,
      expires_at_ms: now + ttl,
      ttl_ms: ttl,
      grace_period_ms: req.grace_period_ms,
      extension_count: 0,
      max_extensions: tenant?.max_reservation_extensions ?? DEFAULT_MAX_EXTENSIONS,
      ...(req.metadata ? {metadata: req.metadata} : {}),
      ...runIds(req.subject, req.metadata),
      would_decision: facts.would_decision,
      ...(facts.would_reason_code ? {would_reason_code: facts.would_reason_code} : {}),
    }
    facts.overage_policy = reservation.overage_policy
    const hold = (book: Book, scopesHeld: string[]): LedgerDelta[] => holdDeltas(book, scopesHeld, req.estimate)
    const conditions: Condition[] = [
      ...(enforce ? admissionConditions(realEval) : []),
      ...(shadowEval.decision === 'DENY' ? [] : admissionConditions(shadowEval)),
    ]
    // The response is known before the write except for post-mutation balances; build it after.
    const decision: Decision = enforce ? realEval.decision : realEval.decision === 'ALLOW_WITH_CAPS' ? 'ALLOW_WITH_CAPS' : 'ALLOW'
    const tx: Tx = {
      conditions,
      deltas: [...hold('real', reservation.real_scopes), ...hold('shadow', reservation.shadow_scopes)],
      reservation: {value: reservation, expectStatus: 'absent'},
    }
    // Idempotency and the response body are written in the same transaction below; compute balances
    // from the pre-state plus our own hold, which is what the post-mutation snapshot shows.
    const budgetedReal = real.ledgers.filter((l): l is Ledger => l !== undefined)
    const postLedgers = projectLedgers(budgetedReal, hold('real', reservation.real_scopes))
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
    const applied = await this.store.apply(tx)
    if (!applied.ok) return applied.failed === 'idempotency' ? 'replay' : 'retry'
    this.rememberHolds(reservation)
    facts.decision = decision
    facts.reservation_id = reservation.reservation_id
    return {status: 200, body: text, record: facts}
  }

  // ---------------------------------------------------------------- decide

  private async decideStored(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    const req = parseRequest(decisionRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const {facts, scopes, idemKey, hash} = this.begin('decide', ctx, req, false)

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await this.readAndEvaluate(ctx, scopes, req.estimate, idemKey, hash, facts, attempt === 0)
      if ('replay' in read) return read.replay
      const {real, realEval, shadowEval} = read
      if (real.unitMismatch) throw this.unitMismatch(real, req.estimate.unit, facts)
      const body: Record<string, unknown> = {decision: realEval.decision}
      if (realEval.decision === 'ALLOW_WITH_CAPS') body.caps = realEval.caps
      if (realEval.reason_code) body.reason_code = realEval.reason_code
      body.affected_scopes = scopes.affected_scopes
      facts.decision = realEval.decision
      if (realEval.reason_code) facts.reason_code = realEval.reason_code
      const text = JSON.stringify(body)
      const applied = await this.store.apply({
        ...this.shadowCharge(shadowEval, req.estimate),
        idempotency: {key: idemKey, record: {hash, status: 200, body: text}, ttl_ms: IDEMPOTENCY_TTL_MS},
      })
      if (!applied.ok) {
        if (applied.failed === 'idempotency') return (await this.replay(idemKey, hash, facts))!
        continue
      }
      const response: ServiceResponse = {status: 200, body: text, record: facts}
      if (facts.would_decision === 'DENY') response.headers = denyHeaders(facts.would_reason_code)
      return response
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget state changed too often during evaluation; retry with the same idempotency_key')
  }

  // ---------------------------------------------------------------- commit / release / extend

  private async commitStored(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
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
      const [realLedgers, shadowLedgers] = held ?? (await this.heldBy(r))
      const args = {estimate: r.reserved.amount, actual: req.actual.amount, policy, kind: 'commit' as const}
      const realSettle = r.real_scopes.length > 0 ? settle({...args, ledgers: realLedgers}) : undefined
      if (realSettle && !realSettle.ok) {
        facts.decision = 'DENY'
        facts.reason_code = realSettle.code
        throw withContext(new ProtocolError(realSettle.code, `Commit rejected: ${realSettle.code} on scope ${realSettle.scope}`), facts)
      }
      const shadowSettle = r.shadow_scopes.length > 0 ? settle({...args, ledgers: shadowLedgers}) : undefined
      const tx: Tx = {conditions: [], deltas: []}
      if (realSettle?.ok) addSettlement(tx, 'real', realSettle)
      if (shadowSettle?.ok) addSettlement(tx, 'shadow', shadowSettle)
      else if (shadowSettle && !shadowSettle.ok) {
        // Under full enforcement this commit would have failed; the hold would have expired.
        tx.deltas!.push(...releaseHold('shadow', r.shadow_scopes, r.reserved))
        facts.would_decision = 'DENY'
        facts.would_reason_code = shadowSettle.code
        facts.denied_scope = shadowSettle.scope
      }
      const charged = realSettle?.ok ? realSettle.charged : req.actual.amount
      const body: Record<string, unknown> = {status: 'COMMITTED', charged: {unit: r.reserved.unit, amount: charged}}
      if (charged < r.reserved.amount) body.released = {unit: r.reserved.unit, amount: r.reserved.amount - charged}
      const realPost = realSettle?.ok ? projectLedgers(realLedgers, realSettle.deltas) : []
      if (realPost.length > 0) body.balances = balancesOf(realPost)
      const text = JSON.stringify(body)
      const now = this.now()
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
      const applied = await this.store.apply(tx)
      if (!applied.ok) continue
      this.openHolds.delete(id)
      facts.decision = 'ALLOW'
      return {status: 200, body: text, record: facts, headers: facts.would_decision === 'DENY' ? denyHeaders(facts.would_reason_code) : undefined}
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Reservation changed too often during commit; retry with the same idempotency_key')
  }

  private async releaseStored(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    const req: ReleaseRequest = parseRequest(releaseRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const hash = requestHash(req)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const open = await this.openToFinalize('release', ctx, id, req.idempotency_key, hash)
      if ('replay' in open) return open.replay
      const {r, facts, held} = open
      const [realLedgers] = held ?? (await this.heldBy(r))
      const deltas = [...releaseHold('real', r.real_scopes, r.reserved), ...releaseHold('shadow', r.shadow_scopes, r.reserved)]
      const body: Record<string, unknown> = {status: 'RELEASED', released: r.reserved}
      const realPost = projectLedgers(realLedgers, releaseHold('real', r.real_scopes, r.reserved))
      if (realPost.length > 0) body.balances = balancesOf(realPost)
      const text = JSON.stringify(body)
      const applied = await this.store.apply({
        deltas,
        reservation: {
          expectStatus: 'ACTIVE',
          value: {
            ...r,
            status: 'RELEASED',
            finalized_at_ms: this.now(),
            finalize: {endpoint: 'release', key: req.idempotency_key, hash, status: 200, body: text},
          },
        },
      })
      if (!applied.ok) continue
      this.openHolds.delete(id)
      facts.decision = 'ALLOW'
      return {status: 200, body: text, record: facts}
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Reservation changed too often during release; retry with the same idempotency_key')
  }

  private async extendStored(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    const req: ExtendRequest = parseRequest(extendRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const hash = requestHash(req)
    const idemKey = `${ctx.tenant}:extend:${id}:${req.idempotency_key}`
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const r = await this.ownedReservation(ctx, id)
      const facts = this.reservationFacts('extend', r)
      const replay = await this.replay(idemKey, hash, facts, r.status === 'ACTIVE' ? undefined : 0)
      if (replay) return replay
      await this.checkTenantOpen(ctx.tenant, facts)
      if (r.status === 'EXPIRED') throw withContext(new ProtocolError('RESERVATION_EXPIRED', `Reservation ${id} has expired`), facts)
      if (r.status !== 'ACTIVE') throw withContext(new ProtocolError('RESERVATION_FINALIZED', `Reservation ${id} is ${r.status}`), facts)
      const now = this.now()
      if (now > r.expires_at_ms) throw withContext(new ProtocolError('RESERVATION_EXPIRED', `Reservation ${id} expired at ${r.expires_at_ms}; extend is not allowed in the grace period`), facts)
      if (r.extension_count >= r.max_extensions) {
        throw withContext(new ProtocolError('MAX_EXTENSIONS_EXCEEDED', `Reservation ${id} was already extended ${r.extension_count} times`), facts)
      }
      const expires = r.expires_at_ms + req.extend_by_ms
      const realLedgers = await this.heldLedgers('real', r.real_scopes, r.reserved.unit)
      const body: Record<string, unknown> = {status: 'ACTIVE', expires_at_ms: expires, remaining_ttl_ms: Math.max(0, expires - now)}
      if (realLedgers.length > 0) body.balances = balancesOf(realLedgers)
      const text = JSON.stringify(body)
      const applied = await this.store.apply({
        reservation: {expectStatus: 'ACTIVE', value: {...r, expires_at_ms: expires, extension_count: r.extension_count + 1}},
        idempotency: {key: idemKey, record: {hash, status: 200, body: text, expires_at_ms: expires}, ttl_ms: Math.max(expires - now + r.grace_period_ms, 60_000)},
      })
      if (!applied.ok) continue
      facts.decision = 'ALLOW'
      return {status: 200, body: text, record: facts}
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Reservation changed too often during extend; retry with the same idempotency_key')
  }

  // ---------------------------------------------------------------- events (direct debit)

  private async eventStored(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    const req: EventCreateRequest = parseRequest(eventCreateRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const {tier, mode} = this.tierOf(req.action)
    const facts = baseFacts('event', req.subject, req.action, req.metadata, {tier, mode, dry_run: false})
    facts.unit = req.actual.unit
    facts.actual = req.actual.amount
    facts.overage_policy = req.overage_policy
    const scopes = scopesFor(ctx, req.subject, facts)
    Object.assign(facts, scopes)
    const idemKey = `${ctx.tenant}:event:${req.idempotency_key}`
    const hash = requestHash(req)
    const replay = await this.replay(idemKey, hash, facts)
    if (replay) return replay
    const policy = req.overage_policy
    const enforce = mode === 'enforce'

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      await this.checkTenantOpen(ctx.tenant, facts)
      const zero = {unit: req.actual.unit, amount: 0}
      const [real, shadow] = await Promise.all([
        this.view('real', scopes.affected_scopes, zero),
        this.view('shadow', scopes.affected_scopes, zero),
      ])
      const present = (v: BookView) => v.ledgers.filter((l): l is Ledger => l !== undefined)
      const args = {estimate: 0, actual: req.actual.amount, policy, kind: 'event' as const}
      const shadowSettle = present(shadow).length > 0 ? settle({...args, ledgers: present(shadow)}) : undefined
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
        if (real.unitMismatch) throw this.unitMismatch(real, req.actual.unit, facts)
        if (present(real).length === 0) {
          throw withContext(new ProtocolError('NOT_FOUND', `Budget not found for provided scope: ${scopes.scope_path}`), {...facts, decision: 'DENY', reason_code: 'NOT_FOUND'})
        }
        const realSettle = settle({...args, ledgers: present(real)})
        if (!realSettle.ok) {
          throw withContext(new ProtocolError(realSettle.code, `Event rejected: ${realSettle.code} on scope ${realSettle.scope}`), {...facts, decision: 'DENY', reason_code: realSettle.code})
        }
        addSettlement(tx, 'real', realSettle)
        charged = realSettle.charged
        realPost = projectLedgers(present(real), realSettle.deltas)
      }
      if (shadowSettle?.ok) addSettlement(tx, 'shadow', shadowSettle)
      const body: Record<string, unknown> = {status: 'APPLIED', event_id: this.newId()}
      if (charged !== req.actual.amount) body.charged = {unit: req.actual.unit, amount: charged}
      if (realPost.length > 0) body.balances = balancesOf(realPost)
      const text = JSON.stringify(body)
      tx.idempotency = {key: idemKey, record: {hash, status: 201, body: text}, ttl_ms: EVENT_IDEMPOTENCY_TTL_MS}
      const applied = await this.store.apply(tx)
      if (!applied.ok) {
        if (applied.failed === 'idempotency') return (await this.replay(idemKey, hash, facts))!
        continue
      }
      facts.decision = 'ALLOW'
      const response: ServiceResponse = {status: 201, body: text, record: facts}
      if (facts.would_decision === 'DENY') response.headers = denyHeaders(facts.would_reason_code)
      return response
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget state changed too often during the event; retry with the same idempotency_key')
  }

  // ---------------------------------------------------------------- reads

  async balances(ctx: CallContext, query: URLSearchParams): Promise<ServiceResponse> {
    const segments: string[] = []
    let any = false
    for (const level of SCOPE_LEVELS) {
      const value = query.get(level)
      if (value === null || value === '') continue
      any = true
      if (level === 'tenant' && value !== ctx.tenant) throw new ProtocolError('FORBIDDEN', 'tenant does not match the API key')
      if (!/^[a-zA-Z0-9_.-]+$/.test(value)) throw invalid(`Validation failed: ${level}: must match ^[a-zA-Z0-9_.-]+$`)
      segments.push(`${level}:${value.toLowerCase()}`)
    }
    if (!any) throw invalid('At least one subject filter (tenant, workspace, app, workflow, agent, toolset) is required')
    const limit = parseLimit(query.get('limit'))
    const ledgers = await this.store.listLedgers('real', {tenant: ctx.tenant, segments})
    const start = cursorOffset(query.get('cursor'))
    const page = ledgers.slice(start, start + limit)
    const body: Record<string, unknown> = {balances: balancesOf(page)}
    if (start + limit < ledgers.length) {
      body.next_cursor = encodeCursor(start + limit)
      body.has_more = true
    } else body.has_more = false
    return {status: 200, body: JSON.stringify(body)}
  }

  async listReservations(ctx: CallContext, query: URLSearchParams): Promise<ServiceResponse> {
    const tenantParam = query.get('tenant')
    if (tenantParam && tenantParam !== ctx.tenant) throw new ProtocolError('FORBIDDEN', 'tenant does not match the API key')
    const status = query.get('status') || undefined
    if (status && !['ACTIVE', 'COMMITTED', 'RELEASED', 'EXPIRED'].includes(status)) {
      throw invalid('Validation failed: status: expected ACTIVE, COMMITTED, RELEASED or EXPIRED')
    }
    const scopeSegments: string[] = []
    for (const level of SCOPE_LEVELS) {
      const value = query.get(level)
      if (level !== 'tenant' && value) scopeSegments.push(`${level}:${value.toLowerCase()}`)
    }
    const result = await this.store.listReservations({
      tenant: ctx.tenant,
      status: status as Reservation['status'] | undefined,
      idempotency_key: query.get('idempotency_key') || undefined,
      scopeSegments: scopeSegments.length > 0 ? scopeSegments : undefined,
      limit: parseLimit(query.get('limit')),
      cursor: query.get('cursor') || undefined,
    })
    const body: Record<string, unknown> = {reservations: result.reservations.map((r) => summaryOf(r))}
    if (result.next_cursor) body.next_cursor = result.next_cursor
    body.has_more = result.next_cursor !== undefined
    return {status: 200, body: JSON.stringify(body)}
  }

  async getReservation(ctx: CallContext, id: string): Promise<ServiceResponse> {
    const r = await this.ownedReservation(ctx, id)
    if (r.status === 'EXPIRED') throw new ProtocolError('RESERVATION_EXPIRED', `Reservation ${id} has expired`)
    const detail: Record<string, unknown> = summaryOf(r)
    if (r.metadata) detail.metadata = r.metadata
    if (r.committed_metadata) detail.committed_metadata = r.committed_metadata
    return {status: 200, body: JSON.stringify(detail)}
  }

  // ---------------------------------------------------------------- expiry sweep

  /** Expire ACTIVE reservations past expires_at + grace, returning their holds. Returns how many. */
  async expireDue(limit = 1000): Promise<number> {
    const now = this.now()
    const due = await this.store.dueForExpiry(now, limit)
    let expired = 0
    for (const r of due) {
      const applied = await this.store.apply({
        deltas: [...releaseHold('real', r.real_scopes, r.reserved), ...releaseHold('shadow', r.shadow_scopes, r.reserved)],
        reservation: {expectStatus: 'ACTIVE', value: {...r, status: 'EXPIRED', finalized_at_ms: now}},
      })
      if (applied.ok) {
        expired++
        this.openHolds.delete(r.reservation_id)
      }
    }
    return expired
  }

  // ---------------------------------------------------------------- helpers

  private reservationFacts(endpoint: RecordFacts['endpoint'], r: Reservation): RecordFacts {
    return {
      endpoint,
      dry_run: false,
      mode: r.mode,
      tier: r.tier,
      subject: r.subject,
      scope_path: r.scope_path,
      affected_scopes: r.affected_scopes,
      ...(r.run_id ? {run_id: r.run_id} : {}),
      ...(r.parent_run_id ? {parent_run_id: r.parent_run_id} : {}),
      action: {kind: r.action.kind, name: r.action.name},
      unit: r.reserved.unit,
      estimate: r.reserved.amount,
      reservation_id: r.reservation_id,
      overage_policy: r.overage_policy,
      decision: 'DENY',
      would_decision: r.shadow_scopes.length > 0 ? 'ALLOW' : 'DENY',
      ...(r.shadow_scopes.length === 0 && r.would_reason_code ? {would_reason_code: r.would_reason_code} : {}),
    }
  }

  /** What reserve and decide establish first: tier and mode, the record's facts, the scopes, the idempotency key and payload hash. */
  private begin(endpoint: 'reserve' | 'decide', ctx: CallContext, req: ReserveLike, dryRun: boolean) {
    const {tier, mode} = this.tierOf(req.action)
    const facts = baseFacts(endpoint, req.subject, req.action, req.metadata, {tier, mode, dry_run: dryRun})
    facts.unit = req.estimate.unit
    facts.estimate = req.estimate.amount
    const scopes = scopesFor(ctx, req.subject, facts)
    Object.assign(facts, scopes)
    return {tier, mode, facts, scopes, idemKey: `${ctx.tenant}:${endpoint}:${req.idempotency_key}`, hash: requestHash(req)}
  }

  /**
   * Read the tenant and both books and evaluate the estimate against each; the would-be decision
   * goes into `facts`. On a first attempt the idempotency lookup goes out with the reads (one round
   * trip with a remote store), and a replay simply discards them.
   */
  private async readAndEvaluate(
    ctx: CallContext,
    scopes: {affected_scopes: string[]},
    estimate: Amount,
    idemKey: string,
    hash: string,
    facts: RecordFacts,
    lookUpReplay: boolean,
  ): Promise<{replay: ServiceResponse} | {tenant: Tenant | undefined; real: BookView; realEval: ReserveEvaluation; shadowEval: ReserveEvaluation}> {
    const [replay, tenant, real, shadow] = await Promise.all([
      lookUpReplay ? this.replay(idemKey, hash, facts) : undefined,
      this.store.getTenant(ctx.tenant),
      this.view('real', scopes.affected_scopes, estimate),
      this.view('shadow', scopes.affected_scopes, estimate),
    ])
    if (replay) return {replay}
    const realEval = this.finish(real, tenant)
    const shadowEval = this.finish(shadow, tenant)
    Object.assign(facts, wouldOf(shadow, shadowEval))
    return {tenant, real, realEval, shadowEval}
  }

  private async view(book: Book, scopes: string[], estimate: Amount): Promise<BookView> {
    const ledgers = await this.store.getLedgers(book, scopes, estimate.unit)
    const view: BookView = {book, scopes, estimate, ledgers}
    if (ledgers.every((l) => l === undefined)) {
      const units = await this.store.unitsAt(book, scopes)
      const other = units.find((u) => u.units.some((x) => x !== estimate.unit))
      if (other) view.unitMismatch = {scope: other.scope, expected_units: other.units.filter((x) => x !== estimate.unit)}
    }
    return view
  }

  private finish(view: BookView, tenant: Tenant | undefined): ReserveEvaluation {
    return evaluateReserve({
      tenant,
      affected_scopes: view.scopes,
      unit: view.estimate.unit,
      estimate: view.estimate.amount,
      ledgers: view.ledgers,
      book: view.book,
    })
  }

  private unitMismatch(view: BookView, unit: Unit, facts: RecordFacts): ProtocolError {
    const m = view.unitMismatch!
    facts.decision = 'DENY'
    facts.reason_code = 'UNIT_MISMATCH'
    return withContext(
      new ProtocolError('UNIT_MISMATCH', `No budget in ${unit} for scope ${m.scope}; budgets exist in ${m.expected_units.join(', ')}`, {
        scope: m.scope,
        requested_unit: unit,
        expected_units: m.expected_units,
      }),
      facts,
    )
  }

  /** Debit the shadow ledger with the estimate of a would-be-allowed dry-run or decide. */
  private shadowCharge(shadowEval: ReserveEvaluation, estimate: Amount): Pick<Tx, 'conditions' | 'deltas'> {
    if (shadowEval.decision === 'DENY' || estimate.amount === 0) return {}
    return {conditions: admissionConditions(shadowEval), deltas: chargeDeltas(shadowEval, estimate)}
  }

  private async replay(key: string, hash: string, facts: RecordFacts, forceRemainingTtl?: number): Promise<ServiceResponse | undefined> {
    const record = await this.store.getIdempotency(key)
    if (!record) return undefined
    if (record.hash !== hash) {
      throw withContext(new ProtocolError('IDEMPOTENCY_MISMATCH', 'idempotency_key was already used with a different request payload'), {
        ...facts,
        decision: 'DENY',
        reason_code: 'IDEMPOTENCY_MISMATCH',
      })
    }
    return {status: record.status, body: this.refreshTtl(record, forceRemainingTtl)}
  }

  /** remaining_ttl_ms is recomputed on replays of create and extend; everything else is verbatim. */
  private refreshTtl(record: IdempotencyRecord, force?: number): string {
    if (record.expires_at_ms === undefined) return record.body
    const body = JSON.parse(record.body) as Record<string, unknown>
    if (!('remaining_ttl_ms' in body)) return record.body
    body.remaining_ttl_ms = force ?? Math.max(0, record.expires_at_ms - this.now())
    return JSON.stringify(body)
  }

  private async ownedReservation(ctx: CallContext, id: string): Promise<Reservation> {
    if (id.length === 0 || id.length > 128) throw invalid('Validation failed: reservation_id: 1 to 128 characters')
    const r = await this.store.getReservation(id)
    if (!r) throw new ProtocolError('NOT_FOUND', `Reservation ${id} not found`)
    if (r.tenant !== ctx.tenant) throw new ProtocolError('FORBIDDEN', 'Reservation belongs to another tenant')
    return r
  }

  /** A reservation already committed or released: replay, mismatch or finalized. */
  private finalized(r: Reservation, endpoint: 'commit' | 'release', key: string, hash: string, facts: RecordFacts): ServiceResponse | undefined {
    if (r.status === 'ACTIVE') return undefined
    if (r.finalize && r.finalize.endpoint === endpoint && r.finalize.key === key) {
      if (r.finalize.hash !== hash) {
        throw withContext(new ProtocolError('IDEMPOTENCY_MISMATCH', 'idempotency_key was already used with a different request payload'), facts)
      }
      return {status: r.finalize.status, body: r.finalize.body}
    }
    if (r.status === 'EXPIRED') throw withContext(new ProtocolError('RESERVATION_EXPIRED', `Reservation ${r.reservation_id} has expired`), facts)
    throw withContext(new ProtocolError('RESERVATION_FINALIZED', `Reservation ${r.reservation_id} is already ${r.status}`), facts)
  }

  private checkWindow(r: Reservation, what: string, facts: RecordFacts): void {
    if (this.now() > r.expires_at_ms + r.grace_period_ms) {
      throw withContext(new ProtocolError('RESERVATION_EXPIRED', `Reservation ${r.reservation_id} expired; ${what} is past expires_at_ms + grace_period_ms`), facts)
    }
  }

  private async checkTenantOpen(tenantId: string, facts: RecordFacts): Promise<void> {
    assertTenantOpen(await this.store.getTenant(tenantId), tenantId, facts)
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
    const facts = this.reservationFacts(endpoint, r)
    addFacts?.(facts)
    const replay = this.finalized(r, endpoint, key, hash, facts)
    if (replay) return {replay}
    this.checkWindow(r, endpoint, facts)
    assertTenantOpen(tenant, r.tenant, facts)
    return {r, facts, held}
  }

  /**
   * The reservation to commit or release, its tenant, and — when this daemon created it — the
   * ledgers it holds, all read in one round trip to the store instead of three. `held` is set only
   * when the remembered scopes are the reservation's (they never change once it exists).
   */
  private async reservationToFinalize(ctx: CallContext, id: string): Promise<{r: Reservation; tenant: Tenant | undefined; held?: [Ledger[], Ledger[]]}> {
    const known = this.openHolds.get(id)
    const [r, tenant, held] = await Promise.all([
      this.ownedReservation(ctx, id),
      this.store.getTenant(ctx.tenant),
      known ? this.heldBy(known) : undefined,
    ])
    const usable = held && r.status === 'ACTIVE' && sameHolds(known!, r)
    return {r, tenant, held: usable ? held : undefined}
  }

  /** The real and the shadow ledgers a reservation holds. */
  private heldBy(r: Holds): Promise<[Ledger[], Ledger[]]> {
    return Promise.all([this.heldLedgers('real', r.real_scopes, r.reserved.unit), this.heldLedgers('shadow', r.shadow_scopes, r.reserved.unit)])
  }

  private rememberHolds(r: Reservation): void {
    // Bounded: reservations that another instance finalizes, or that expire elsewhere, are dropped in bulk.
    if (this.openHolds.size >= MAX_OPEN_HOLDS) this.openHolds.clear()
    this.openHolds.set(r.reservation_id, {real_scopes: r.real_scopes, shadow_scopes: r.shadow_scopes, reserved: r.reserved})
  }

  private async heldLedgers(book: Book, scopes: string[], unit: Unit): Promise<Ledger[]> {
    if (scopes.length === 0) return []
    const ledgers = await this.store.getLedgers(book, scopes, unit)
    return ledgers.filter((l): l is Ledger => l !== undefined)
  }
}

function assertTenantOpen(tenant: Tenant | undefined, tenantId: string, facts: RecordFacts): void {
  if (tenant?.status === 'CLOSED') {
    throw withContext(new ProtocolError('TENANT_CLOSED', `Tenant ${tenantId} is closed`), {...facts, decision: 'DENY', reason_code: 'TENANT_CLOSED'})
  }
}

function sameHolds(a: Holds, b: Holds): boolean {
  return a.reserved.unit === b.reserved.unit && sameList(a.real_scopes, b.real_scopes) && sameList(a.shadow_scopes, b.shadow_scopes)
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function withBook(book: Book, conditions: Condition[]): Condition[] {
  return conditions.map((c) => ({...c, book}))
}

function wouldOf(view: BookView, evaluation: ReserveEvaluation): Pick<RecordFacts, 'would_decision' | 'would_reason_code' | 'denied_scope'> {
  return wouldOutcome(view.unitMismatch !== undefined, evaluation)
}

function addSettlement(tx: Tx, book: Book, s: Extract<ReturnType<typeof settle>, {ok: true}>): void {
  tx.conditions!.push(...withBook(book, s.conditions))
  tx.deltas!.push(...s.deltas.map((d) => ({...d, book})))
}

/** The ledgers as they will be after `deltas` (for post-mutation balances in the response). */
function projectLedgers(ledgers: Ledger[], deltas: Array<Omit<LedgerDelta, 'book'>>): Ledger[] {
  return ledgers.map((l) => {
    const d = deltas.find((x) => x.scope === l.scope && x.unit === l.unit)
    return d ? (applyDelta(l, {...d, book: 'real'}, l.updated_at_ms ?? 0) ?? l) : l
  })
}
