// Group commit for the Redis store: transactions and hot-path reads (idempotency records,
// reservations, ledgers) issued in one turn of the event loop — by one request or by many concurrent
// ones — leave as one EVALSHA of APPLY_SCRIPT that runs the transactions in order (each all-or-nothing
// on its own), then reads each key once and answers with values only (no field names).
import type {Redis} from 'ioredis'
import {ReplyError} from 'ioredis'

import type {Book, Ledger, Unit} from '../../protocol/types.js'
import type {OverageResult, Tx, TxFailure, TxResult} from '../types.js'
import {ledgerKey} from '../types.js'
import {type AuditRetention, isFailureRow} from '../filters.js'
import {APPLY_SCRIPT} from './apply-script.js'
import {encodeIdempotency, encodeSet, flatToObject, hashToLedger, ledgerToHash, reservationToHash} from './codec.js'
import {toStoreError} from './connection.js'
import type {KeyLayout} from './keys.js'
import {EncodedCommand, encodeCommand, sha1} from './resp.js'

const APPLY_SHA = sha1(APPLY_SCRIPT)


/**
 * Conditions, flat: keyIndex, field code (FIELD_CODE), op ('=' | '>' | '<'), value; repeated. On the
 * wire a plan refers to its list by 1-based index into the call's condition lists (equal lists sent once).
 */
type ConditionList = Array<number | string | boolean>
/**
 * Deltas, flat, nine per delta: keyIndex; add allocated, spent, reserved, debt (0 = none); set
 * allocated, spent, debt (null = keep); 1-based index into `f` of its flag writes (0 = none). Sent
 * like the condition lists.
 */
type DeltaList = Array<number | null>

/** The parts of a plan most transactions do not have (apply-script.ts: "rare parts"). */
interface RarePlan {
  f?: Array<Array<[string, string | null]>>
  n?: Array<[number, string[], number, string]>
  t?: Array<[number, string, number, string]>
  a?: Array<[number, string, number, string, string, number]>
  au?: {k: number; e: string[]; max: number}
  af?: {k: number; e: string[]; max: number}
  ctl?: {k: number; v: string; ch: string}
  /** Overage charges: ledger key indexes, debt flags 1/0, estimate, over, expected extra or -1, fail over a limit 1/0. */
  ov?: Array<[number[], number[], number, number, number, 0 | 1]>
  /** Return the post-state of the touched ledgers. */
  ret?: 1
}

/**
 * Reservation write: key, expected state or 0, hash field name list (index into the call's lists,
 * filled in by send), ARGV index of the first value, active 1/0, expiry deadline, index keys (0 when
 * the reservation already exists), created_at, full 1/0.
 */
type ReservationPlan = [number, string | 0, number, number, 0 | 1, string, number, number, string, 0 | 1]
/** Idempotency write: key, ARGV index of the record, ttl ms. */
type IdempotencyPlan = [number, number, string]
/** apply-script.ts: {now (decimal string), condition list or 0, delta list or 0, reservation or 0, idempotency or 0, rare parts or 0}. */
type Plan = [string, number, number, ReservationPlan | 0, IdempotencyPlan | 0, RarePlan | 0]

/** What plan() produced for one transaction, before its lists are numbered for the call. */
interface Planned {
  plan: Plan
  c: ConditionList | undefined
  d: DeltaList | undefined
  /** The reservation's hash field names (its values are in the call's ARGV). */
  h: string[] | undefined
}

/** Kinds of batched read (the reads section of APPLY_SCRIPT): ledger fields, a string, a reservation's record. */
export type ReadKind = 'L' | 'G' | 'R'

/** Reads waiting for the next call, by kind, then key (the key strings are mostly cached ones). */
const newPending = (): Record<ReadKind, Map<string, PendingRead>> => ({L: new Map(), G: new Map(), R: new Map()})

interface PendingRead {
  kind: ReadKind
  key: string
  waiters: Array<{resolve: (v: unknown) => void; reject: (e: unknown) => void}>
}

