// What the runtime-plane paths share: the dependencies, the reservations this daemon holds, and the
// reads and checks more than one endpoint makes (replays, ledger views, ownership, tenant state).
import {randomUUID} from 'node:crypto'

import {type RecordFacts} from '../decision-log/record.js'
import type {ScopeFilter} from '../admin/permissions.js'
import type {PlannedSettlement} from '../evaluator/settle.js'
import {releaseRealHold} from '../evaluator/real-book.js'
import {TierClassifier, enforcePercentFor, modeFor, requestMode} from '../evaluator/tiers.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {type ReservationCreateRequest} from '../protocol/requests.js'
import {
  type Action,
  type Amount,
  type Book,
  type Ledger,
  type Mode,
  type Reservation,
  type Tenant,
  type Tier,
  type Unit,
} from '../protocol/types.js'
import {releaseHold as releaseShadowHold} from '../evaluator/shadow-book.js'
import {applyDelta} from '../store/ledger-math.js'
import type {Condition, IdempotencyRecord, LedgerDelta, Store, TierControl, Tx, TxResult} from '../store/types.js'
import type {ApprovalGate} from '../policies/approval.js'
import {NO_APPROVAL_GATE} from '../policies/approval.js'
import type {SelectedPolicy} from '../policies/match.js'
import {type PolicySet, currentPolicies, governingPolicy} from '../policies/policy-set.js'
import {QUOTA_COUNTERS_COLLECTION, type WireVersion} from '../policies/types.js'
import {withContext} from './request-facts.js'

export const DEFAULT_TTL_MS = 60_000
export const DEFAULT_MAX_TTL_MS = 3_600_000
export const DEFAULT_MAX_EXTENSIONS = 10
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000
export const EVENT_IDEMPOTENCY_TTL_MS = 7 * 24 * 3_600_000
/** Attempts when the ledger moved between evaluation and write (optimistic retry). */
export const MAX_ATTEMPTS = 16
export const MAX_OPEN_HOLDS = 100_000

export interface CallContext {
  request_id: string
  trace_id: string
  /** Effective tenant (from the API key, or the `tenant` parameter for admin-on-behalf-of). */
  tenant: string
  /** X-Idempotency-Key header, when sent. */
  headerIdempotencyKey?: string
  /** Authenticated with the admin key (release, list, get). */
  admin?: boolean
  /** The tenant key's scope filter, when it has one: scopes outside it are 403 or left out of lists. */
  scopeFilter?: ScopeFilter
  /** '0.1.26' when the client sent X-Cycles-Protocol-Version: 0.1.26 (or later): deny_detail goes on its denials. */
  wireVersion?: WireVersion
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
  /** Told of each reservation the expiry sweep expired (reservation.expired). */
  onExpired?: (r: Reservation) => void
  /** The approval gate policies' approval_required_action_kinds consult (src/approvals/gate.ts); absent, such kinds are denied. */
  approvalGate?: ApprovalGate
}

/** What a reservation holds, and where. */
export type Holds = Pick<Reservation, 'real_scopes' | 'real_held' | 'shadow_scopes' | 'reserved'>

/** The parts of a reserve or decide request that evaluation reads. */
export type ReserveLike = Pick<ReservationCreateRequest, 'idempotency_key' | 'subject' | 'action' | 'metadata' | 'estimate'>

export interface BookView {
  book: Book
  scopes: string[]
  estimate: Amount
  ledgers: Array<Ledger | undefined>
  /** Set when no scope is budgeted in the unit but another unit exists there. */
  unitMismatch?: {scope: string; expected_units: Unit[]}
}
export class RuntimeCore {
  readonly store: Store
  readonly classifier: TierClassifier
  readonly control: () => TierControl
  readonly now: () => number
  readonly newId: () => string
  readonly approvalGate: ApprovalGate
  /** Scopes held by open reservations this daemon created (see FinalizePath.reservationToFinalize). */
  readonly openHolds = new Map<string, Holds>()
  readonly onExpired: (r: Reservation) => void

  constructor(deps: RuntimeDeps) {
    this.store = deps.store
    this.classifier = deps.classifier
    this.control = deps.control
    this.now = deps.now ?? Date.now
    this.newId = deps.newId ?? randomUUID
    this.onExpired = deps.onExpired ?? (() => {})
    this.approvalGate = deps.approvalGate ?? NO_APPROVAL_GATE
  }

  /** The policies in force (cached per store; see policies/policy-set.ts). */
  policies(): PolicySet | Promise<PolicySet> {
    return currentPolicies(this.store, this.now())
  }

