// The Redis store: the same Store contract as the embedded store, shared by every daemon instance
// that points at the same Redis. apply() is one generic Lua transaction (apply-script.ts) loaded once
// and run with EVALSHA. Transactions and the hot-path reads (idempotency records, reservations,
// ledgers) are batched: everything issued in one turn of the event loop — by one request or by many
// concurrent ones — leaves as one EVALSHA that runs the transactions in order (group commit, each
// all-or-nothing on its own), then reads each key once and answers with values only (no field
// names). Tenants and API keys are cached briefly and invalidated over pub/sub, so a revocation made
// through any instance applies at once everywhere.
import {Redis, ReplyError} from 'ioredis'

import type {ApiKey, Book, Ledger, Reservation, Tenant, Unit} from '../../protocol/types.js'
import {UNITS} from '../../protocol/types.js'
import {StoreUnavailableError} from '../errors.js'
import {auditMatches, compareLedgers, decodeCursor, ledgerMatches, paginate, reservationMatches} from '../filters.js'
import type {
  AuditEntry,
  AuditFilter,
  IdempotencyRecord,
  LedgerFilter,
  ReservationFilter,
  Store,
  StoreHealth,
  TierControl,
  Tx,
  TxFailure,
  TxResult,
} from '../types.js'
import {ledgerKey} from '../types.js'
import {APPLY_SCRIPT, RESERVATION_UPDATE_FIELD} from './apply-script.js'
import {decodeIdempotency, encodeIdempotency, encodeSet, flatToObject, hashToLedger, ledgerToHash, reservationFromHash, reservationToHash, valuesToLedger} from './codec.js'
import {KeyLayout} from './keys.js'
import {EncodedCommand, encodeCommand, sha1} from './resp.js'

const APPLY_SHA = sha1(APPLY_SCRIPT)

export interface RedisStoreOptions {
  url: string
  /** Prepended to every key and channel (tests share one server; deployments leave it empty). */
  prefix?: string
  /** How long a tenant / API key lookup is served from memory (pub/sub invalidates sooner). */
  cacheTtlMs?: number
  /** While Redis is unreachable, cached tenants and keys are served up to this age. */
  staleIfErrorMs?: number
  /** Periodic re-read of the control record, on top of pub/sub. */
  controlPollMs?: number
  /** Finished reservations are kept this long (the embedded store prunes them after the same time). */
  terminalRetentionMs?: number
  maxAudit?: number
  connectTimeoutMs?: number
  commandTimeoutMs?: number
  /** How long open() waits for the first connection before failing. */
  openTimeoutMs?: number
  log?: (line: string) => void
}

interface CacheEntry<T> {
  value: T | undefined
  at: number
}

const CACHE_MAX = 50_000

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
  ctl?: {k: number; v: string; ch: string}
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
type ReadKind = 'L' | 'G' | 'R'

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

export class RedisStore implements Store {
  readonly kind = 'redis' as const
  readonly keys: KeyLayout
  private readonly redis: Redis
  private readonly sub: Redis
  private readonly opts: Required<Omit<RedisStoreOptions, 'log' | 'prefix'>> & Pick<RedisStoreOptions, 'log'>
  private readonly tenants = new Map<string, CacheEntry<Tenant>>()
  private readonly keysByHash = new Map<string, CacheEntry<ApiKey>>()
  /** Bumped by every invalidation, so a lookup that raced with one is not cached. */
  private generation = 0
  private readonly controlListeners: Array<(c: TierControl) => void> = []
  private lastControlVersion = -1
  private controlTimer: NodeJS.Timeout | undefined
  private closed = false
  /** Reads waiting for the next batch, by kind, then key. */
  private pending = newPending()
  private flushScheduled = false
  /** Transactions waiting for the next group commit. */
  private pendingTx: QueuedTx[] = []

