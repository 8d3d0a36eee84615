// The embedded store's in-memory state and its all-or-nothing transaction semantics. Pure data
// structure: no I/O, no clock of its own (callers pass `nowMs`), so recovery can replay a journal.
import type {ApiKey, Book, Ledger, Reservation, Tenant, Unit} from '../protocol/types.js'
import {AUDIT_RETENTION, type AuditRetention, auditMatches, compareLedgers, isFailureRow, ledgerMatches, newestFirst, paginate, reservationMatches} from './filters.js'
import {DocCollections, docInputProblem} from './doc-collections.js'
import {AUDIT_CHAIN_COLLECTION, AUDIT_HEAD_ID, headFromDoc, sealAuditRow} from '../integrity/audit-chain.js'
import {applyDelta, conditionHolds, overageOutcome} from './ledger-math.js'
import {
  type AuditEntry,
  type AuditFilter,
  type DocListOptions,
  type IdempotencyRecord,
  type StoredDoc,
  type LedgerFilter,
  type OverageResult,
  type ReservationFilter,
  type TierControl,
  type Tx,
  type TxResult,
  ledgerKey,
} from './types.js'

export interface StateSnapshot {
  v: 1
  ledgers: Array<Ledger & {book: Book}>
  tenants: Tenant[]
  apiKeys: ApiKey[]
  reservations: Reservation[]
  idempotency: Array<[string, IdempotencyRecord, number]>
  audit: AuditEntry[]
  control?: TierControl
  /** Absent in snapshots written before doc collections existed. */
  docs?: StoredDoc[]
}

export type SnapshotHead = Omit<StateSnapshot, 'reservations' | 'idempotency'>

export interface MemoryLimits {
  /** Most idempotency records kept; the oldest go first. */
  maxIdempotency: number
  /** Most bytes of stored idempotent response bodies kept; the oldest go first. */
  maxIdempotencyBytes: number
  /** Finished reservations are kept this long after they finalise. */
  terminalRetentionMs: number
  /** Most finished reservations kept; the oldest go first. */
  maxTerminalReservations: number
  /** Audit classes kept apart, each by age and count (filters.ts AUDIT_RETENTION). */
  audit: AuditRetention
}

export const DEFAULT_LIMITS: MemoryLimits = {
  maxIdempotency: 2_000_000,
  maxIdempotencyBytes: 256 * 1024 * 1024,
  terminalRetentionMs: 24 * 3_600_000,
  maxTerminalReservations: 500_000,
  audit: AUDIT_RETENTION,
}

type BookLedger = Ledger & {book: Book}

/** The result of a transaction that did not ask for its ledgers (most of them, and the hot path). */
const NOTHING_RETURNED: TxResult = Object.freeze({ok: true, ledgers: new Map<string, Ledger>()}) as TxResult

export class MemoryState {
  /** book → scope → unit → ledger: no key strings to build on the hot path. */
  private readonly books: Record<Book, Map<string, Map<Unit, BookLedger>>> = {real: new Map(), shadow: new Map()}
  readonly tenants = new Map<string, Tenant>()
  readonly apiKeys = new Map<string, ApiKey>()
  private readonly apiKeysByHash = new Map<string, string>()
  readonly reservations = new Map<string, Reservation>()
  private readonly active = new Set<string>()
  /** key → [record, expiresAtMs, insertion sequence]. */
  readonly idempotency = new Map<string, [IdempotencyRecord, number, number]>()
  private idempotencyBytes = 0
  /** Eviction order of idempotency records (an entry dropped or stored again since is skipped by its sequence). */
  private idempotencyOrder = new InsertionOrder()
  private sequence = 0
  /** Finished reservations, oldest first, for the count cap (a key already pruned is skipped). */
  private terminalOrder = new InsertionOrder()
  /** Rows of successful writes, oldest first. */
  audit: AuditEntry[] = []
  /** Rows of failed requests, oldest first: a separate class so a flood of them evicts only its own. */
  auditFailures: AuditEntry[] = []
  control: TierControl | undefined
  readonly docs = new DocCollections()

  constructor(readonly limits: MemoryLimits = DEFAULT_LIMITS) {}

  getLedger(book: Book, scope: string, unit: Unit): BookLedger | undefined {
    return this.books[book].get(scope)?.get(unit)
  }

