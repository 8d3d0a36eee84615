// Group commit for the Redis store: transactions and hot-path reads (idempotency records,
// reservations, ledgers) issued in one turn of the event loop — by one request or by many concurrent
// ones — leave as one EVALSHA of APPLY_SCRIPT that runs the transactions in order (each all-or-nothing
// on its own), then reads each key once and answers with values only (no field names).
import type {Redis} from 'ioredis'

import type {Book, Unit} from '../../protocol/types.js'
import type {Tx, TxResult} from '../types.js'
import type {AuditRetention} from '../filters.js'
import {APPLY_SCRIPT} from './apply-script.js'
import {toStoreError} from './connection.js'
import type {KeyLayout} from './keys.js'
import {EncodedCommand, encodeCommand, sha1} from './resp.js'
import {Interned, type Planned, planTx} from './tx-plan.js'
import {type ApplyReply, settleTx} from './tx-reply.js'

const APPLY_SHA = sha1(APPLY_SCRIPT)


/** Kinds of batched read (the reads section of APPLY_SCRIPT): ledger fields, a string, a reservation's record, a hash (a doc). */
export type ReadKind = 'L' | 'G' | 'R' | 'H'

/** Reads waiting for the next call, by kind, then key (the key strings are mostly cached ones). */
const newPending = (): Record<ReadKind, Map<string, PendingRead>> => ({L: new Map(), G: new Map(), R: new Map(), H: new Map()})

interface PendingRead {
  kind: ReadKind
  key: string
  waiters: Array<{resolve: (v: unknown) => void; reject: (e: unknown) => void}>
}

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
  /** The transactions' clock (doc expiry, updated_at_ms). */
  now: () => number
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
    const {L, G, R, H} = this.pending
    const reads = [...L.values(), ...G.values(), ...R.values(), ...H.values()]
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
    // Doc parts by their text: transactions on the same counters with the same limits send one.
    const docPlans = new Map<string, number>()
    const sent: Array<{q: QueuedTx; ledgerOf: Map<number, {book: Book; scope: string; unit: Unit}> | undefined}> = []
    let reservations = false
    let invalidates = false
    let docWrites = false
    const nowMs = this.opts.now()
    for (const q of group) {
      let planned: Planned | undefined
      let ledgerOf: Map<number, {book: Book; scope: string; unit: Unit}> | undefined
      try {
        ledgerOf = q.tx.returnLedgers ? new Map() : undefined
        planned = planTx(q.tx, k, extra, ledgerOf, this.keys, this.opts.audit, nowMs)
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
      if (planned.docs) {
        const text = JSON.stringify(planned.docs)
        let at = docPlans.get(text)
        if (at === undefined) docPlans.set(text, (at = docPlans.size + 1))
        plan[6] = at
      }
      if (plan[3] !== 0) {
        plan[3][2] = hLists.add(planned.h!)
        reservations = true
      }
      if (q.tx.tenants?.length || q.tx.apiKeys?.length) invalidates = true
      if (q.tx.docs?.length) docWrites = true
      plans.push(JSON.stringify(plan))
      sent.push({q, ledgerOf})
    }
    if (sent.length === 0 && reads.length === 0) return
    const L = this.keys
    let batch = `{"p":[${plans.join(',')}]`
    if (cLists.texts.length > 0) batch += `,"c":[${cLists.texts.join(',')}]`
    if (dLists.texts.length > 0) batch += `,"d":[${dLists.texts.join(',')}]`
    if (hLists.texts.length > 0) batch += `,"h":[${hLists.texts.join(',')}]`
    if (docPlans.size > 0) batch += `,"dp":[${[...docPlans.keys()].join(',')}]`
    if (reservations) batch += `,"x":[${k(L.reservationTtl())},"${Math.max(1, Math.round(this.opts.terminalRetentionMs))}",${L.reservationIdAt()}]`
    if (docWrites) batch += `,"dx":[${k(L.docExpiry())},${L.docMemberAt()}]`
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
            q.resolve(settleTx(q.tx, replies[i], ledgerOf, this.opts.onApplied))
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
