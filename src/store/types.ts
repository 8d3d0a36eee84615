// The one store interface. Both the embedded store and the Redis store implement it, and one
// contract suite (test/store-contract) runs against both.
//
// Writes go through apply(tx): a transaction of guarded changes that the store applies all-or-nothing.
// The evaluator decides (pure TypeScript); the store only checks the conditions the decision rested
// on and writes. That keeps one evaluator while every multi-scope check-and-write stays atomic
// (a Lua script in Redis, a synchronous critical section in the embedded store).
import type {ApiKey, Book, Ledger, Mode, Reservation, ReservationStatus, Tenant, Tier, Unit} from '../protocol/types.js'

export type LedgerField = 'status' | 'is_over_limit' | 'remaining' | 'reserved' | 'spent' | 'debt' | 'allocated' | 'overdraft_limit'

/** A predicate on one ledger's current value. A missing ledger fails every condition. */
export interface Condition {
  book?: Book
  scope: string
  unit: Unit
  field: LedgerField
  op: 'eq' | 'gte' | 'lte'
  value: number | string | boolean
}

export type AddableField = 'allocated' | 'spent' | 'reserved' | 'debt'

/**
 * A change to one existing ledger. `add` moves counters; `remaining` is derived by the store so the
 * invariant remaining = allocated - spent - reserved - debt always holds. `set` overwrites flags.
 */
export interface LedgerDelta {
  book: Book
  scope: string
  unit: Unit
  add?: Partial<Record<AddableField, number>>
  set?: Partial<Pick<Ledger, 'is_over_limit' | 'status' | 'overdraft_limit' | 'caps' | 'commit_overage_policy' | 'allocated' | 'spent' | 'debt'>>
}

/**
 * The part of a commit or event above its estimate, settled against the ledgers as they are when the
 * transaction runs, so it needs no condition on their earlier values (concurrent commits do not make
 * it fail). settle.ts decides the parameters; both stores apply them with ledger-math.overageOutcome
 * (mirrored in the Redis apply script):
 * - extra = min(over, max(0, smallest remaining of the capping ledgers)), or `over` when none caps;
 * - every ledger: reserved -= estimate;
 * - a capping ledger: spent += estimate + extra, and is_over_limit = true when max(0, remaining) < over;
 * - a debt ledger: covered = min(over, max(0, remaining)); spent += estimate + covered, debt += over - covered;
 *   when its debt would then pass overdraft_limit the settlement is over the limit (see onLimit).
 */
export interface OverageCharge {
  book: Book
  unit: Unit
  /** In settle order (root first); debt: the shortfall becomes debt instead of being capped. */
  ledgers: Array<{scope: string; debt: boolean}>
  /** The held estimate. */
  estimate: number
  /** actual - estimate, > 0. */
  over: number
  /** The extra the caller's response states: the transaction fails with 'settlement' (detail: the extra as it is now) when it differs. */
  expectExtra?: number
  /** Over an overdraft limit: 'fail' the transaction ('overdraft', detail: the scope), or 'release' only the hold and report the scope. */
  onLimit: 'fail' | 'release'
}

/** What the store did with one OverageCharge. */
export interface OverageResult {
  extra: number
  /** Set when a debt ledger would have passed its overdraft limit (onLimit 'release': only the hold was released). */
  limitScope?: string
}

export interface IdempotencyRecord {
  /** sha256 of the canonical request payload. */
  hash: string
  status: number
  /** The verbatim response body sent the first time. */
  body: string
  reservation_id?: string
  /** For responses whose remaining_ttl_ms is recomputed on replay. */
  expires_at_ms?: number
}

export interface TierControl {
  tiers: Record<Tier, Mode>
  /**
   * Per tier, the share (0–100) of runs enforced while the tier is in enforce mode; the rest are
   * shadowed. Absent (older records) means 100.
   */
  enforce_percent?: Partial<Record<Tier, number>>
  /** Per tier, when its mode or percent last changed. */
  tier_changed_at_ms?: Partial<Record<Tier, number>>
  killswitch: {
    engaged: boolean
    reason?: string
    actor?: string
    changed_at_ms?: number
    /** While engaged: every engage call (the first one's reason stays `reason`). */
    engagements?: Array<{reason: string; actor?: string; at_ms: number}>
  }
  /** Rollout bookkeeping (`cycles rollout`, the daemon's guard), kept with the modes it explains. */
  rollout?: RolloutControl
  /** Bumped on every change, so instances can tell a newer control record from an older one. */
  version: number
}