  *allLedgers(): IterableIterator<BookLedger> {
    for (const book of Object.values(this.books)) for (const units of book.values()) yield* units.values()
  }

  /** Check and apply a transaction atomically (it is synchronous). */
  apply(tx: Tx, nowMs: number): TxResult {
    if (tx.conditions) {
      for (const c of tx.conditions) {
        if (!conditionHolds(this.getLedger(c.book ?? 'real', c.scope, c.unit), c)) {
          return {ok: false, failed: 'condition', detail: `${c.scope} ${c.unit} ${c.field} ${c.op} ${String(c.value)}`}
        }
      }
    }
    if (tx.idempotency) {
      const existing = this.idempotency.get(tx.idempotency.key)
      if (existing && existing[1] > nowMs) return {ok: false, failed: 'idempotency'}
    }
    if (tx.reservation?.expectStatus) {
      const current = this.reservations.get(tx.reservation.value.reservation_id)
      const status = current ? current.status : 'absent'
      if (status !== tx.reservation.expectStatus) return {ok: false, failed: 'reservation', detail: status}
    }
    for (const l of tx.createLedgers ?? []) {
      if (this.getLedger(l.book, l.scope, l.unit)) return {ok: false, failed: 'exists', detail: `${l.scope} ${l.unit}`}
    }
    if (tx.docConditions || tx.docs) {
      const problem = docInputProblem(tx.docConditions, tx.docs)
      if (problem) throw new TypeError(problem)
      const failed = this.docs.check(tx.docConditions, tx.docs, nowMs)
      if (failed) return failed
    }
    const next = this.nextLedgers(tx, nowMs, true)
    if (!('updated' in next)) return next
    const {updated, overage} = next
    this.commit(tx, updated, nowMs, true)
    if (!tx.returnLedgers && !overage) return NOTHING_RETURNED
    const touched = new Map<string, Ledger>()
    if (tx.returnLedgers) {
      const asked = (book: Book) => tx.returnLedgers === true || tx.returnLedgers === book
      for (const l of updated) if (asked(l.book)) touched.set(ledgerKey(l.book, l.scope, l.unit), l)
      for (const l of tx.createLedgers ?? []) if (asked(l.book)) touched.set(ledgerKey(l.book, l.scope, l.unit), l)
    }
    return overage ? {ok: true, ledgers: touched, overage} : {ok: true, ledgers: touched}
  }

  /** Apply without checks: journal replay of a transaction that was already accepted once. */
  replay(tx: Tx, nowMs: number): void {
    const next = this.nextLedgers(tx, nowMs, false)
    if ('updated' in next) this.commit(tx, next.updated, nowMs, false)
  }

  /**
   * The ledgers after the transaction's deltas (several deltas may hit one ledger), then after its
   * overage charges (against the ledgers as the deltas left them). A replay (not strict) applies
   * what it can and checks nothing.
   */
  private nextLedgers(tx: Tx, nowMs: number, strict: boolean): {updated: BookLedger[]; overage?: OverageResult[]} | Extract<TxResult, {ok: false}> {
    const updated: BookLedger[] = []
    const current = (book: Book, scope: string, unit: Unit) => {
      const i = updated.findIndex((l) => l.book === book && l.scope === scope && l.unit === unit)
      return {i, base: i >= 0 ? updated[i] : this.getLedger(book, scope, unit)}
    }
    const put = (i: number, next: Ledger, book: Book) => {
      ;(next as BookLedger).book = book
      if (i >= 0) updated[i] = next as BookLedger
      else updated.push(next as BookLedger)
    }
    for (const d of tx.deltas ?? []) {
      const {i, base} = current(d.book, d.scope, d.unit)
      if (!base) {
        if (strict) return {ok: false, failed: 'missing', detail: `${d.book} ${d.scope} ${d.unit}`}
        continue
      }
      const next = applyDelta(base, d, nowMs)
      if (!next) {
        if (strict) return {ok: false, failed: 'overflow', detail: `${d.scope} ${d.unit}`}
        continue
      }
      put(i, next, d.book)
    }
    if (!tx.overage) return {updated}
    const overage: OverageResult[] = []
    for (const charge of tx.overage) {
      const found = charge.ledgers.map((l) => current(charge.book, l.scope, charge.unit))
      const missing = found.findIndex((f) => !f.base)
      if (missing >= 0) {
        if (strict) return {ok: false, failed: 'missing', detail: `${charge.book} ${charge.ledgers[missing].scope} ${charge.unit}`}
        continue
      }
      const outcome = overageOutcome(found.map((f) => f.base!), charge)
      if (strict && charge.expectExtra !== undefined && outcome.extra !== charge.expectExtra) return {ok: false, failed: 'settlement', detail: String(outcome.extra)}
      if (strict && outcome.limitScope && charge.onLimit === 'fail') return {ok: false, failed: 'overdraft', detail: outcome.limitScope}
      for (const d of outcome.deltas) {
        const {i, base} = current(charge.book, d.scope, d.unit)
        const next = applyDelta(base!, {...d, book: charge.book}, nowMs)
        if (!next) {
          if (strict) return {ok: false, failed: 'overflow', detail: `${d.scope} ${d.unit}`}
          continue
        }
        put(i, next, charge.book)
      }
      overage.push(outcome.limitScope ? {extra: outcome.extra, limitScope: outcome.limitScope} : {extra: outcome.extra})
    }
    return {updated, overage}
  }

