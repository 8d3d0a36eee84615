// Group commit for append-only JSONL files: lines appended during one event-loop turn are written
// with one write(2) before any of their callers is told "flushed", and fdatasync runs about once a
// second. A process killed with -9 after a caller was answered has therefore handed its line to the
// kernel; a machine crash can lose at most the last second (the fsync interval).
//
// A write that fails (ENOSPC on a full disk, EIO, ...) never throws into the event loop: the file is
// cut back to its last whole line, the writer is "failing" and retries about once a second. What
// happens to the lines meanwhile is the owner's choice: `keep` holds them in memory (bounded) and
// writes them first when the disk takes writes again, and the callers of the failed batch see
// flushed() reject, so nothing unwritten is acknowledged; `drop` discards them and counts them.
import fs from 'node:fs'

const RESOLVED = Promise.resolve()
const INITIAL_BUFFER = 256 * 1024
const MAX_KEPT_BUFFER = 16 * 1024 * 1024
const DEFAULT_MAX_BACKLOG = 64 * 1024 * 1024

export interface SegmentPolicy {
  /** Path of the file to write next; called at start and at every rotation. */
  nextPath(nowMs: number): string
  /** True when the current segment should be closed before writing more. */
  shouldRotate?(bytesWritten: number, openedAtMs: number, nowMs: number): boolean
}

/** Why the writer cannot write: `DISK_FULL` for ENOSPC/EDQUOT, `WRITE_FAILED` for anything else. */
export type WriteFailureCode = 'DISK_FULL' | 'WRITE_FAILED'

export interface WriteFailure {
  code: WriteFailureCode
  /** The system error code (ENOSPC, EDQUOT, EIO, EACCES, ...). */
  errno: string
  message: string
  path: string
  sinceMs: number
}

/** What flushed() rejects with when the lines of a batch could not be written. */
export class WriteFailedError extends Error {
  readonly code: WriteFailureCode
  constructor(readonly failure: WriteFailure) {
    super(failure.message)
    this.name = 'WriteFailedError'
    this.code = failure.code
  }
}

export interface WriteRecovery {
  failure: WriteFailure
  recoveredAtMs: number
  /** Lines discarded while the writer was failing. */
  droppedLines: number
}

export interface GroupCommitOptions {
  segments: SegmentPolicy
  fsyncIntervalMs?: number
  now?: () => number
  /** While writes fail: `keep` the lines in memory and write them later (default), or `drop` them. */
  whenUnwritable?: 'keep' | 'drop'
  /** `keep`: most bytes held in memory while failing; lines beyond it are dropped (and counted). */
  maxBacklogBytes?: number
  /** How often a failing writer tries the disk again (default 1000 ms). */
  retryIntervalMs?: number
  /** Mode of files the writer creates (default 0600: decisions and state are nobody else's business). */
  fileMode?: number
  onFailure?: (failure: WriteFailure) => void
  onRecovery?: (recovery: WriteRecovery) => void
  /**
   * Seals each (string) line just before it is encoded, in file order (the decision log's hash
   * chain). In drop mode a batch that is not written is rolled back, so the chain links only lines
   * that reached the file.
   */
  sealer?: LineSealer
}

export interface LineSealer {
  seal(line: string): string
  mark(): unknown
  rollback(mark: unknown): void
}

interface Batch {
  promise: Promise<void>
  release: () => void
  fail: (error: Error) => void
}

export class GroupCommitWriter {
  private fd: number | undefined
  private path = ''
  /** Set after a failure closed the file: the next open goes back to the same path. */
  private reopen = false
  private bytes = 0
  private openedAt = 0
  private pending: Array<string | readonly string[]> = []
  private buffer = Buffer.allocUnsafe(INITIAL_BUFFER)
  private batch: Batch | undefined
  private scheduled = false
  private dirty = false
  private syncing = false
  private readonly retired = new Set<number>()
  private readonly timer: NodeJS.Timeout | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private closed = false
  private readonly now: () => number
  private readonly keep: boolean
  private readonly maxBacklog: number
  private readonly retryInterval: number
  /** Encoded lines not yet written (keep mode, while failing), in order. */
  private backlog: Array<{bytes: Buffer; lines: number}> = []
  private backlogSize = 0
  private failed: WriteFailure | undefined
  private retryAt = 0
  private droppedSinceFailure = 0
  linesWritten = 0
  /** Lines discarded because they could not be written (drop mode, or a full backlog). */
  linesDropped = 0

  constructor(private readonly options: GroupCommitOptions) {
    this.now = options.now ?? Date.now
    this.keep = (options.whenUnwritable ?? 'keep') === 'keep'
    this.maxBacklog = options.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG
    this.retryInterval = options.retryIntervalMs ?? 1000
    const interval = options.fsyncIntervalMs ?? 1000
    if (interval > 0) {
      this.timer = setInterval(() => this.sync(), interval)
      this.timer.unref()
    }
  }

  get currentPath(): string {
    return this.path
  }

  /** Set while writes fail; cleared by the first write that succeeds again. */
  get failure(): WriteFailure | undefined {
    return this.failed
  }