  private constructor(options: RedisStoreOptions) {
    this.keys = new KeyLayout(options.prefix ?? '')
    this.opts = {
      url: options.url,
      cacheTtlMs: options.cacheTtlMs ?? 2000,
      staleIfErrorMs: options.staleIfErrorMs ?? 600_000,
      controlPollMs: options.controlPollMs ?? 500,
      terminalRetentionMs: options.terminalRetentionMs ?? 24 * 3_600_000,
      maxAudit: options.maxAudit ?? 200_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 500,
      commandTimeoutMs: options.commandTimeoutMs ?? 1000,
      openTimeoutMs: options.openTimeoutMs ?? 5000,
      log: options.log,
    }
    const common = {
      connectTimeout: this.opts.connectTimeoutMs,
      // Fail fast while disconnected instead of queueing: callers get StoreUnavailableError at once.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // Keep reconnecting forever, at most once a second: service resumes without a restart.
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
      lazyConnect: true,
    }
    this.redis = new Redis(options.url, {...common, commandTimeout: this.opts.commandTimeoutMs, enableAutoPipelining: true})
    this.sub = new Redis(options.url, {...common, enableOfflineQueue: true, maxRetriesPerRequest: null})
    // Connection errors are reported through the calls that fail; keep the emitters quiet.
    this.redis.on('error', () => {})
    this.sub.on('error', () => {})
  }

  /** Connect (bounded by openTimeoutMs), load the script, subscribe to invalidation and control. */
  static async open(options: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(options)
    try {
      await withTimeout(Promise.all([store.redis.connect(), store.sub.connect()]), store.opts.openTimeoutMs, `cannot reach Redis at ${redactUrl(options.url)}`)
      await store.redis.script('LOAD', APPLY_SCRIPT)
    } catch (error) {
      store.redis.disconnect()
      store.sub.disconnect()
      throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError(`cannot reach Redis at ${redactUrl(options.url)}: ${(error as Error).message}`, error)
    }
    store.sub.on('message', (channel: string, message: string) => store.onMessage(channel, message))
    store.sub.on('ready', () => {
      // Messages may have been missed while disconnected: forget cached lookups, re-read control.
      store.invalidateAll()
      void store.pollControl()
    })
    await store.sub.subscribe(store.keys.invalidationChannel(), store.keys.controlChannel())
    store.controlTimer = setInterval(() => void store.pollControl(), store.opts.controlPollMs)
    store.controlTimer.unref()
    return store
  }