type ApplyReply = 1 | ['ok', ...unknown[]] | ['fail', string, string] | ['err', string]

interface QueuedTx {
  tx: Tx
  resolve: (r: TxResult) => void
  reject: (e: unknown) => void
}

/** At most this many transactions per group-commit call. */
const MAX_GROUP = 128

export interface GroupCommitOptions {
  /** Finished reservations are kept this long. */
  terminalRetentionMs: number
  audit: AuditRetention
  /** Called after a transaction's writes succeeded, before its caller hears of it (local cache effects). */
  onApplied: (tx: Tx) => void
}

export class GroupCommit {
  /** Reads waiting for the next batch, by kind, then key. */
  private pending = newPending()
  private flushScheduled = false
  /** Transactions waiting for the next group commit. */
  private pendingTx: QueuedTx[] = []

  constructor(
    private readonly redis: Redis,
    private readonly keys: KeyLayout,
    private readonly opts: GroupCommitOptions,
  ) {}


  /**
   * Queue the transaction for the next group commit: every transaction submitted in this turn of the
   * event loop leaves in one APPLY_SCRIPT call that runs them in order, each all-or-nothing on its
   * own (see apply-script.ts).
   */
  apply(tx: Tx): Promise<TxResult> {
    return new Promise((resolve, reject) => {
      this.pendingTx.push({tx, resolve, reject})
      this.schedule()
    })
  }

  /**
   * One flush per turn of the event loop for transactions and reads alike (setImmediate: after the
   * I/O callbacks of this turn, so concurrent requests share it): one script call carries the
   * turn's transactions (run first, in order) and its reads (answered after them).
   */
  private schedule(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(this.flush)
  }

  private readonly flush = (): void => {
    this.flushScheduled = false
    const queued = this.pendingTx
    this.pendingTx = []
    const {L, G, R} = this.pending
    const reads = [...L.values(), ...G.values(), ...R.values()]
    this.pending = newPending()
    if (queued.length <= MAX_GROUP) {
      this.send(queued, reads)
      return
    }
    for (let from = 0; from < queued.length; from += MAX_GROUP) this.send(queued.slice(from, from + MAX_GROUP), from === 0 ? reads : [])
  }