  /** Bytes held in memory waiting for the disk (keep mode). */
  get backlogBytes(): number {
    return this.backlogSize
  }

  /**
   * Queue one line (without its newline), whole or in parts written back to back: parts spare the
   * copy that joining a large piece (a stored response body) into one string would make.
   */
  append(line: string | readonly string[]): void {
    if (this.closed) throw new Error('writer is closed')
    this.pending.push(line)
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flushNow())
    }
  }

  /**
   * Resolves once every line appended so far has been written to the file; rejects with a
   * WriteFailedError when they could not be (keep mode). All callers in one batch share one
   * promise, so the barrier costs nothing per request.
   */
  flushed(): Promise<void> {
    if (this.pending.length === 0) {
      // Lines waiting in the backlog are not on disk: nothing that depends on them is durable yet.
      return this.backlogSize > 0 && this.failed ? Promise.reject(new WriteFailedError(this.failed)) : RESOLVED
    }
    if (!this.batch) {
      let release!: () => void
      let fail!: (error: Error) => void
      const promise = new Promise<void>((resolve, reject) => {
        release = resolve
        fail = reject
      })
      this.batch = {promise, release, fail}
    }
    return this.batch.promise
  }

  /** Write everything pending now, synchronously. Never throws: a failure is kept in `failure`. */
  flushNow(): void {
    this.scheduled = false
    const batch = this.batch
    this.batch = undefined
    let written = true
    if (this.pending.length > 0) {
      const count = this.pending.length
      const mark = this.options.sealer?.mark()
      const size = this.encodePending()
      written = this.writeOut(this.buffer.subarray(0, size), count)
      if (!written && !this.keep) this.options.sealer?.rollback(mark)
      // A rare huge batch should not pin its buffer for the life of the process.
      if (this.buffer.length > MAX_KEPT_BUFFER) this.buffer = Buffer.allocUnsafe(INITIAL_BUFFER)
    }
    if (!batch) return
    // In drop mode the callers go on without their lines (the owner counts them); in keep mode they
    // must not acknowledge anything.
    if (written || !this.keep) batch.release()
    else batch.fail(new WriteFailedError(this.failed!))
  }

  /** Try the disk again now: write the backlog (keep mode). True when the writer is healthy. */
  retry(): boolean {
    if (!this.failed) return true
    if (this.backlog.length === 0) {
      // Nothing waiting (drop mode, or nothing written since): prove the file takes writes by opening it.
      if (!this.attempt(() => this.ensureSegment(0))) return false
      this.recovered()
      return true
    }
    return this.drainBacklog()
  }

  /** Write `data` (`lines` lines), after anything still in the backlog; false when it stays unwritten. */
  private writeOut(data: Buffer, lines: number): boolean {
    if (this.failed && (this.keep || this.now() < this.retryAt)) {
      if (this.keep) this.hold(data, lines)
      else this.drop(lines)
      // keep mode: the backlog goes first, in order, once a retry is due
      return this.keep && this.now() >= this.retryAt ? this.drainBacklog() : false
    }
    if (this.writeChunk(data, lines)) {
      if (this.failed) this.recovered()
      return true
    }
    if (this.keep) this.hold(data, lines)
    else this.drop(lines)
    return false
  }

  private hold(data: Buffer, lines: number): void {
    if (this.backlogSize + data.length > this.maxBacklog) {
      this.drop(lines)
      return
    }
    this.backlog.push({bytes: Buffer.from(data), lines})
    this.backlogSize += data.length
  }

  private drop(lines: number): void {
    this.linesDropped += lines
    this.droppedSinceFailure += lines
  }

  private drainBacklog(): boolean {
    while (this.backlog.length > 0) {
      const next = this.backlog[0]
      if (!this.writeChunk(next.bytes, next.lines)) return false
      this.backlog.shift()
      this.backlogSize -= next.bytes.length
    }
    if (this.failed) this.recovered()
    return true
  }

  /** One write of whole lines; on failure the file is cut back to where it was and the writer fails. */
  private writeChunk(data: Buffer, lines: number): boolean {
    return this.attempt(() => {
      this.ensureSegment(data.length)
      const before = this.bytes
      try {
        let rest = data
        while (rest.length > 0) rest = rest.subarray(fs.writeSync(this.fd!, rest))
      } catch (error) {
        // A partial write would leave half a line, and the next write would glue a line to it.
        try {
          fs.ftruncateSync(this.fd!, before)
        } catch {
          // not a regular file (a device in tests); nothing was kept anyway
        }
        throw error
      }
      this.bytes += data.length
      this.linesWritten += lines
      this.dirty = true
    })
  }

  /** Run a file operation; a thrown system error turns the writer to failing. */
  private attempt(operation: () => void): boolean {
    try {
      operation()
      return true
    } catch (error) {
      this.fail(error as NodeJS.ErrnoException)
      return false
    }
  }

  private fail(error: NodeJS.ErrnoException): void {
    const errno = error.code ?? 'EUNKNOWN'
    const code: WriteFailureCode = errno === 'ENOSPC' || errno === 'EDQUOT' ? 'DISK_FULL' : 'WRITE_FAILED'
    const now = this.now()
    this.retryAt = now + this.retryInterval
    if (this.fd !== undefined) {
      // Reopened on the next attempt, so a file replaced meanwhile (or a remounted disk) is picked up.
      this.closeSegment()
      this.reopen = true
    } else if (this.path !== '') this.reopen = true
    if (this.failed) return
    const what = code === 'DISK_FULL' ? 'disk full' : 'write failed'
    this.failed = {code, errno, message: `cannot write ${this.path || 'a new file'}: ${what} (${errno})`, path: this.path, sinceMs: now}
    this.droppedSinceFailure = 0
    if (this.retryInterval > 0 && this.keep) {
      this.retryTimer = setInterval(() => this.retry(), this.retryInterval)
      this.retryTimer.unref()
    }
    this.options.onFailure?.(this.failed)
  }

  private recovered(): void {
    const failure = this.failed!
    this.failed = undefined
    if (this.retryTimer) clearInterval(this.retryTimer)
    this.retryTimer = undefined
    const droppedLines = this.droppedSinceFailure
    this.droppedSinceFailure = 0
    this.options.onRecovery?.({failure, recoveredAtMs: this.now(), droppedLines})
  }

  /**
   * UTF-8 of the pending lines, newline-terminated, into the reused buffer; returns its length.
   * Encoding line by line into one buffer builds no joined string on the heap (it was the largest
   * allocation per request after the response itself).
   */
  private encodePending(): number {
    let size = 0
    const sealer = this.options.sealer
    for (const line of this.pending) {
      if (typeof line === 'string') size = this.encode(sealer ? sealer.seal(line) : line, size)
      else for (const part of line) size = this.encode(part, size)
      this.room(size + 1)
      this.buffer[size++] = 0x0a
    }
    this.pending = []
    return size
  }

  private encode(text: string, at: number): number {
    // A UTF-16 unit is at most 3 bytes of UTF-8: with this much room the text cannot be cut short.
    this.room(at + text.length * 3)
    return at + this.buffer.write(text, at)
  }

  private room(bytes: number): void {
    if (bytes <= this.buffer.length) return
    const bigger = Buffer.allocUnsafe(Math.max(bytes, this.buffer.length * 2))
    this.buffer.copy(bigger)
    this.buffer = bigger
  }

  private ensureSegment(incoming: number): void {
    const now = this.now()
    if (this.fd !== undefined && this.options.segments.shouldRotate?.(this.bytes + incoming, this.openedAt, now)) {
      this.closeSegment()
    }
    if (this.fd === undefined) {
      const reopening = this.reopen
      const file = reopening ? this.path : this.options.segments.nextPath(now)
      this.path = file
      this.reopen = true // until the open below succeeds, a retry goes back to this path
      const fd = fs.openSync(file, 'a', this.options.fileMode ?? 0o600)
      this.fd = fd
      this.reopen = false
      this.bytes = fs.fstatSync(fd).size
      if (!reopening) this.openedAt = now
    }
  }

  /**
   * Write what is pending and fdatasync the current segment now, on the event loop: for the rare
   * moment something must not be claimed before the lines are on disk (a signed checkpoint).
   */
  syncNow(): void {
    this.flushNow()
    if (this.fd === undefined || !this.dirty) return
    try {
      fs.fdatasyncSync(this.fd)
      this.dirty = false
    } catch {
      // the periodic sync retries; the caller's claim is then only as durable as the page cache
    }
  }

  /** fdatasync in the thread pool, so the event loop never waits for the disk. */
  private sync(): void {
    if (this.fd === undefined || !this.dirty || this.syncing) return
    this.dirty = false
    this.syncing = true
    const fd = this.fd
    fs.fdatasync(fd, (error) => {
      this.syncing = false
      if (this.retired.delete(fd)) {
        // The segment was rotated away while this sync ran: finish it now.
        closeDurably(fd)
        return
      }
      // A failed fsync leaves the data in the page cache; the next tick retries.
      if (error) this.dirty = true
    })
  }

  private closeSegment(): void {
    if (this.fd === undefined) return
    const fd = this.fd
    this.fd = undefined
    this.dirty = false
    // Never close a descriptor an fdatasync is still using: the sync's callback closes it.
    if (this.syncing) this.retired.add(fd)
    else closeDurably(fd)
  }

  /** Flush, fsync and close. Lines still unwritten (a disk that stayed full) are counted as dropped. */
  close(): void {
    if (this.closed) return
    this.flushNow()
    if (this.failed && this.backlog.length > 0) this.drainBacklog()
    for (const held of this.backlog) this.drop(held.lines)
    this.backlog = []
    this.backlogSize = 0
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    if (this.retryTimer) clearInterval(this.retryTimer)
    this.closeSegment()
  }
}

function closeDurably(fd: number): void {
  try {
    fs.fdatasyncSync(fd)
  } catch {
    // A full or failing disk: the lines were written (or counted); closing must still happen.
  } finally {
    fs.closeSync(fd)
  }
}