/** What `cycles rollout` and the auto-rollback guard record next to the tier modes. */
export interface RolloutControl {
  /** Per tier: the shadow would-deny rate when its current enforce step was applied (the guard's baseline). */
  baselines?: Partial<Record<Tier, {denial_rate: number; at_ms: number; requests?: number}>>
  /** Steps of the active plan applied so far. */
  applied_steps?: Array<{
    plan_id: string
    step: number
    at_ms: number
    actor?: string
    reason?: string
    forced?: boolean
    tier?: Tier
    mode?: Mode
    enforce_percent?: number
  }>
  /** The last guard trip per tier, with the figures that tripped it. */
  guard_trips?: Partial<Record<Tier, GuardTripRecord>>
}

/** What the auto-rollback guard recorded when it sent a tier back to shadow. */
export interface GuardTripRecord {
  at_ms: number
  denial_rate: number
  baseline: number
  requests: number
  reason: string
  /** 'denial_rate': sustained denials; 'budget_frozen': a budget nobody froze answered BUDGET_FROZEN. */
  kind?: 'denial_rate' | 'budget_frozen'
  denials?: number
  threshold?: number
  window_seconds?: number
  /** The budget (scope and unit) of a budget_frozen trip. */
  scope?: string
  unit?: string
  /** The daemon instance that tripped. */
  instance?: string
}

export interface AuditEntry {
  log_id: string
  timestamp_ms: number
  tenant_id?: string
  key_id?: string
  actor_type?: string
  operation: string
  resource_type?: string
  resource_id?: string
  status: number
  error_code?: string
  request_id?: string
  trace_id?: string
  source_ip?: string
  user_agent?: string
  metadata?: Record<string, unknown>
  /** Hash chain (integrity/audit-chain.ts), on rows of successful writes: position, predecessor's hash, own hash. */
  chain_seq?: number
  prev_hash?: string
  hash?: string
}

/**
 * A record of a named collection, for state that is not a ledger: events, webhook subscriptions and
 * their delivery queue, policies, approval grants, action-quota and rate-limit counters, period
 * markers. One mechanism in both stores instead of a new key family per feature.
 */
export interface StoredDoc {
  collection: string
  id: string
  /** 1 on create, bumped by every write (optimistic concurrency: DocWrite.expectVersion). */
  version: number
  /** Any JSON object. */
  value: Record<string, unknown>
  /** The store forgets the doc after this time (ms since epoch); reads never return an expired doc. */
  expires_at_ms?: number
}

/** A change to one doc, applied with the rest of the transaction, all or nothing. */
export interface DocWrite {
  collection: string
  id: string
  /** Replace the whole value (creates the doc when absent). */
  set?: Record<string, unknown>
  /** Add to numeric top-level fields (a missing doc is created as {}, a missing field counts 0); after `set`. */
  add?: Record<string, number>
  /** Remove the doc (nothing else may be given). */
  delete?: true
  /** Fail the transaction with 'doc' (detail `collection/id`) unless the current version is this (0 = absent). */
  expectVersion?: number
  /** New absolute expiry; omitted keeps the doc's current one. */
  expires_at_ms?: number
}

/** A predicate on a numeric top-level field of a doc (a missing doc or field counts 0). Fails as 'condition'. */
export interface DocCondition {
  collection: string
  id: string
  field: string
  op: 'lt' | 'lte' | 'gte' | 'eq'
  value: number
}

export interface DocListOptions {
  /** Only ids starting with this. */
  prefix?: string
  /** Ids strictly after this one (ascending order) or strictly before it (descending). */
  after?: string
  /** Newest (largest id) first. */
  descending?: boolean
  /** At most this many (default 100). */
  limit?: number
}

export interface Tx {
  /** Every condition must hold, else nothing at all is applied. */
  conditions?: Condition[]
  /** Checked with `conditions`, before anything is written. */
  docConditions?: DocCondition[]
  /** Doc writes, in order, after the ledger writes. */
  docs?: DocWrite[]
  deltas?: LedgerDelta[]
  /** Applied after `deltas`, against the ledgers as they are then. */
  overage?: OverageCharge[]
  /** New ledgers; the transaction fails with 'exists' if one is already there. */
  createLedgers?: Array<Ledger & {book: Book}>
  /** Upsert a reservation, optionally only if its current status is `expectStatus` ('absent' = new). */
  reservation?: {value: Reservation; expectStatus?: ReservationStatus | 'absent'}
  /** Set-if-absent; the transaction fails with 'idempotency' if the key is taken. */
  idempotency?: {key: string; record: IdempotencyRecord; ttl_ms: number}
  tenants?: Tenant[]
  apiKeys?: ApiKey[]
  audit?: AuditEntry[]
  control?: TierControl
  /**
   * Ask for the post-state of the touched ledgers in `TxResult.ledgers` (empty otherwise: building it
   * costs a map per transaction, and on Redis encoding and decoding each ledger); a book name asks
   * for that book's ledgers only (the event watch reads the real book alone).
   */
  returnLedgers?: boolean | Book
}