  // ------------------------------------------------------------------ apply

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
    if (invalidates) batch += `,"inv":${JSON.stringify(L.invalidationChannel())},"hp":${JSON.stringify(L.apiKeyHashPrefix())}`
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
      ;(rare ??= {}).au = {k: k(L.audit()), e: tx.audit.map((e) => JSON.stringify(e)), max: this.opts.maxAudit}
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
    // Writes done: tenants and keys changed here are visible here at once (others via pub/sub).
    if (tx.tenants?.length || tx.apiKeys?.length) {
      this.generation++
      for (const t of tx.tenants ?? []) this.tenants.delete(t.tenant_id)
      if (tx.apiKeys?.length) this.keysByHash.clear()
    }
    if (tx.control) this.notifyControl(tx.control)
    const ledgers = new Map<string, Ledger>()
    if (reply === 1 || reply.length === 1 || !ledgerOf) return {ok: true, ledgers}
    for (let i = 1; i + 1 < reply.length; i += 2) {
      const where = ledgerOf.get(Number(reply[i]))
      if (!where) continue
      const ledger = hashToLedger(flatToObject(reply[i + 1]), where.scope, where.unit)
      if (ledger) ledgers.set(ledgerKey(where.book, where.scope, where.unit), ledger)
    }
    return {ok: true, ledgers}
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
        const d = tx.deltas?.[i]
        return d ? `${d.book} ${d.scope} ${d.unit}` : undefined
      }
      case 'overflow': {
        const d = tx.deltas?.[i]
        return d ? `${d.scope} ${d.unit}` : undefined
      }
      case 'reservation':
        return raw
      default:
        return undefined
    }
  }

  flushed(): Promise<void> {
    // Every write was acknowledged by Redis before apply() resolved.
    return Promise.resolve()
  }

  // ------------------------------------------------------------------ tenants and keys

  async getTenant(id: string): Promise<Tenant | undefined> {
    return this.cached(this.tenants, id, async () => parseJson<Tenant>(await this.redis.get(this.keys.tenant(id))))
  }

  async listTenants(): Promise<Tenant[]> {
    return this.call(async () => {
      const ids = await this.redis.smembers(this.keys.tenantIndex())
      if (ids.length === 0) return []
      const values = await this.redis.mget(ids.map((id) => this.keys.tenant(id)))
      return values.map((v) => parseJson<Tenant>(v)).filter((t): t is Tenant => t !== undefined)
    })
  }

  async getApiKey(keyId: string): Promise<ApiKey | undefined> {
    return this.call(async () => parseJson<ApiKey>(await this.redis.get(this.keys.apiKey(keyId))))
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKey | undefined> {
    return this.cached(this.keysByHash, keyHash, async () => {
      const id = await this.redis.get(this.keys.apiKeyHashPrefix() + keyHash)
      if (!id) return undefined
      const key = parseJson<ApiKey>(await this.redis.get(this.keys.apiKey(id)))
      return key && key.key_hash === keyHash ? key : undefined
    })
  }

  async listApiKeys(tenantId?: string): Promise<ApiKey[]> {
    return this.call(async () => {
      const ids = await this.redis.smembers(this.keys.apiKeyIndex())
      if (ids.length === 0) return []
      const values = await this.redis.mget(ids.map((id) => this.keys.apiKey(id)))
      return values
        .map((v) => parseJson<ApiKey>(v))
        .filter((a): a is ApiKey => a !== undefined && (!tenantId || a.tenant_id === tenantId))
        .sort((a, b) => a.created_at_ms - b.created_at_ms || a.key_id.localeCompare(b.key_id))
    })
  }

  // ------------------------------------------------------------------ ledgers

  async getLedgers(book: Book, scopes: readonly string[], unit: Unit): Promise<Array<Ledger | undefined>> {
    const values = await Promise.all(scopes.map((s) => this.read('L', this.keys.ledger(book, s, unit))))
    return values.map((v, i) => valuesToLedger(v, scopes[i], unit))
  }

  async unitsAt(book: Book, scopes: readonly string[]): Promise<Array<{scope: string; units: Unit[]}>> {
    return this.call(async () => {
      const probes = await Promise.all(scopes.map((s) => Promise.all(UNITS.map((u) => this.redis.exists(this.keys.ledger(book, s, u))))))
      return scopes.map((scope, i) => ({scope, units: UNITS.filter((_, j) => probes[i][j] === 1)}))
    })
  }

  async listLedgers(book: Book, filter: LedgerFilter = {}): Promise<Ledger[]> {
    return this.call(async () => {
      const members = await this.redis.smembers(this.keys.ledgerIndex(book))
      const wanted = members
        .map((m) => {
          const bar = m.lastIndexOf('|')
          return {scope: m.slice(0, bar), unit: m.slice(bar + 1) as Unit}
        })
        .filter((m) => ledgerMatches(m as Ledger, filter))
      const hashes = await Promise.all(wanted.map((m) => this.redis.hgetall(this.keys.ledger(book, m.scope, m.unit))))
      const out: Ledger[] = []
      hashes.forEach((h, i) => {
        const l = hashToLedger(h, wanted[i].scope, wanted[i].unit)
        if (l) out.push(l)
      })
      return out.sort(compareLedgers)
    })
  }

  // ------------------------------------------------------------------ reservations

  async getReservation(id: string): Promise<Reservation | undefined> {
    return reservationFromHash(await this.read('R', this.keys.reservation(id)))
  }

  /**
   * Newest first (ties by id), the same order and offset cursors as the embedded store. Walks the
   * created-at index in chunks, never splitting a group of equal timestamps across chunks.
   */
  async listReservations(filter: ReservationFilter): Promise<{reservations: Reservation[]; next_cursor?: string}> {
    return this.call(async () => {
      const limit = filter.limit ?? 50
      const start = filter.cursor ? (decodeCursor(filter.cursor) ?? 0) : 0
      const need = start + limit + 1
      const indexKey = this.keys.reservationIndex(filter.tenant)
      const matches: Reservation[] = []
      const CHUNK = 256
      let max = '+inf'
      while (matches.length < need) {
        const flat = await this.redis.zrevrangebyscore(indexKey, max, '-inf', 'WITHSCORES', 'LIMIT', 0, CHUNK)
        if (flat.length === 0) break
        let pairs: Array<{id: string; score: number}> = []
        for (let i = 0; i < flat.length; i += 2) pairs.push({id: flat[i], score: Number(flat[i + 1])})
        let done = false
        if (pairs.length < CHUNK) done = true
        else {
          const lowest = pairs[pairs.length - 1].score
          if (pairs[0].score === lowest) {
            const all = await this.redis.zrangebyscore(indexKey, lowest, lowest)
            pairs = all.map((id) => ({id, score: lowest}))
            max = `(${lowest}`
          } else {
            pairs = pairs.filter((p) => p.score > lowest)
            max = String(lowest)
          }
        }
        pairs.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id))
        const values = await Promise.all(pairs.map((p) => this.redis.hmget(this.keys.reservation(p.id), 'cycles_json', RESERVATION_UPDATE_FIELD)))
        const gone: string[] = []
        values.forEach((v, i) => {
          const r = reservationFromHash(v)
          if (!r) gone.push(pairs[i].id)
          else if (reservationMatches(r, filter)) matches.push(r)
        })
        if (gone.length > 0) void this.redis.zrem(indexKey, ...gone).catch(() => {})
        if (done) break
      }
      const {page, next_cursor} = paginate(matches, limit, filter.cursor)
      return {reservations: page, next_cursor}
    })
  }

  async dueForExpiry(nowMs: number, limit: number): Promise<Reservation[]> {
    return this.call(async () => {
      const ids = await this.redis.zrangebyscore(this.keys.reservationTtl(), '-inf', `(${nowMs}`, 'LIMIT', 0, limit)
      if (ids.length === 0) return []
      const values = await Promise.all(ids.map((id) => this.redis.hmget(this.keys.reservation(id), 'cycles_json', RESERVATION_UPDATE_FIELD)))
      const out: Reservation[] = []
      const stale: string[] = []
      values.forEach((v, i) => {
        const r = reservationFromHash(v)
        if (r && r.status === 'ACTIVE' && r.expires_at_ms + r.grace_period_ms < nowMs) out.push(r)
        else if (!r || r.status !== 'ACTIVE') stale.push(ids[i])
      })
      if (stale.length > 0) void this.redis.zrem(this.keys.reservationTtl(), ...stale).catch(() => {})
      return out
    })
  }

  async getIdempotency(key: string): Promise<IdempotencyRecord | undefined> {
    return decodeIdempotency((await this.read('G', this.keys.idempotency(key))) as string | null)
  }

  // ------------------------------------------------------------------ batched reads

  /**
   * Queue a read for the next batch. Every read queued in this turn of the event loop leaves in the
   * turn's one script call (setImmediate: after the I/O callbacks of this turn, so concurrent requests
   * share it), answered after that call's transactions; a key asked for twice is read once and both
   * callers get the same value. A read queued after a write resolved is sent after it, so this
   * instance always reads its own writes.
   */
  private read(kind: ReadKind, key: string): Promise<unknown> {
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

  // ------------------------------------------------------------------ control

  async getControl(): Promise<TierControl | undefined> {
    return this.call(async () => parseJson<TierControl>(await this.redis.get(this.keys.control())))
  }

  onControlChange(listener: (control: TierControl) => void): void {
    this.controlListeners.push(listener)
  }

  private notifyControl(control: TierControl): void {
    if (control.version === this.lastControlVersion) return
    this.lastControlVersion = control.version
    for (const l of this.controlListeners) {
      try {
        l(control)
      } catch (error) {
        this.opts.log?.(`control listener failed: ${(error as Error).message}`)
      }
    }
  }

  private async pollControl(): Promise<void> {
    if (this.closed || this.redis.status !== 'ready') return
    try {
      const control = parseJson<TierControl>(await this.redis.get(this.keys.control()))
      if (control) this.notifyControl(control)
    } catch {
      // Unreachable: the next poll or the pub/sub message brings it.
    }
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.keys.controlChannel()) {
      const control = parseJson<TierControl>(message)
      if (control) this.notifyControl(control)
      return
    }
    this.generation++
    if (message.startsWith('t:')) this.tenants.delete(message.slice(2))
    else if (message.startsWith('k:')) this.keysByHash.delete(message.slice(2))
    else this.invalidateAll()
  }

  private invalidateAll(): void {
    this.generation++
    this.tenants.clear()
    this.keysByHash.clear()
  }

  // ------------------------------------------------------------------ audit

  async listAudit(filter: AuditFilter): Promise<{entries: AuditEntry[]; next_cursor?: string}> {
    return this.call(async () => {
      const limit = filter.limit ?? 50
      const start = filter.cursor ? (decodeCursor(filter.cursor) ?? 0) : 0
      const need = start + limit + 1
      const key = this.keys.audit()
      const total = await this.redis.llen(key)
      const matches: AuditEntry[] = []
      const CHUNK = 500
      // Newest first: walk from the tail.
      for (let end = total - 1; end >= 0 && matches.length < need; end -= CHUNK) {
        const from = Math.max(0, end - CHUNK + 1)
        const chunk = await this.redis.lrange(key, from, end)
        for (let i = chunk.length - 1; i >= 0; i--) {
          const e = parseJson<AuditEntry>(chunk[i])
          if (e && auditMatches(e, filter)) matches.push(e)
        }
      }
      const {page, next_cursor} = paginate(matches, limit, filter.cursor)
      return {entries: page, next_cursor}
    })
  }

  // ------------------------------------------------------------------ health and lifecycle

  async health(): Promise<StoreHealth> {
    if (this.closed) return {ok: false, detail: 'redis store closed'}
    if (this.redis.status !== 'ready') return {ok: false, detail: `redis unreachable (${this.redis.status})`}
    try {
      await withTimeout(this.redis.ping(), this.opts.commandTimeoutMs, 'redis ping timed out')
      return {ok: true}
    } catch (error) {
      return {ok: false, detail: `redis unreachable: ${(error as Error).message}`}
    }
  }

  /** Raw connection, for benchmarks and tests (PING baseline, flushing a test prefix). */
  get client(): Redis {
    return this.redis
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.controlTimer) clearInterval(this.controlTimer)
    await Promise.all([quit(this.redis), quit(this.sub)])
  }

  // ------------------------------------------------------------------ plumbing

  /** Run a Redis operation; connection-level failures become StoreUnavailableError. */
  private async call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op()
    } catch (error) {
      throw toStoreError(error)
    }
  }

  /** Cached lookup: fresh for cacheTtlMs, invalidated by pub/sub, served stale while Redis is down. */
  private async cached<T>(cache: Map<string, CacheEntry<T>>, id: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const now = Date.now()
    const hit = cache.get(id)
    if (hit && now - hit.at < this.opts.cacheTtlMs) return hit.value
    const generation = this.generation
    try {
      const value = await load()
      if (generation === this.generation) {
        if (cache.size >= CACHE_MAX) cache.clear()
        cache.set(id, {value, at: Date.now()})
      }
      return value
    } catch (error) {
      const storeError = toStoreError(error)
      if (storeError instanceof StoreUnavailableError && hit && now - hit.at < this.opts.staleIfErrorMs) return hit.value
      throw storeError
    }
  }
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

const TRANSIENT_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOSCRIPT)/

function toStoreError(error: unknown): Error {
  if (error instanceof StoreUnavailableError) return error
  if (error instanceof ReplyError && !TRANSIENT_REPLY.test((error as Error).message)) return error as Error
  return new StoreUnavailableError(`redis unavailable: ${(error as Error)?.message ?? String(error)}`, error)
}

function parseJson<T>(value: string | null | undefined): T | undefined {
  if (value === null || value === undefined || value === '') return undefined
  return JSON.parse(value) as T
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StoreUnavailableError(message)), ms)
      }),
    ])
  } finally {
    if (timer) clearTimeout(timer)
  }
}

async function quit(r: Redis): Promise<void> {
  try {
    if (r.status === 'ready') await withTimeout(r.quit(), 1000, 'quit timed out')
  } catch {
    // fall through to disconnect
  }
  r.disconnect()
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@')
}

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
