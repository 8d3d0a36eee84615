// The default store: in-process state, an append-only journal of accepted transactions and a
// snapshot under --state-dir (file formats in state-files.ts). The journal is written in segments;
// each sealed segment is folded into the snapshot by a worker thread, so the journal stays bounded
// while the daemon runs. Recovery loads the snapshot, replays the segments it does not contain yet
// (a torn last line of the last segment, from a kill -9 or a host crash, was never acknowledged and
// is skipped), then writes a fresh one. Any other damage stops the start (StateCorruptError) with
// every file left as it was, unless `recover` sets the damaged lines aside (quarantine.ts).
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {Worker} from 'node:worker_threads'

import {GroupCommitWriter, type WriteFailure} from '../../io/group-commit-writer.js'
import type {ApiKey, Book, Ledger, Reservation, Tenant, Unit} from '../../protocol/types.js'
import {DEFAULT_LIMITS, type MemoryLimits, MemoryState} from '../memory-state.js'
import type {CompactionJob, CompactionResult} from './compaction-worker.js'
import {type QuarantineReport, quarantine} from './quarantine.js'
import {type Damage, StateCorruptError} from './state-damage.js'
import {
  FILE_MODE,
  createSegment,
  ensureStateDir,
  journalLine,
  listSegments,
  readSnapshot,
  removeSegmentsThrough,
  replaySegment,
  segmentPath,
  writeSnapshot,
} from './state-files.js'
import type {
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

export interface EmbeddedStoreOptions {
  /** Directory for snapshot and journal; omit for a purely in-memory store (tests, simulation). */
  stateDir?: string
  now?: () => number
  limits?: Partial<MemoryLimits>
  fsyncIntervalMs?: number
  /** A journal segment is sealed and folded into the snapshot (in a worker thread) past this size. */
  journalSegmentBytes?: number
  /**
   * `--recover`: start even though lines of the state directory are damaged, setting them aside in a
   * quarantine directory and reporting what they held (`recovery.quarantine`). Without it, damage
   * throws StateCorruptError and nothing is changed.
   */
  recover?: boolean
  /** Where the store reports trouble while running (a failed compaction). */
  log?: (line: string) => void
}

/**
 * At 15k dry-runs/s the journal grows ~20 MB/s. A compaction reads the snapshot (up to ~400 MiB with
 * the default caps) and writes it anew, so segments at least that large keep its cost per journal
 * byte bounded; a crash replays at most about two of them.
 */
const DEFAULT_SEGMENT_BYTES = 512 * 1024 * 1024

export interface RecoveryReport {
  snapshotLoaded: boolean
  journalLines: number
  tornLines: number
  /** Only after `recover` found damage: what was set aside and lost. */
  quarantine?: QuarantineReport
  /** Set when the fresh snapshot after recovery could not be written (e.g. a full disk). */
  snapshotError?: string
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
  /** The journal segment being written (empty until the first write). */
  journalPath = ''
  private activeSeq = 0
  private sealedThrough = 0
  private compactedThrough = 0
  private compaction: Worker | undefined
  private closing = false
  readonly journalStats: {compactions: number; failedCompactions: number; lastCompactionMs?: number; lastCompactionError?: string} = {
    compactions: 0,
    failedCompactions: 0,
  }

  private constructor(private readonly options: EmbeddedStoreOptions) {
    this.now = options.now ?? Date.now
    this.state = new MemoryState({...DEFAULT_LIMITS, ...options.limits})
  }

  static async open(options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
    const store = new EmbeddedStore(options)
    if (options.stateDir) {
      try {
        store.recover(options.stateDir)
      } catch (error) {
        store.unlock() // a refused start leaves the directory as it found it
        throw error
      }
    }
    store.pruneTimer = setInterval(() => store.state.prune(store.now()), 60_000)
    store.pruneTimer.unref()
    return store
  }

  private recover(dir: string): void {
    ensureStateDir(dir)
    this.lock(dir)
    const damage: Damage[] = []
    const {loaded, journalThrough, format} = readSnapshot(dir, this.state, damage)
    this.recovery.snapshotLoaded = loaded
    const segments = listSegments(dir)
    if (!loaded && segments.length > 0) {
      // Every version writes its snapshot before its first journal line: the state before them is gone.
      const problem = 'journal segments but no snapshot: the state they apply to is missing'
      throw new StateCorruptError(dir, [{file: segments[0].path, line: 1, problem, held: 'snapshot head'}], false)
    }
    let last = Math.max(0, journalThrough)
    const lastSeq = segments.at(-1)?.seq
    for (const segment of segments) {
      if (segment.seq <= journalThrough) continue // already in the snapshot (a compaction ended just before a crash)
      replaySegment(segment.path, this.state, this.recovery, {format, lastSegment: segment.seq === lastSeq, damage})
      last = Math.max(last, segment.seq)
    }
    if (damage.length > 0) {
      if (!this.options.recover) throw new StateCorruptError(dir, damage, true)
      this.recovery.quarantine = quarantine(dir, damage, this.state, this.now())
    }
    this.state.prune(this.now())
    // Start from a fresh snapshot and an empty journal. On a full disk, start without it: the old
    // snapshot and the segments stay valid, and new segments follow them.
    try {
      writeSnapshot(dir, this.state, last)
      removeSegmentsThrough(dir, last)
    } catch (error) {
      this.recovery.snapshotError = (error as Error).message
    }
    this.activeSeq = last
    const segmentBytes = this.options.journalSegmentBytes ?? DEFAULT_SEGMENT_BYTES
    this.journal = new GroupCommitWriter({
      segments: {
        nextPath: () => {
          // Every segment after the first seals the one before it: fold that into the snapshot.
          if (this.journalPath !== '') {
            this.sealedThrough = this.activeSeq
            this.compactSoon()
          }
          this.activeSeq++
          this.journalPath = segmentPath(dir, this.activeSeq)
          createSegment(this.journalPath) // private (0600), and its name durable
          return this.journalPath
        },
        shouldRotate: (bytes) => bytes > segmentBytes,
      },
      fsyncIntervalMs: this.options.fsyncIntervalMs,
      now: this.now,
    })
  }

  /** Run one compaction worker at a time, for every segment sealed so far. */
  private compactSoon(): void {
    if (this.compaction || this.closing || !this.options.stateDir || this.sealedThrough <= this.compactedThrough) return
    const job: CompactionJob = {dir: this.options.stateDir, upTo: this.sealedThrough, nowMs: this.now(), limits: this.state.limits}
    const worker = new Worker(compactionWorkerUrl(), {workerData: job})
    this.compaction = worker
    let done = false
    worker.on('message', (result: CompactionResult) => {
      done = true
      this.compactedThrough = result.upTo
      this.journalStats.compactions++
      this.journalStats.lastCompactionMs = Math.round(result.ms)
    })
    worker.on('error', (error) => {
      // The segments stay; the next seal retries, and recovery replays them (or names the damage).
      this.journalStats.failedCompactions++
      this.journalStats.lastCompactionError = error.message
      // The state in memory is whole: a clean stop writes all of it to a fresh snapshot.
      this.options.log?.(`journal compaction failed (its journal segments are kept; a clean stop writes a whole snapshot from memory): ${error.message}`)
    })
    worker.on('exit', () => {
      this.compaction = undefined
      // Segments sealed while it ran go next; after a failure, wait for the next seal (no busy retry loop).
      if (done) this.compactSoon()
    })
  }

  private lock(dir: string): void {
    const lockPath = path.join(dir, 'daemon.lock')
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(lockPath, String(process.pid), {flag: 'wx', mode: FILE_MODE})
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

  async findApiKeyWithTenant(keyHash: string): Promise<{key?: ApiKey; tenant?: Tenant}> {
    const key = this.state.findApiKeyByHash(keyHash)
    return {key, tenant: key && this.state.tenants.get(key.tenant_id)}
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

  async getDocs(collection: string, ids: readonly string[]): Promise<Array<StoredDoc | undefined>> {
    return this.state.getDocs(collection, ids, this.now())
  }

  async listDocs(collection: string, options: DocListOptions = {}): Promise<StoredDoc[]> {
    return this.state.listDocs(collection, options, this.now())
  }

  async health(): Promise<StoreHealth> {
    const failure = this.journalFailure
    return failure ? {ok: false, detail: `state journal: ${failure.message}`} : {ok: true}
  }

  /** Set while the journal cannot be written (a full state disk): changes are not durable. */
  get journalFailure(): WriteFailure | undefined {
    return this.journal?.failure
  }

  get journalBacklogBytes(): number {
    return this.journal?.backlogBytes ?? 0
  }

  get journalLinesDropped(): number {
    return this.journal?.linesDropped ?? 0
  }

  async close(): Promise<void> {
    this.closing = true
    if (this.pruneTimer) clearInterval(this.pruneTimer)
    // A compaction still running would race the final snapshot below: stop it (its files stay valid).
    if (this.compaction) await this.compaction.terminate()
    if (this.journal && this.options.stateDir) {
      this.journal.close()
      // Compact on a clean shutdown so the next start replays nothing.
      writeSnapshot(this.options.stateDir, this.state, this.activeSeq)
      removeSegmentsThrough(this.options.stateDir, this.activeSeq)
      this.journal = undefined
    }
    this.unlock()
  }

  private unlock(): void {
    if (this.lockPath) fs.rmSync(this.lockPath, {force: true})
    this.lockPath = undefined
  }

}

function compactionWorkerUrl(): URL {
  const sibling = new URL('./compaction-worker.js', import.meta.url)
  if (fs.existsSync(fileURLToPath(sibling))) return sibling
  // Under the test runner this module is the TypeScript source: the worker runs its build.
  return new URL('../../../dist/src/store/embedded/compaction-worker.js', import.meta.url)
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
