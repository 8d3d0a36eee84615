// The Redis store: the same Store contract as the embedded store, shared by every daemon instance
// that points at the same Redis. apply() is one generic Lua transaction (apply-script.ts) loaded once
// and run with EVALSHA. Transactions and the hot-path reads are batched (group-commit.ts); listings
// are plain commands (reads.ts). Tenants and API keys are cached briefly, and every cached lookup
// is checked against an auth epoch read in the same batch as the request's other reads, so a
// revocation made through any instance applies from the moment it is acknowledged.
import {Redis} from 'ioredis'

import type {ApiKey, Book, Ledger, Reservation, Tenant, Unit} from '../../protocol/types.js'
import {StoreUnavailableError} from '../errors.js'
import {AUDIT_RETENTION, type AuditRetention} from '../filters.js'
import {AUDIT_CHAIN_COLLECTION, AUDIT_HEAD_ID, applySealedAudit, isChainedAuditRow} from '../../integrity/audit-chain.js'
import type {
  AuditEntry,
  AuditFilter,
  DocListOptions,
  IdempotencyRecord,
  LedgerFilter,
  ReservationFilter,
  Store,
  StoreHealth,
  StoredDoc,
  TierControl,
  Tx,
  TxResult,
} from '../types.js'
import {APPLY_SCRIPT} from './apply-script.js'
import {decodeIdempotency, parseJson, reservationFromHash, valuesToLedger} from './codec.js'
import {quit, redactUrl, toStoreError, withTimeout} from './connection.js'
import {GroupCommit} from './group-commit.js'
import {KeyLayout} from './keys.js'
import {SWEEP_DOCS_SCRIPT} from './doc-script.js'
import * as docs from './docs.js'
import {decodeDoc} from './docs.js'
import * as reads from './reads.js'


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
  /** Audit retention per class (default filters.ts AUDIT_RETENTION); age is enforced by an hourly prune. */
  audit?: AuditRetention
  connectTimeoutMs?: number
  commandTimeoutMs?: number
  /** How long open() waits for the first connection before failing. */
  openTimeoutMs?: number
  /** How often expired docs are swept out (their hashes also expire in Redis; the sweep cleans the indexes). */
  docSweepIntervalMs?: number
  /** The clock of transactions and doc reads (doc expiry, updated_at_ms); tests move it. */
  now?: () => number
  log?: (line: string) => void
}

interface CacheEntry<T> {
  value: T | undefined
  at: number
  /** The auth epoch read before the value was loaded. */
  epoch: string
}

const CACHE_MAX = 50_000
const AUDIT_PRUNE_INTERVAL_MS = 3_600_000
/** Pop rows from the oldest end of one audit list while they are older than ARGV[1] (ms); at most 10,000 per call. */
const PRUNE_AUDIT_SCRIPT = `
local dropped = 0
while dropped < 10000 do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  local ok, row = pcall(cjson.decode, head)
  if ok and type(row) == 'table' and tonumber(row.timestamp_ms) and tonumber(row.timestamp_ms) >= tonumber(ARGV[1]) then break end
  redis.call('LPOP', KEYS[1])
  dropped = dropped + 1
end
return dropped`

export class RedisStore implements Store {
  readonly kind = 'redis' as const
  readonly keys: KeyLayout
  private readonly redis: Redis
  private readonly sub: Redis
  private readonly opts: Required<Omit<RedisStoreOptions, 'log' | 'prefix'>> & Pick<RedisStoreOptions, 'log'>
  private docSweepTimer: NodeJS.Timeout | undefined
  private readonly tenants = new Map<string, CacheEntry<Tenant>>()
  private readonly keysByHash = new Map<string, CacheEntry<ApiKey>>()
  /** Bumped by every invalidation, so a lookup that raced with one is not cached. */
  private generation = 0
  private readonly controlListeners: Array<(c: TierControl) => void> = []
  private lastControlVersion = -1
  private controlTimer: NodeJS.Timeout | undefined
  private auditPruneTimer: NodeJS.Timeout | undefined
  private closed = false
  /** Transactions and hot-path reads, batched per turn of the event loop. */
  private readonly batch: GroupCommit