export type TxFailure = 'condition' | 'doc' | 'idempotency' | 'reservation' | 'exists' | 'missing' | 'overflow' | 'settlement' | 'overdraft'

export type TxResult =
  | {
      ok: true
      /** Post-state of every ledger the transaction touched, keyed `${book}|${scope}|${unit}` (see Tx.returnLedgers). */
      ledgers: Map<string, Ledger>
      /** One per Tx.overage entry, in order. */
      overage?: OverageResult[]
    }
  | {ok: false; failed: TxFailure; detail?: string}

export const ledgerKey = (book: Book, scope: string, unit: Unit) => `${book}|${scope}|${unit}`

export interface ReservationFilter {
  tenant?: string
  status?: ReservationStatus
  idempotency_key?: string
  /** Subject filters, matched against the reservation's scope path segments (lower-cased). */
  scopeSegments?: string[]
  limit?: number
  /** Opaque cursor returned as next_cursor. */
  cursor?: string
}

export interface LedgerFilter {
  tenant?: string
  scopePrefix?: string
  /** Every one of these `level:value` segments must appear in the scope path. */
  segments?: string[]
  unit?: Unit
}

export interface AuditFilter {
  tenant_id?: string
  key_id?: string
  operation?: string
  resource_type?: string
  resource_id?: string
  status?: number
  from_ms?: number
  to_ms?: number
  trace_id?: string
  limit?: number
  cursor?: string
}

export interface StoreHealth {
  ok: boolean
  detail?: string
}

export interface Store {
  readonly kind: 'embedded' | 'redis'

  apply(tx: Tx): Promise<TxResult>
  /**
   * Resolves once every transaction applied so far is durable (embedded: its journal line written;
   * Redis: already acknowledged by the server). Answer a client only after this.
   */
  flushed(): Promise<void>

  getTenant(id: string): Promise<Tenant | undefined>
  listTenants(): Promise<Tenant[]>
  getApiKey(keyId: string): Promise<ApiKey | undefined>
  findApiKeyByHash(keyHash: string): Promise<ApiKey | undefined>
  /**
   * The API key with this hash and its tenant, as they are now: a revocation or suspension
   * acknowledged by any instance before this call is seen (request authentication).
   */
  findApiKeyWithTenant(keyHash: string): Promise<{key?: ApiKey; tenant?: Tenant}>
  listApiKeys(tenantId?: string): Promise<ApiKey[]>

  /** One entry per scope, in order; undefined where no ledger exists in `unit`. */
  getLedgers(book: Book, scopes: readonly string[], unit: Unit): Promise<Array<Ledger | undefined>>
  /** The units that have a ledger at any of these scopes (for UNIT_MISMATCH details). */
  unitsAt(book: Book, scopes: readonly string[]): Promise<Array<{scope: string; units: Unit[]}>>
  listLedgers(book: Book, filter?: LedgerFilter): Promise<Ledger[]>

  getReservation(id: string): Promise<Reservation | undefined>
  listReservations(filter: ReservationFilter): Promise<{reservations: Reservation[]; next_cursor?: string}>
  /** ACTIVE reservations whose expires_at_ms + grace_period_ms is before `nowMs`. */
  dueForExpiry(nowMs: number, limit: number): Promise<Reservation[]>

  getIdempotency(key: string): Promise<IdempotencyRecord | undefined>

  getControl(): Promise<TierControl | undefined>
  /** Called when another instance changed the control record (Redis pub/sub); embedded: never. */
  onControlChange(listener: (control: TierControl) => void): void

  listAudit(filter: AuditFilter): Promise<{entries: AuditEntry[]; next_cursor?: string}>

  /** One entry per id, in order; undefined where the doc is absent or expired. */
  getDocs(collection: string, ids: readonly string[]): Promise<Array<StoredDoc | undefined>>
  /** Docs of a collection in id order (byte order of the id strings), expired ones left out. */
  listDocs(collection: string, options?: DocListOptions): Promise<StoredDoc[]>

  health(): Promise<StoreHealth>
  /** Flush and release resources. */
  close(): Promise<void>
}
