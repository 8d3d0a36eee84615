// Encoding of one Tx into APPLY_SCRIPT's positional plan (apply-script.ts), and the interning of
// the condition/delta/field-name lists a group-commit call sends once each.
import type {Book, Unit} from '../../protocol/types.js'
import type {Tx} from '../types.js'
import {type AuditRetention, isFailureRow} from '../filters.js'
import {encodeIdempotency, encodeSet, ledgerToHash, reservationToHash} from './codec.js'
import {type DocPlan, planDocs} from './docs.js'
import type {KeyLayout} from './keys.js'

/**
 * Conditions, flat: keyIndex, field code (FIELD_CODE), op ('=' | '>' | '<'), value; repeated. On the
 * wire a plan refers to its list by 1-based index into the call's condition lists (equal lists sent once).
 */
export type ConditionList = Array<number | string | boolean>
/**
 * Deltas, flat, nine per delta: keyIndex; add allocated, spent, reserved, debt (0 = none); set
 * allocated, spent, debt (null = keep); 1-based index into `f` of its flag writes (0 = none). Sent
 * like the condition lists.
 */
export type DeltaList = Array<number | null>

/** The parts of a plan most transactions do not have (apply-script.ts: "rare parts"). */
export interface RarePlan {
  f?: Array<Array<[string, string | null]>>
  n?: Array<[number, string[], number, string]>
  t?: Array<[number, string, number, string]>
  a?: Array<[number, string, number, string, string, number]>
  au?: {k: number; e: string[]; max: number}
  af?: {k: number; e: string[]; max: number}
  ctl?: {k: number; v: string; ch: string}
  /** Overage charges: ledger key indexes, debt flags 1/0, estimate, over, expected extra or -1, fail over a limit 1/0. */
  ov?: Array<[number[], number[], number, number, number, 0 | 1]>
  /** Return the post-state of the touched ledgers: all (1), or those of these key indexes (one book's). */
  ret?: 1 | number[]
}

/**
 * Reservation write: key, expected state or 0, hash field name list (index into the call's lists,
 * filled in by send), ARGV index of the first value, active 1/0, expiry deadline, index keys (0 when
 * the reservation already exists), created_at, full 1/0.
 */
export type ReservationPlan = [number, string | 0, number, number, 0 | 1, string, number, number, string, 0 | 1]
/** Idempotency write: key, ARGV index of the record, ttl ms. */
export type IdempotencyPlan = [number, number, string]
/** apply-script.ts: {now (decimal string), condition list or 0, delta list or 0, reservation or 0, idempotency or 0, rare parts or 0, doc plan or 0}. */
export type Plan = [string, number, number, ReservationPlan | 0, IdempotencyPlan | 0, RarePlan | 0, number]

/** What planTx() produced for one transaction, before its lists are numbered for the call. */
export interface Planned {
  plan: Plan
  c: ConditionList | undefined
  d: DeltaList | undefined
  /** The reservation's hash field names (its values are in the call's ARGV). */
  h: string[] | undefined
  /** The doc part (sent like the condition lists: concurrent counter transactions share it). */
  docs: DocPlan | undefined
}