  private commit(tx: Tx, updated: Array<Ledger & {book: Book}>, nowMs: number, seal: boolean): void {
    for (const l of tx.createLedgers ?? []) this.putLedger(l)
    for (const l of updated) this.putLedger(l)
    if (tx.reservation) this.putReservation(tx.reservation.value)
    if (tx.idempotency) this.putIdempotency(tx.idempotency.key, tx.idempotency.record, nowMs + tx.idempotency.ttl_ms)
    for (const t of tx.tenants ?? []) this.tenants.set(t.tenant_id, t)
    for (const k of tx.apiKeys ?? []) this.putApiKey(k)
    if (tx.audit?.length) this.appendAudit(tx.audit, seal, nowMs)
    if (tx.control) this.control = tx.control
    if (tx.docs) this.docs.apply(tx.docs, nowMs)
  }

  /**
   * Append rows to their class. `seal` (a transaction being applied): chain every write's row to the
   * audit chain head, here, in the same synchronous step as the write it records. The sealed row
   * replaces the caller's in `rows` so the journal line written after apply carries the seal, and a
   * replay (or a snapshot restore) takes the rows as sealed: a journal line lost to quarantine then
   * shows as a break in the chain instead of being silently re-chained over.
   */
  private appendAudit(rows: AuditEntry[], seal: boolean, nowMs: number): void {
    const before = headFromDoc(this.docs.get(AUDIT_CHAIN_COLLECTION, AUDIT_HEAD_ID, nowMs)?.value)
    let head = before
    for (let i = 0; i < rows.length; i++) {
      let e = rows[i]
      if (isFailureRow(e)) {
        this.auditFailures.push(e)
        continue
      }
      if (seal) {
        const sealed = sealAuditRow(e, head)
        rows[i] = e = sealed.row
        head = sealed.head
      } else if (e.hash !== undefined) {
        head = {hash: e.hash, seq: e.chain_seq ?? head.seq + 1}
      }
      this.audit.push(e)
    }
    if (head.hash !== before.hash) this.docs.apply([{collection: AUDIT_CHAIN_COLLECTION, id: AUDIT_HEAD_ID, set: {hash: head.hash, seq: head.seq}}], nowMs)
    // Trim in steps of 10 % so the cap costs one copy per many appends.
    const {writes, failures} = this.limits.audit
    if (this.audit.length > writes.maxRows * 1.1) this.audit = this.audit.slice(-writes.maxRows)
    if (this.auditFailures.length > failures.maxRows * 1.1) this.auditFailures = this.auditFailures.slice(-failures.maxRows)
  }

  putLedger(l: BookLedger): void {
    const scopes = this.books[l.book]
    let units = scopes.get(l.scope)
    if (!units) scopes.set(l.scope, (units = new Map()))
    units.set(l.unit, l)
  }

  putApiKey(k: ApiKey): void {
    const previous = this.apiKeys.get(k.key_id)
    if (previous) this.apiKeysByHash.delete(previous.key_hash)
    this.apiKeys.set(k.key_id, k)
    this.apiKeysByHash.set(k.key_hash, k.key_id)
  }