  private send(group: QueuedTx[], reads: PendingRead[]): void {
    const keys: string[] = []
    const index = new Map<string, number>()
    const k = (name: string): number => {
      let i = index.get(name)
      if (i === undefined) {
        keys.push(name)
        i = keys.length
        index.set(name, i)
      }
      return i
    }
    /** Bulky strings travel as their own ARGV entries after the batch JSON (ARGV[2..]). */
    const extra: string[] = []
    const plans: string[] = []
    // Transactions of one kind repeat the same condition and delta lists (same ledgers, same amounts):
    // each distinct list is sent and decoded once per call.
    const cLists = new Interned()
    const dLists = new Interned()
    const hLists = new Interned()
    const sent: Array<{q: QueuedTx; ledgerOf: Map<number, {book: Book; scope: string; unit: Unit}> | undefined}> = []
    let reservations = false
    let invalidates = false
    for (const q of group) {
      let planned: Planned | undefined
      let ledgerOf: Map<number, {book: Book; scope: string; unit: Unit}> | undefined
      try {
        ledgerOf = q.tx.returnLedgers ? new Map() : undefined
        planned = this.plan(q.tx, k, extra, ledgerOf)
      } catch (error) {
        q.reject(error)
        continue
      }
      if (!planned) {
        q.resolve({ok: true, ledgers: new Map()})
        continue
      }
      const {plan} = planned
      if (planned.c) plan[1] = cLists.add(planned.c)
      if (planned.d) plan[2] = dLists.add(planned.d)
      if (plan[3] !== 0) {
        plan[3][2] = hLists.add(planned.h!)
        reservations = true
      }
      if (q.tx.tenants?.length || q.tx.apiKeys?.length) invalidates = true
      plans.push(JSON.stringify(plan))
      sent.push({q, ledgerOf})
    }
    if (sent.length === 0 && reads.length === 0) return
    const L = this.keys
    let batch = `{"p":[${plans.join(',')}]`
    if (cLists.texts.length > 0) batch += `,"c":[${cLists.texts.join(',')}]`
    if (dLists.texts.length > 0) batch += `,"d":[${dLists.texts.join(',')}]`
    if (hLists.texts.length > 0) batch += `,"h":[${hLists.texts.join(',')}]`
    if (reservations) batch += `,"x":[${k(L.reservationTtl())},"${Math.max(1, Math.round(this.opts.terminalRetentionMs))}",${L.reservationIdAt()}]`
    if (invalidates) batch += `,"inv":${JSON.stringify(L.invalidationChannel())},"hp":${JSON.stringify(L.apiKeyHashPrefix())},"ep":${k(L.authEpoch())}`
    if (reads.length > 0) {
      // Read keys share KEYS with the transactions' (a ledger both written and read is sent once).
      let kinds = ''
      const at: number[] = []
      for (const r of reads) {
        kinds += r.kind
        at.push(k(r.key))
      }
      batch += `,"rk":[${at.join(',')}],"rs":"${kinds}"`
    }
    batch += '}'
    this.callScript(keys, batch, extra).then(
      (reply) => {
        const [replies, values] = reply as [ApplyReply[], unknown[]]
        for (let i = 0; i < sent.length; i++) {
          const {q, ledgerOf} = sent[i]
          try {
            q.resolve(this.settle(q.tx, replies[i], ledgerOf))
          } catch (error) {
            q.reject(error)
          }
        }
        for (let i = 0; i < reads.length; i++) {
          const value = values[i] ?? null
          for (const w of reads[i].waiters) w.resolve(value)
        }
      },
      (error: unknown) => {
        const e = toStoreError(error)
        for (const {q} of sent) q.reject(e)
        for (const p of reads) for (const w of p.waiters) w.reject(e)
      },
    )
  }

  /**
   * EVALSHA of APPLY_SCRIPT with KEYS = `keys`, ARGV = `batch`, ...`extra`, encoded by hand (resp.ts)
   * and written as one buffer. After a Redis restart emptied the script cache the call is repeated
   * once as EVAL.
   */
  private async callScript(keys: string[], batch: string, extra: string[]): Promise<unknown> {
    const head = [String(keys.length)]
    const tail = [batch]
    try {
      return await this.redis.sendCommand(new EncodedCommand('evalsha', encodeCommand('evalsha', [APPLY_SHA], head, keys, tail, extra)))
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error
      return this.redis.sendCommand(new EncodedCommand('eval', encodeCommand('eval', [APPLY_SCRIPT], head, keys, tail, extra)))
    }
  }