/** The transaction's plan, its keys registered through `k` and its bulky strings appended to `extra`. */
export function planTx(
  tx: Tx,
  k: (name: string) => number,
  extra: string[],
  ledgerOf: Map<number, {book: Book; scope: string; unit: Unit}> | undefined,
  keys: KeyLayout,
  audit: AuditRetention,
  nowMs: number = Date.now(),
): Planned | undefined {
  const L = keys
  const plan: Plan = [String(nowMs), 0, 0, 0, 0, 0, 0]
  let rare: RarePlan | undefined
  if (tx.returnLedgers) (rare ??= {}).ret = 1
  /** ARGV index of the next bulky string: ARGV[1] is the batch JSON. */
  const argv = () => extra.length + 2
  // Conditions and deltas come grouped by ledger: remember the last one looked up.
  let lastBook: Book | undefined
  let lastScope: string | undefined
  let lastUnit: Unit | undefined
  let lastIdx = 0
  const ledgerIdx = (book: Book, scope: string, unit: Unit) => {
    if (scope === lastScope && book === lastBook && unit === lastUnit) return lastIdx
    const i = k(L.ledger(book, scope, unit))
    ledgerOf?.set(i, {book, scope, unit})
    lastBook = book
    lastScope = scope
    lastUnit = unit
    lastIdx = i
    return i
  }
  let touched = false
  let c: ConditionList | undefined
  let d: DeltaList | undefined
  let h: string[] | undefined
  let docs: DocPlan | undefined

  if (tx.conditions?.length) {
    touched = true
    c = []
    for (const x of tx.conditions) c.push(ledgerIdx(x.book ?? 'real', x.scope, x.unit), FIELD_CODE[x.field], OP_CODE[x.op], x.value)
  }
  if (tx.createLedgers?.length) {
    touched = true
    ;(rare ??= {}).n = tx.createLedgers.map((l) => {
      const {book, ...ledger} = l
      return [ledgerIdx(book, l.scope, l.unit), ledgerToHash(ledger), k(L.ledgerIndex(book)), `${l.scope}|${l.unit}`]
    })
  }
  if (tx.deltas?.length) {
    touched = true
    d = []
    for (const x of tx.deltas) {
      const add = x.add
      let flagsAt = 0
      let setA: number | null = null
      let setP: number | null = null
      let setD: number | null = null
      if (x.set) {
        const set = encodeSet(x.set)
        if (set.counters) {
          setA = set.counters.allocated ?? null
          setP = set.counters.spent ?? null
          setD = set.counters.debt ?? null
        }
        if (set.flags) flagsAt = ((rare ??= {}).f ??= []).push(set.flags)
      }
      d.push(
        ledgerIdx(x.book, x.scope, x.unit),
        add?.allocated ?? 0,
        add?.spent ?? 0,
        add?.reserved ?? 0,
        add?.debt ?? 0,
        setA,
        setP,
        setD,
        flagsAt,
      )
    }
  }
  if (tx.overage?.length) {
    touched = true
    ;(rare ??= {}).ov = tx.overage.map((o) => [
      o.ledgers.map((l) => ledgerIdx(o.book, l.scope, o.unit)),
      o.ledgers.map((l) => (l.debt ? 1 : 0)),
      o.estimate,
      o.over,
      o.expectExtra ?? -1,
      o.onLimit === 'fail' ? 1 : 0,
    ])
  }
  if (tx.reservation) {
    touched = true
    const r = tx.reservation.value
    const expect = tx.reservation.expectStatus
    // A guarded transition of a reservation that exists (expect ACTIVE) writes only what can change
    // and is already indexed; a new one (or an unguarded upsert) writes everything and indexes it.
    const existing = expect !== undefined && expect !== 'absent'
    const first = argv()
    const fields = reservationToHash(r, !existing)
    h = []
    for (let i = 0; i < fields.length; i += 2) {
      h.push(fields[i])
      extra.push(fields[i + 1])
    }
    plan[3] = [
      k(L.reservation(r.reservation_id)),
      expect ?? 0,
      0,
      first,
      r.status === 'ACTIVE' ? 1 : 0,
      String(r.expires_at_ms + r.grace_period_ms),
      existing ? 0 : k(L.reservationIndex(r.tenant)),
      existing ? 0 : k(L.reservationIndex()),
      String(r.created_at_ms),
      existing ? 0 : 1,
    ]
  }
  if (tx.idempotency) {
    touched = true
    plan[4] = [k(L.idempotency(tx.idempotency.key)), argv(), String(Math.max(1, Math.ceil(tx.idempotency.ttl_ms)))]
    extra.push(encodeIdempotency(tx.idempotency.record))
  }
  if (tx.tenants?.length) {
    touched = true
    ;(rare ??= {}).t = tx.tenants.map((t) => [k(L.tenant(t.tenant_id)), JSON.stringify(t), k(L.tenantIndex()), t.tenant_id])
  }
  if (tx.apiKeys?.length) {
    touched = true
    ;(rare ??= {}).a = tx.apiKeys.map((a) => [k(L.apiKey(a.key_id)), JSON.stringify(a), k(L.apiKeyIndex()), a.key_id, a.key_hash, k(L.apiKeyHashPrefix() + a.key_hash)])
  }
  if (tx.audit?.length) {
    touched = true
    // Two lists, each trimmed to its own cap: failed requests never trim the writes' rows.
    const writes = tx.audit.filter((e) => !isFailureRow(e))
    const failures = tx.audit.filter(isFailureRow)
    if (writes.length) (rare ??= {}).au = {k: k(L.audit()), e: writes.map((e) => JSON.stringify(e)), max: audit.writes.maxRows}
    if (failures.length) (rare ??= {}).af = {k: k(L.auditFailures()), e: failures.map((e) => JSON.stringify(e)), max: audit.failures.maxRows}
  }
  if (tx.control) {
    touched = true
    ;(rare ??= {}).ctl = {k: k(L.control()), v: JSON.stringify(tx.control), ch: L.controlChannel()}
  }
  if (tx.docConditions?.length || tx.docs?.length) {
    touched = true
    docs = planDocs(tx, k, extra, L)
  }
  if (!touched) return undefined
  if (typeof tx.returnLedgers === 'string' && rare && ledgerOf) {
    // One book's post-states only: the script returns these key indexes' (the others are not encoded, sent or decoded).
    rare.ret = [...ledgerOf].filter(([, l]) => l.book === tx.returnLedgers).map(([i]) => i)
  }
  if (rare) plan[5] = rare
  return {plan, c, d, h, docs}
}

/** One-letter codes of condition fields and operators in the apply plan (apply-script.ts). */
const FIELD_CODE: Record<string, string> = {
  allocated: 'a',
  spent: 'p',
  reserved: 'r',
  debt: 'd',
  remaining: 'm',
  status: 's',
  is_over_limit: 'o',
  overdraft_limit: 'l',
}
const OP_CODE: Record<string, string> = {eq: '=', gte: '>', lte: '<'}


/**
 * The distinct lists of one call, each sent once: add() answers a list's 1-based index, comparing
 * element by element with the lists already there (a call has a handful) instead of serialising
 * every transaction's list to compare it.
 */
export class Interned {
  readonly texts: string[] = []
  private readonly lists: unknown[][] = []

  add(list: unknown[]): number {
    const n = list.length
    next: for (let i = 0; i < this.lists.length; i++) {
      const seen = this.lists[i]
      if (seen.length !== n) continue
      for (let j = 0; j < n; j++) if (seen[j] !== list[j]) continue next
      return i + 1
    }
    this.lists.push(list)
    return this.texts.push(JSON.stringify(list))
  }
}
