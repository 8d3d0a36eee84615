// The default store: in-process state, an append-only journal of accepted transactions and a
// snapshot under --state-dir. Recovery loads the snapshot, replays the journal (a torn last line
// from a kill -9 was never acknowledged and is skipped), then compacts into a fresh snapshot.
import fs from 'node:fs'
import path from 'node:path'

import {GroupCommitWriter} from '../../io/group-commit-writer.js'
import type {ApiKey, Book, Ledger, Reservation, Tenant, Unit} from '../../protocol/types.js'
import {DEFAULT_LIMITS, type MemoryLimits, MemoryState, type StateSnapshot} from '../memory-state.js'
import type {
  AuditFilter,
  IdempotencyRecord,
  LedgerFilter,
  ReservationFilter,
  Store,
  StoreHealth,
  TierControl,
  Tx,
  TxResult,
} from '../types.js'

export interface EmbeddedStoreOptions {
  /** Directory for snapshot and journal; omit for a purely in-memory store (tests, simulation). */
  stateDir?: string
  now?: () => number
  limits?: Partial<MemoryLimits>
  fsyncIntervalMs?: number
}

export interface RecoveryReport {
  snapshotLoaded: boolean
  journalLines: number
  tornLines: number
}

export class StateDirLockedError extends Error {
  constructor(readonly dir: string, readonly pid: number) {
    super(`state directory ${dir} is in use by process ${pid}`)
    this.name = 'StateDirLockedError'
  }
}

export class EmbeddedStore implements Store {
  readonly kind = 'embedded' as const
  readonly state: MemoryState
  private journal: GroupCommitWriter | undefined
  private readonly now: () => number
  private pruneTimer: NodeJS.Timeout | undefined
  private lockPath: string | undefined
  recovery: RecoveryReport = {snapshotLoaded: false, journalLines: 0, tornLines: 0}

  private constructor(private readonly options: EmbeddedStoreOptions) {
    this.now = options.now ?? Date.now
    this.state = new MemoryState({...DEFAULT_LIMITS, ...options.limits})
  }

  static async open(options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
    const store = new EmbeddedStore(options)
    if (options.stateDir) store.recover(options.stateDir)
    store.pruneTimer = setInterval(() => store.state.prune(store.now()), 60_000)
    store.pruneTimer.unref()
    return store
  }

  private recover(dir: string): void {
    fs.mkdirSync(dir, {recursive: true})
    this.lock(dir)
    const snapshotPath = path.join(dir, 'snapshot.json')
    const journalPath = path.join(dir, 'journal.jsonl')
    if (fs.existsSync(snapshotPath)) {
      this.state.restore(JSON.parse(fs.readFileSync(snapshotPath, 'utf8')) as StateSnapshot)
      this.recovery.snapshotLoaded = true
    }
    if (fs.existsSync(journalPath)) {
      const lines = fs.readFileSync(journalPath, 'utf8').split('\n')
      for (const line of lines) {
        if (line === '') continue
        let entry: JournalEntry
        try {
          entry = JSON.parse(line)
        } catch {
          this.recovery.tornLines++
          continue
        }
        this.state.replay(txOf(entry), entry.t)
        this.recovery.journalLines++
      }
    }
    this.state.prune(this.now())
    writeFileDurably(snapshotPath, JSON.stringify(this.state.snapshot()))
    fs.writeFileSync(journalPath, '')
    this.journal = new GroupCommitWriter({
      segments: {nextPath: () => journalPath},
      fsyncIntervalMs: this.options.fsyncIntervalMs,
      now: this.now,
    })
  }