  /** The governing policy of a reservation's scopes now (commit rate limits). */
  async policyFor(tenant: string, affectedScopes: string[]): Promise<SelectedPolicy | undefined> {
    return governingPolicy(await this.policies(), tenant, affectedScopes, this.now())
  }

  /**
   * Per_run quota counters come back down by one at release and expiry (cycles-action-kinds PER_RUN
   * COUNTER LIFECYCLE). Counters already expired or reset to 0 are left alone: the guard keeps a
   * counter from going below zero, and a failed guard makes the caller read and plan again.
   */
  async perRunDecrements(r: Pick<Reservation, 'per_run_counters'>): Promise<Pick<Tx, 'docs' | 'docConditions'>> {
    const ids = r.per_run_counters
    if (!ids || ids.length === 0) return {}
    const docs = await this.store.getDocs(QUOTA_COUNTERS_COLLECTION, ids)
    const live = ids.filter((_, i) => typeof docs[i]?.value.used === 'number' && (docs[i]!.value.used as number) >= 1)
    if (live.length === 0) return {}
    return {
      docs: live.map((id) => ({collection: QUOTA_COUNTERS_COLLECTION, id, add: {used: -1}})),
      docConditions: live.map((id) => ({collection: QUOTA_COUNTERS_COLLECTION, id, field: 'used', op: 'gte' as const, value: 1})),
    }
  }

  /** The tier of an action and the tier's effective mode (before the ramp: see modeOfRequest). */
  tierOf(action: Action): {tier: Tier; mode: Mode} {
    const tier = this.classifier.classify(action.kind)
    return {tier, mode: modeFor(this.control(), tier)}
  }

  /** The mode one request gets (kill switch, tier mode, enforcement ramp by run) and the tier's percent. */
  modeOfRequest(tenant: string, tier: Tier, run_id: string | undefined, scope_path: string): {mode: Mode; enforce_percent: number} {
    const control = this.control()
    return {mode: requestMode(control, tier, {tenant, run_id, scope_path}), enforce_percent: enforcePercentFor(control, tier)}
  }