  private constructor(options: RedisStoreOptions) {
    this.keys = new KeyLayout(options.prefix ?? '')
    this.opts = {
      url: options.url,
      cacheTtlMs: options.cacheTtlMs ?? 2000,
      staleIfErrorMs: options.staleIfErrorMs ?? 600_000,
      controlPollMs: options.controlPollMs ?? 500,
      terminalRetentionMs: options.terminalRetentionMs ?? 24 * 3_600_000,
      audit: options.audit ?? AUDIT_RETENTION,
      connectTimeoutMs: options.connectTimeoutMs ?? 500,
      commandTimeoutMs: options.commandTimeoutMs ?? 1000,
      openTimeoutMs: options.openTimeoutMs ?? 5000,
      docSweepIntervalMs: options.docSweepIntervalMs ?? 60_000,
      now: options.now ?? Date.now,
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
    this.batch = new GroupCommit(this.redis, this.keys, {
      terminalRetentionMs: this.opts.terminalRetentionMs,
      audit: this.opts.audit,
      onApplied: (tx) => this.onApplied(tx),
      now: this.opts.now,
    })
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
    store.auditPruneTimer = setInterval(() => void store.pruneAudit().catch(() => {}), AUDIT_PRUNE_INTERVAL_MS)
    store.auditPruneTimer.unref()
    store.docSweepTimer = setInterval(() => void store.sweepDocs().catch((error: unknown) => store.opts.log?.(`doc sweep failed: ${(error as Error).message}`)), store.opts.docSweepIntervalMs)
    store.docSweepTimer.unref()
    return store
  }

  // ------------------------------------------------------------------ apply

  /**
   * Queue the transaction for the next group commit: every transaction submitted in this turn of the
   * event loop leaves in one APPLY_SCRIPT call that runs them in order, each all-or-nothing on its
   * own (see apply-script.ts).
   */
  apply(tx: Tx): Promise<TxResult> {
    if (!tx.audit?.some(isChainedAuditRow)) return this.batch.apply(tx)
    // Audit rows are sealed here (integrity/audit-chain.ts): one such transaction in flight per
    // instance, so no group-commit batch holds two sealed against the same head; instances race on
    // the head doc's version instead.
    const run = this.auditTail.then(() => applySealedAudit(tx, this.auditChainStore))
    this.auditTail = run.catch(() => undefined)
    return run
  }

  /** The last audit-bearing transaction of this instance (they run one after another). */
  private auditTail: Promise<unknown> = Promise.resolve()
  private readonly auditChainStore = {
    apply: (tx: Tx) => this.batch.apply(tx),
    readHead: async () => (await this.getDocs(AUDIT_CHAIN_COLLECTION, [AUDIT_HEAD_ID]))[0],
  }

  /** Local effects of a transaction whose writes are done. */
  private onApplied(tx: Tx): void {
    // Writes done: tenants and keys changed here are visible here at once (others via pub/sub).
    if (tx.tenants?.length || tx.apiKeys?.length) {
      this.generation++
      for (const t of tx.tenants ?? []) this.tenants.delete(t.tenant_id)
      if (tx.apiKeys?.length) this.keysByHash.clear()
    }
    if (tx.control) this.notifyControl(tx.control)
  }

  flushed(): Promise<void> {
    // Every write was acknowledged by Redis before apply() resolved.
    return Promise.resolve()
  }

  // ------------------------------------------------------------------ tenants and keys

  async getTenant(id: string): Promise<Tenant | undefined> {
    return this.cached(this.tenants, id, () => this.loadTenant(id))
  }

  private async loadTenant(id: string): Promise<Tenant | undefined> {
    return parseJson<Tenant>(await this.redis.get(this.keys.tenant(id)))
  }

  async listTenants(): Promise<Tenant[]> {
    return this.call(() => reads.listTenants(this.redis, this.keys))
  }

  async getApiKey(keyId: string): Promise<ApiKey | undefined> {
    return this.call(async () => parseJson<ApiKey>(await this.redis.get(this.keys.apiKey(keyId))))
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKey | undefined> {
    return this.cached(this.keysByHash, keyHash, () => this.loadApiKeyByHash(keyHash))
  }

  /** Both lookups checked against one read of the auth epoch (one round trip when both are cached). */
  async findApiKeyWithTenant(keyHash: string): Promise<{key?: ApiKey; tenant?: Tenant}> {
    const epoch = this.authEpoch()
    const key = await this.cached(this.keysByHash, keyHash, () => this.loadApiKeyByHash(keyHash), epoch)
    if (!key) return {}
    return {key, tenant: await this.cached(this.tenants, key.tenant_id, () => this.loadTenant(key.tenant_id), epoch)}
  }

  private async loadApiKeyByHash(keyHash: string): Promise<ApiKey | undefined> {
    const id = await this.redis.get(this.keys.apiKeyHashPrefix() + keyHash)
    if (!id) return undefined
    const key = parseJson<ApiKey>(await this.redis.get(this.keys.apiKey(id)))
    return key && key.key_hash === keyHash ? key : undefined
  }

  async listApiKeys(tenantId?: string): Promise<ApiKey[]> {
    return this.call(() => reads.listApiKeys(this.redis, this.keys, tenantId))
  }

  // ------------------------------------------------------------------ ledgers

  async getLedgers(book: Book, scopes: readonly string[], unit: Unit): Promise<Array<Ledger | undefined>> {
    const values = await Promise.all(scopes.map((s) => this.read('L', this.keys.ledger(book, s, unit))))
    return values.map((v, i) => valuesToLedger(v, scopes[i], unit))
  }

  async unitsAt(book: Book, scopes: readonly string[]): Promise<Array<{scope: string; units: Unit[]}>> {
    return this.call(() => reads.unitsAt(this.redis, this.keys, book, scopes))
  }

  async listLedgers(book: Book, filter: LedgerFilter = {}): Promise<Ledger[]> {
    return this.call(() => reads.listLedgers(this.redis, this.keys, book, filter))
  }

  // ------------------------------------------------------------------ reservations

  async getReservation(id: string): Promise<Reservation | undefined> {
    return reservationFromHash(await this.read('R', this.keys.reservation(id)))
  }

  /** Newest first (ties by id), the same order and offset cursors as the embedded store (reads.ts). */
  async listReservations(filter: ReservationFilter): Promise<{reservations: Reservation[]; next_cursor?: string}> {
    return this.call(() => reads.listReservations(this.redis, this.keys, filter))
  }

  async dueForExpiry(nowMs: number, limit: number): Promise<Reservation[]> {
    return this.call(() => reads.dueForExpiry(this.redis, this.keys, nowMs, limit))
  }

  async getIdempotency(key: string): Promise<IdempotencyRecord | undefined> {
    return decodeIdempotency((await this.read('G', this.keys.idempotency(key))) as string | null)
  }

  /** Queue a read for the turn's batch (group-commit.ts). */
  private read(kind: 'L' | 'G' | 'R' | 'H', key: string): Promise<unknown> {
    return this.batch.read(kind, key)
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

  // ------------------------------------------------------------------ docs

  /** Read in the turn's batch (hot path: quota counters), after the transactions of that call. */
  async getDocs(collection: string, ids: readonly string[]): Promise<Array<StoredDoc | undefined>> {
    const hashes = await Promise.all(ids.map((id) => this.read('H', this.keys.doc(collection, id))))
    const now = this.opts.now()
    return hashes.map((h, i) => decodeDoc(collection, ids[i], h as unknown[] | null, now))
  }

  async listDocs(collection: string, options: DocListOptions = {}): Promise<StoredDoc[]> {
    return this.call(() => docs.listDocs(this.redis, this.keys, collection, options, this.opts.now()))
  }

  /**
   * Remove the docs whose expiry is due and their index members, `batch` at a time (reads already
   * leave expired docs out; Redis drops their hashes by itself). Returns how many were looked at.
   */
  async sweepDocs(nowMs: number = this.opts.now(), batch = 1000): Promise<number> {
    let total = 0
    for (;;) {
      const n = Number(await this.call(() => this.redis.eval(SWEEP_DOCS_SCRIPT, 1, this.keys.docExpiry(), String(nowMs), String(batch), this.keys.docKeyPrefix(), this.keys.docIndexPrefix())))
      total += n
      if (n < batch || this.closed) return total
    }
  }

  // ------------------------------------------------------------------ audit

  async listAudit(filter: AuditFilter): Promise<{entries: AuditEntry[]; next_cursor?: string}> {
    return this.call(() => reads.listAudit(this.redis, this.keys, filter))
  }

  /**
   * Drop audit rows past their class's age (the count caps are kept by every write). Atomic per list,
   * so instances pruning at once never drop a row that is still young. Returns the rows dropped.
   */
  async pruneAudit(nowMs: number = Date.now()): Promise<number> {
    const {writes, failures} = this.opts.audit
    const dropped = await Promise.all([
      this.redis.eval(PRUNE_AUDIT_SCRIPT, 1, this.keys.audit(), String(nowMs - writes.maxAgeMs)),
      this.redis.eval(PRUNE_AUDIT_SCRIPT, 1, this.keys.auditFailures(), String(nowMs - failures.maxAgeMs)),
    ])
    return dropped.reduce((sum: number, n) => sum + Number(n), 0)
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
    if (this.auditPruneTimer) clearInterval(this.auditPruneTimer)
    if (this.docSweepTimer) clearInterval(this.docSweepTimer)
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

  /**
   * Cached lookup, served only when the auth epoch — bumped by the apply script with every write of
   * tenants or API keys — still has the value the entry was loaded under. The epoch is read in the
   * turn's batch (shared by every lookup of that turn, and by the request's other reads when issued
   * together), from a call that leaves after the lookup was asked for: a change acknowledged by any
   * instance before is always seen. Entries also age out after cacheTtlMs; pub/sub invalidation
   * drops them sooner. While Redis is unreachable, entries are served stale up to staleIfErrorMs.
   */
  private async cached<T>(
    cache: Map<string, CacheEntry<T>>,
    id: string,
    load: () => Promise<T | undefined>,
    epochRead: Promise<string> = this.authEpoch(),
  ): Promise<T | undefined> {
    const now = Date.now()
    const hit = cache.get(id)
    const generation = this.generation
    try {
      const epoch = await epochRead
      if (hit && hit.epoch === epoch && now - hit.at < this.opts.cacheTtlMs) return hit.value
      // Loaded after the epoch was read: a change in between only makes the entry look older than it is.
      const value = await load()
      if (generation === this.generation) {
        if (cache.size >= CACHE_MAX) cache.clear()
        cache.set(id, {value, at: Date.now(), epoch})
      }
      return value
    } catch (error) {
      const storeError = toStoreError(error)
      if (storeError instanceof StoreUnavailableError && hit && now - hit.at < this.opts.staleIfErrorMs) return hit.value
      throw storeError
    }
  }

  /** The auth epoch, read in the next batch ('0' before the first change). */
  private async authEpoch(): Promise<string> {
    return ((await this.batch.read('G', this.keys.authEpoch())) as string | null) ?? '0'
  }
}