  private lock(dir: string): void {
    const lockPath = path.join(dir, 'daemon.lock')
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(lockPath, String(process.pid), {flag: 'wx'})
        this.lockPath = lockPath
        return
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        const pid = Number.parseInt(fs.readFileSync(lockPath, 'utf8'), 10)
        if (pid && pid !== process.pid && processAlive(pid)) throw new StateDirLockedError(dir, pid)
        fs.rmSync(lockPath, {force: true}) // stale lock from a killed process
      }
    }
  }

  async apply(tx: Tx): Promise<TxResult> {
    const t = this.now()
    const result = this.state.apply(tx, t)
    // Conditions were checked just now; a replay only needs the effects.
    if (result.ok && this.journal) this.journal.append(journalLine(t, tx))
    return result
  }

  flushed(): Promise<void> {
    return this.journal ? this.journal.flushed() : Promise.resolve()
  }

  async getTenant(id: string): Promise<Tenant | undefined> {
    return this.state.tenants.get(id)
  }

  async listTenants(): Promise<Tenant[]> {
    return [...this.state.tenants.values()]
  }

  async getApiKey(keyId: string): Promise<ApiKey | undefined> {
    return this.state.apiKeys.get(keyId)
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKey | undefined> {
    return this.state.findApiKeyByHash(keyHash)
  }

  async listApiKeys(tenantId?: string): Promise<ApiKey[]> {
    return [...this.state.apiKeys.values()].filter((k) => !tenantId || k.tenant_id === tenantId)
  }

  async getLedgers(book: Book, scopes: readonly string[], unit: Unit): Promise<Array<Ledger | undefined>> {
    return this.state.getLedgers(book, scopes, unit)
  }

  async unitsAt(book: Book, scopes: readonly string[]): Promise<Array<{scope: string; units: Unit[]}>> {
    return this.state.unitsAt(book, scopes)
  }

  async listLedgers(book: Book, filter?: LedgerFilter): Promise<Ledger[]> {
    return this.state.listLedgers(book, filter)
  }

  async getReservation(id: string): Promise<Reservation | undefined> {
    return this.state.reservations.get(id)
  }

  async listReservations(filter: ReservationFilter) {
    return this.state.listReservations(filter)
  }

  async dueForExpiry(nowMs: number, limit: number): Promise<Reservation[]> {
    return this.state.dueForExpiry(nowMs, limit)
  }

  async getIdempotency(key: string): Promise<IdempotencyRecord | undefined> {
    return this.state.getIdempotency(key, this.now())
  }

  async getControl(): Promise<TierControl | undefined> {
    return this.state.control
  }

  onControlChange(): void {
    // One process owns an embedded store: changes are applied where they are made.
  }

  async listAudit(filter: AuditFilter) {
    return this.state.listAudit(filter)
  }

  async health(): Promise<StoreHealth> {
    return {ok: true}
  }

  async close(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer)
    if (this.journal && this.options.stateDir) {
      this.journal.close()
      // Compact on a clean shutdown so the next start replays nothing.
      writeFileDurably(path.join(this.options.stateDir, 'snapshot.json'), JSON.stringify(this.state.snapshot()))
      fs.writeFileSync(path.join(this.options.stateDir, 'journal.jsonl'), '')
      this.journal = undefined
    }
    if (this.lockPath) fs.rmSync(this.lockPath, {force: true})
  }
}

interface JournalEntry {
  t: number
  tx: Tx
  /** The idempotency record's response body, embedded as JSON rather than as an escaped string. */
  b?: unknown
}

/**
 * One journal line per accepted transaction. Conditions are left out (a replay needs only the
 * effects) and the stored response body is embedded as a JSON value, not re-escaped as a string:
 * JSON.stringify(JSON.parse(body)) gives back the same bytes for the bodies this daemon writes.
 */
type JournaledEffects = Omit<Tx, 'conditions' | 'returnLedgers'>

function journalLine(t: number, tx: Tx): string {
  const idem = tx.idempotency
  // Every effect field of Tx, spelled out (the type makes a new one a compile error here).
  const effects: {[K in keyof Required<JournaledEffects>]: JournaledEffects[K] | undefined} = {
    deltas: tx.deltas,
    createLedgers: tx.createLedgers,
    reservation: tx.reservation,
    idempotency: idem && {key: idem.key, record: {...idem.record, body: ''}, ttl_ms: idem.ttl_ms},
    tenants: tx.tenants,
    apiKeys: tx.apiKeys,
    audit: tx.audit,
    control: tx.control,
  }
  const json = JSON.stringify(effects)
  return idem === undefined ? `{"t":${t},"tx":${json}}` : `{"t":${t},"b":${idem.record.body},"tx":${json}}`
}

function txOf(entry: JournalEntry): Tx {
  if (entry.b === undefined || !entry.tx.idempotency) return entry.tx
  return {...entry.tx, idempotency: {...entry.tx.idempotency, record: {...entry.tx.idempotency.record, body: JSON.stringify(entry.b)}}}
}

function writeFileDurably(file: string, data: string): void {
  const tmp = `${file}.tmp`
  const fd = fs.openSync(tmp, 'w')
  try {
    fs.writeFileSync(fd, data)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