  reservationFacts(endpoint: RecordFacts['endpoint'], r: Reservation): RecordFacts {
    return {
      endpoint,
      dry_run: false,
      mode: r.mode,
      tier: r.tier,
      ...(r.enforce_percent === undefined ? {} : {enforce_percent: r.enforce_percent}),
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

  async view(book: Book, scopes: string[], estimate: Amount): Promise<BookView> {
    const ledgers = await this.store.getLedgers(book, scopes, estimate.unit)
    const view: BookView = {book, scopes, estimate, ledgers}
    if (ledgers.every((l) => l === undefined)) {
      const units = await this.store.unitsAt(book, scopes)
      const other = units.find((u) => u.units.some((x) => x !== estimate.unit))
      if (other) view.unitMismatch = {scope: other.scope, expected_units: other.units.filter((x) => x !== estimate.unit)}
    }
    return view
  }

  unitMismatch(view: BookView, unit: Unit, facts: RecordFacts): ProtocolError {
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

  async replay(key: string, hash: string, facts: RecordFacts, forceRemainingTtl?: number): Promise<ServiceResponse | undefined> {
    const record = await this.store.getIdempotency(key)
    if (!record) return undefined
    if (record.hash !== hash) {
      throw withContext(new ProtocolError('IDEMPOTENCY_MISMATCH', 'idempotency_key was already used with a different request payload'), {
        ...facts,
        decision: 'DENY',
        reason_code: 'IDEMPOTENCY_MISMATCH',
      })
    }
    // A reservation committed, released or expired since has no time left, whatever its TTL said.
    let force = forceRemainingTtl
    if (force === undefined && record.reservation_id !== undefined) {
      const reservation = await this.store.getReservation(record.reservation_id)
      if (reservation && reservation.status !== 'ACTIVE') force = 0
    }
    return {status: record.status, body: this.refreshTtl(record, force)}
  }

  /** remaining_ttl_ms is recomputed on replays of create and extend; everything else is verbatim. */
  refreshTtl(record: IdempotencyRecord, force?: number): string {
    if (record.expires_at_ms === undefined) return record.body
    const body = JSON.parse(record.body) as Record<string, unknown>
    if (!('remaining_ttl_ms' in body)) return record.body
    body.remaining_ttl_ms = force ?? Math.max(0, record.expires_at_ms - this.now())
    return JSON.stringify(body)
  }

  async ownedReservation(ctx: CallContext, id: string): Promise<Reservation> {
    if (id.length === 0 || id.length > 128) throw invalid('Validation failed: reservation_id: 1 to 128 characters')
    const r = await this.store.getReservation(id)
    // Another tenant's reservation is answered exactly as an unknown id: a 403 would confirm it exists.
    if (!r || r.tenant !== ctx.tenant) throw new ProtocolError('NOT_FOUND', `Reservation ${id} not found`)
    if (ctx.scopeFilter && !ctx.scopeFilter.allows(r.scope_path)) {
      throw new ProtocolError('FORBIDDEN', `Reservation ${id} is at ${r.scope_path}, outside the API key's scope_filter [${ctx.scopeFilter.entries.join(', ')}]`)
    }
    return r
  }

  async checkTenantOpen(tenantId: string, facts: RecordFacts): Promise<void> {
    assertTenantOpen(await this.store.getTenant(tenantId), tenantId, facts)
  }

  /** The real and the shadow ledgers a reservation holds. */
  heldBy(r: Holds): Promise<[Ledger[], Ledger[]]> {
    return Promise.all([this.heldLedgers('real', r.real_scopes, r.reserved.unit), this.heldLedgers('shadow', r.shadow_scopes, r.reserved.unit)])
  }

  rememberHolds(r: Reservation): void {
    // Bounded: reservations that another instance finalizes, or that expire elsewhere, are dropped in bulk.
    if (this.openHolds.size >= MAX_OPEN_HOLDS) this.openHolds.clear()
    this.openHolds.set(r.reservation_id, {real_scopes: r.real_scopes, real_held: r.real_held, shadow_scopes: r.shadow_scopes, reserved: r.reserved})
  }

  async heldLedgers(book: Book, scopes: string[], unit: Unit): Promise<Ledger[]> {
    if (scopes.length === 0) return []
    const ledgers = await this.store.getLedgers(book, scopes, unit)
    return ledgers.filter((l): l is Ledger => l !== undefined)
  }
}

export function assertTenantOpen(tenant: Tenant | undefined, tenantId: string, facts: RecordFacts): void {
  if (tenant?.status === 'CLOSED') {
    throw withContext(new ProtocolError('TENANT_CLOSED', `Tenant ${tenantId} is closed`), {...facts, decision: 'DENY', reason_code: 'TENANT_CLOSED'})
  }
}

export function withBook(book: Book, conditions: Condition[]): Condition[] {
  return conditions.map((c) => ({...c, book}))
}

export {releaseHold} from '../evaluator/shadow-book.js'

/** A release or expiry: the reservation's holds come back in both books. */
export function releaseBoth(r: Holds): LedgerDelta[] {
  return [...releaseRealHold(r), ...releaseShadowHold('shadow', r.shadow_scopes, r.reserved)]
}

/**
 * Add a settlement's conditions, deltas and overage charge for `book` to the transaction. Over an
 * overdraft limit the real book fails the write; the shadow book only releases its hold.
 */
export function addSettlement(tx: Tx, book: Book, s: Extract<PlannedSettlement, {ok: true}>): void {
  tx.conditions!.push(...withBook(book, s.conditions))
  if (!s.overage) {
    tx.deltas!.push(...s.deltas.map((d) => ({...d, book})))
    return
  }
  if (book === 'real') (tx.overage ??= []).push({...s.overage, book, onLimit: 'fail'})
  else {
    // Only the real book's charge is stated in the response: the shadow book's need not match a prediction.
    const {expectExtra: _unstated, ...charge} = s.overage
    ;(tx.overage ??= []).push({...charge, book, onLimit: 'release'})
  }
}

/** The scope where the shadow book's overage went over an overdraft limit (its hold was released), if it did. */
export function shadowLimitScope(tx: Tx, applied: TxResult): string | undefined {
  const at = tx.overage?.findIndex((o) => o.book === 'shadow') ?? -1
  return at >= 0 && applied.ok ? applied.overage?.[at]?.limitScope : undefined
}

/** A write refused because the real book's overage would pass an overdraft limit (checked at the write). */
export function overdraftError(applied: TxResult, facts: RecordFacts, what: string): ProtocolError | undefined {
  if (applied.ok || applied.failed !== 'overdraft') return undefined
  return withContext(new ProtocolError('OVERDRAFT_LIMIT_EXCEEDED', `${what} rejected: OVERDRAFT_LIMIT_EXCEEDED on scope ${applied.detail}`), {
    ...facts,
    decision: 'DENY',
    reason_code: 'OVERDRAFT_LIMIT_EXCEEDED',
  })
}

/** The ledgers as they will be after `deltas` (for post-mutation balances in the response). */
export function projectLedgers(ledgers: Ledger[], deltas: Array<Omit<LedgerDelta, 'book'>>): Ledger[] {
  return ledgers.map((l) => {
    const d = deltas.find((x) => x.scope === l.scope && x.unit === l.unit)
    return d ? (applyDelta(l, {...d, book: 'real'}, l.updated_at_ms ?? 0) ?? l) : l
  })
}