  /** The transaction's plan, its keys registered through `k` and its bulky strings appended to `extra`. */
  private plan(tx: Tx, k: (name: string) => number, extra: string[], ledgerOf: Map<number, {book: Book; scope: string; unit: Unit}> | undefined): Planned | undefined {
    const L = this.keys
    const plan: Plan = [String(Date.now()), 0, 0, 0, 0, 0]
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
      if (writes.length) (rare ??= {}).au = {k: k(L.audit()), e: writes.map((e) => JSON.stringify(e)), max: this.opts.audit.writes.maxRows}
      if (failures.length) (rare ??= {}).af = {k: k(L.auditFailures()), e: failures.map((e) => JSON.stringify(e)), max: this.opts.audit.failures.maxRows}
    }
    if (tx.control) {
      touched = true
      ;(rare ??= {}).ctl = {k: k(L.control()), v: JSON.stringify(tx.control), ch: L.controlChannel()}
    }
    if (!touched) return undefined
    if (rare) plan[5] = rare
    return {plan, c, d, h}
  }

  /** One transaction's reply from the group commit → its TxResult (and local cache effects). */
  private settle(tx: Tx, reply: ApplyReply, ledgerOf: Map<number, {book: Book; scope: string; unit: Unit}> | undefined): TxResult {
    if (reply !== 1) {
      if (reply[0] === 'fail') {
        const failed = reply[1] as TxFailure
        return {ok: false, failed, detail: this.failureDetail(tx, failed, String(reply[2]))}
      }
      if (reply[0] === 'err') throw toStoreError(new ReplyError(String(reply[1])))
    }
    this.opts.onApplied(tx)
    const ledgers = new Map<string, Ledger>()
    if (reply === 1) return {ok: true, ledgers}
    const overage = tx.overage?.length ? overageResults(tx, reply[1] as number[]) : undefined
    if (!ledgerOf) return overage ? {ok: true, ledgers, overage} : {ok: true, ledgers}
    for (let i = 2; i + 1 < reply.length; i += 2) {
      const where = ledgerOf.get(Number(reply[i]))
      if (!where) continue
      const ledger = hashToLedger(flatToObject(reply[i + 1]), where.scope, where.unit)
      if (ledger) ledgers.set(ledgerKey(where.book, where.scope, where.unit), ledger)
    }
    return overage ? {ok: true, ledgers, overage} : {ok: true, ledgers}
  }

  private failureDetail(tx: Tx, failed: TxFailure, raw: string): string | undefined {
    const i = Number.parseInt(raw, 10) - 1
    switch (failed) {
      case 'condition': {
        const c = tx.conditions?.[i]
        return c ? `${c.scope} ${c.unit} ${c.field} ${c.op} ${String(c.value)}` : undefined
      }
      case 'exists': {
        const l = tx.createLedgers?.[i]
        return l ? `${l.scope} ${l.unit}` : undefined
      }
      case 'missing': {
        const o = overageLedger(tx, raw)
        if (o) return `${o.book} ${o.scope} ${o.unit}`
        const d = tx.deltas?.[i]
        return d ? `${d.book} ${d.scope} ${d.unit}` : undefined
      }
      case 'overflow': {
        const d = overageLedger(tx, raw) ?? tx.deltas?.[i]
        return d ? `${d.scope} ${d.unit}` : undefined
      }
      case 'settlement':
        return raw
      case 'overdraft': {
        const [charge, at] = raw.split(':').map(Number)
        return tx.overage?.[charge - 1]?.ledgers[at - 1]?.scope
      }
      case 'reservation':
        return raw
      default:
        return undefined
    }
  }


  /**
   * Queue a read for the next batch. Every read queued in this turn of the event loop leaves in the
   * turn's one script call (setImmediate: after the I/O callbacks of this turn, so concurrent requests
   * share it), answered after that call's transactions; a key asked for twice is read once and both
   * callers get the same value. A read queued after a write resolved is sent after it, so this
   * instance always reads its own writes.
   */
  read(kind: ReadKind, key: string): Promise<unknown> {
    const pending = this.pending[kind]
    return new Promise((resolve, reject) => {
      let p = pending.get(key)
      if (!p) {
        p = {kind, key, waiters: []}
        pending.set(key, p)
      }
      p.waiters.push({resolve, reject})
      this.schedule()
    })
  }
}

/** The script's overage report (extra, 1-based position of the ledger over its limit or 0; per charge). */
function overageResults(tx: Tx, flat: number[]): OverageResult[] {
  return tx.overage!.map((o, i) => {
    const extra = Number(flat[2 * i])
    const at = Number(flat[2 * i + 1])
    return at > 0 ? {extra, limitScope: o.ledgers[at - 1].scope} : {extra}
  })
}

/** The overage ledger a failure detail 'o<charge>:<position>' names. */
function overageLedger(tx: Tx, raw: string): {book: Book; scope: string; unit: Unit} | undefined {
  const m = /^o(\d+):(\d+)$/.exec(raw)
  if (!m) return undefined
  const o = tx.overage?.[Number(m[1]) - 1]
  const l = o?.ledgers[Number(m[2]) - 1]
  return o && l ? {book: o.book, scope: l.scope, unit: o.unit} : undefined
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
class Interned {
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