  putReservation(r: Reservation): void {
    const id = r.reservation_id
    const previous = this.reservations.get(id)
    this.reservations.set(id, r)
    if (r.status === 'ACTIVE') {
      this.active.add(id)
      return
    }
    this.active.delete(id)
    if (previous && previous.status !== 'ACTIVE') return // already counted as finished
    this.terminalOrder.push(id, 0)
    // Finished reservations are kept for GET and listing; past the cap the oldest finished go first.
    const order = this.terminalOrder
    while (this.reservations.size - this.active.size > this.limits.maxTerminalReservations && order.take()) {
      if (order.key === id) {
        order.push(id, 0) // never the reservation just finished
        break
      }
      const oldest = this.reservations.get(order.key)
      if (oldest && oldest.status !== 'ACTIVE') this.reservations.delete(order.key)
    }
  }

  putIdempotency(key: string, record: IdempotencyRecord, expiresAtMs: number): void {
    this.dropIdempotency(key)
    const seq = ++this.sequence
    this.idempotency.set(key, [record, expiresAtMs, seq])
    this.idempotencyBytes += record.body.length
    const order = this.idempotencyOrder
    order.push(key, seq)
    // Bounded memory: a daemon taking 10k dry-runs/s must not grow without limit for 24 h.
    while (this.idempotency.size > this.limits.maxIdempotency || this.idempotencyBytes > this.limits.maxIdempotencyBytes) {
      if (!order.take() || order.seq === seq) break // never the record just stored
      if (this.idempotency.get(order.key)?.[2] === order.seq) this.dropIdempotency(order.key)
    }
  }

  private dropIdempotency(key: string): void {
    const entry = this.idempotency.get(key)
    if (!entry) return
    this.idempotencyBytes -= entry[0].body.length
    this.idempotency.delete(key)
  }

  getIdempotency(key: string, nowMs: number): IdempotencyRecord | undefined {
    const entry = this.idempotency.get(key)
    return entry && entry[1] > nowMs ? entry[0] : undefined
  }

  findApiKeyByHash(hash: string): ApiKey | undefined {
    const id = this.apiKeysByHash.get(hash)
    return id ? this.apiKeys.get(id) : undefined
  }

  getLedgers(book: Book, scopes: readonly string[], unit: Unit): Array<Ledger | undefined> {
    const byScope = this.books[book]
    return scopes.map((s) => byScope.get(s)?.get(unit))
  }

  unitsAt(book: Book, scopes: readonly string[]): Array<{scope: string; units: Unit[]}> {
    return scopes.map((scope) => ({scope, units: [...(this.books[book].get(scope)?.keys() ?? [])]}))
  }

  listLedgers(book: Book, filter: LedgerFilter = {}): Ledger[] {
    const out: Ledger[] = []
    for (const units of this.books[book].values()) for (const l of units.values()) {
      if (!ledgerMatches(l, filter)) continue
      const {book: _book, ...ledger} = l
      out.push(ledger)
    }
    return out.sort(compareLedgers)
  }

  listReservations(filter: ReservationFilter): {reservations: Reservation[]; next_cursor?: string} {
    const all = [...this.reservations.values()]
      .filter((r) => reservationMatches(r, filter))
      .sort((a, b) => b.created_at_ms - a.created_at_ms || a.reservation_id.localeCompare(b.reservation_id))
    const {page, next_cursor} = paginate(all, filter.limit ?? 50, filter.cursor)
    return {reservations: page, next_cursor}
  }

  dueForExpiry(nowMs: number, limit: number): Reservation[] {
    const out: Reservation[] = []
    for (const id of this.active) {
      const r = this.reservations.get(id)
      if (r && r.expires_at_ms + r.grace_period_ms < nowMs) out.push(r)
      if (out.length >= limit) break
    }
    return out
  }

  listAudit(filter: AuditFilter): {entries: AuditEntry[]; next_cursor?: string} {
    const matching = newestFirst(
      this.audit.filter((e) => auditMatches(e, filter)),
      this.auditFailures.filter((e) => auditMatches(e, filter)),
    )
    const {page, next_cursor} = paginate(matching, filter.limit ?? 50, filter.cursor)
    return {entries: page, next_cursor}
  }

  getDocs(collection: string, ids: readonly string[], nowMs: number): Array<StoredDoc | undefined> {
    return ids.map((id) => this.docs.get(collection, id, nowMs))
  }

  listDocs(collection: string, options: DocListOptions, nowMs: number): StoredDoc[] {
    return this.docs.list(collection, options, nowMs)
  }

  /** Drop expired idempotency records, docs and long-finished reservations. */
  prune(nowMs: number): void {
    this.docs.prune(nowMs)
    for (const [key, [, expires]] of this.idempotency) {
      if (expires <= nowMs) this.dropIdempotency(key)
    }
    this.audit = dropOlderThan(this.audit, nowMs - this.limits.audit.writes.maxAgeMs)
    this.auditFailures = dropOlderThan(this.auditFailures, nowMs - this.limits.audit.failures.maxAgeMs)
    const horizon = nowMs - this.limits.terminalRetentionMs
    for (const [id, r] of this.reservations) {
      if (r.status !== 'ACTIVE' && (r.finalized_at_ms ?? r.created_at_ms) < horizon) this.reservations.delete(id)
    }
    // Keys dropped here stay in the eviction orders until an eviction passes them; once they are
    // most of an order, rebuild it from the survivors (Map order is insertion order).
    if (this.idempotencyOrder.length > 2 * this.idempotency.size + 1024) {
      this.idempotencyOrder = new InsertionOrder()
      for (const [key, entry] of this.idempotency) this.idempotencyOrder.push(key, entry[2])
    }
    const terminal = this.reservations.size - this.active.size
    if (this.terminalOrder.length > 2 * terminal + 1024) {
      this.terminalOrder = new InsertionOrder()
      for (const [id, r] of this.reservations) if (r.status !== 'ACTIVE') this.terminalOrder.push(id, 0)
    }
  }

  /** The snapshot without its two large collections, which snapshot files stream line by line. */
  snapshotHead(): SnapshotHead {
    return {
      v: 1,
      ledgers: [...this.allLedgers()],
      tenants: [...this.tenants.values()],
      apiKeys: [...this.apiKeys.values()],
      audit: [...this.audit, ...this.auditFailures],
      control: this.control,
      docs: [...this.docs.all()],
    }
  }

  *idempotencyEntries(): IterableIterator<[string, IdempotencyRecord, number]> {
    for (const [k, [r, e]] of this.idempotency) yield [k, r, e]
  }

  /** A whole snapshot in one document (the form earlier versions wrote). */
  restore(s: StateSnapshot): void {
    this.restoreHead(s)
    for (const r of s.reservations) this.putReservation(r)
    for (const [k, r, e] of s.idempotency) this.putIdempotency(k, r, e)
  }

  restoreHead(s: SnapshotHead): void {
    for (const l of s.ledgers) this.putLedger(l)
    for (const t of s.tenants) this.tenants.set(t.tenant_id, t)
    for (const k of s.apiKeys) this.putApiKey(k)
    this.audit = []
    this.auditFailures = []
    this.docs.restore(s.docs ?? []) // before the rows: the audit chain head is one of the docs
    this.appendAudit(s.audit ?? [], false, 0)
    this.control = s.control
  }
}

/**
 * Keys in the order they were stored, oldest first, each with a sequence number; `take()` consumes
 * the oldest into `key`/`seq`. Not a Map's own order: taking the first key of a Map whose oldest
 * entries were deleted walks every deleted slot first, which made each eviction cost tens of
 * microseconds once a cap was reached.
 */
class InsertionOrder {
  private keys: string[] = []
  private seqs: number[] = []
  private head = 0
  key = ''
  seq = 0

  /** Entries not taken yet. */
  get length(): number {
    return this.keys.length - this.head
  }

  push(key: string, seq: number): void {
    this.keys.push(key)
    this.seqs.push(seq)
  }

  take(): boolean {
    if (this.head >= this.keys.length) return false
    this.key = this.keys[this.head]
    this.seq = this.seqs[this.head]
    this.head++
    if (this.head > 4096 && this.head * 2 > this.keys.length) {
      this.keys = this.keys.slice(this.head)
      this.seqs = this.seqs.slice(this.head)
      this.head = 0
    }
    return true
  }
}

/** Rows are appended in time order (near enough: an aggregated row carries its window's last time), so age pruning cuts a prefix. */
function dropOlderThan(rows: AuditEntry[], horizonMs: number): AuditEntry[] {
  let cut = 0
  while (cut < rows.length && rows[cut].timestamp_ms < horizonMs) cut++
  return cut === 0 ? rows : rows.slice(cut)
}
