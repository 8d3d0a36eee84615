// Group commit for append-only JSONL files: lines appended during one event-loop turn are written
// with one write(2) before any of their callers is told "flushed", and fdatasync runs about once a
// second. A process killed with -9 after a caller was answered has therefore handed its line to the
// kernel; a machine crash can lose at most the last second (the fsync interval).
import fs from 'node:fs'

const RESOLVED = Promise.resolve()
const INITIAL_BUFFER = 256 * 1024
const MAX_KEPT_BUFFER = 16 * 1024 * 1024

export interface SegmentPolicy {
  /** Path of the file to write next; called at start and at every rotation. */
  nextPath(nowMs: number): string
  /** True when the current segment should be closed before writing more. */
  shouldRotate?(bytesWritten: number, openedAtMs: number, nowMs: number): boolean
}

export interface GroupCommitOptions {
  segments: SegmentPolicy
  fsyncIntervalMs?: number
  now?: () => number
}

export class GroupCommitWriter {
  private fd: number | undefined
  private path = ''
  private bytes = 0
  private openedAt = 0
  private pending: Array<string | readonly string[]> = []
  private buffer = Buffer.allocUnsafe(INITIAL_BUFFER)
  private batch: {promise: Promise<void>; release: () => void} | undefined
  private scheduled = false
  private dirty = false
  private syncing = false
  private readonly retired = new Set<number>()
  private readonly timer: NodeJS.Timeout | undefined
  private closed = false
  private readonly now: () => number
  linesWritten = 0

  constructor(private readonly options: GroupCommitOptions) {
    this.now = options.now ?? Date.now
    const interval = options.fsyncIntervalMs ?? 1000
    if (interval > 0) {
      this.timer = setInterval(() => this.sync(), interval)
      this.timer.unref()
    }
  }

  get currentPath(): string {
    return this.path
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
   * Resolves once every line appended so far has been written to the file. All callers in one batch
   * share one promise, so the barrier costs nothing per request.
   */
  flushed(): Promise<void> {
    if (this.pending.length === 0) return RESOLVED
    if (!this.batch) {
      let release!: () => void
      const promise = new Promise<void>((resolve) => (release = resolve))
      this.batch = {promise, release}
    }
    return this.batch.promise
  }

  /** Write everything pending now, synchronously. */
  flushNow(): void {
    this.scheduled = false
    if (this.pending.length > 0) {
      const count = this.pending.length
      const size = this.encodePending()
      this.ensureSegment(size)
      let rest = this.buffer.subarray(0, size)
      while (rest.length > 0) rest = rest.subarray(fs.writeSync(this.fd!, rest))
      // A rare huge batch should not pin its buffer for the life of the process.
      if (this.buffer.length > MAX_KEPT_BUFFER) this.buffer = Buffer.allocUnsafe(INITIAL_BUFFER)
      this.bytes += size
      this.linesWritten += count
      this.dirty = true
    }
    const batch = this.batch
    this.batch = undefined
    batch?.release()
  }

  /**
   * UTF-8 of the pending lines, newline-terminated, into the reused buffer; returns its length.
   * Encoding line by line into one buffer builds no joined string on the heap (it was the largest
   * allocation per request after the response itself).
   */
  private encodePending(): number {
    let size = 0
    for (const line of this.pending) {
      if (typeof line === 'string') size = this.encode(line, size)
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
      this.path = this.options.segments.nextPath(now)
      this.fd = fs.openSync(this.path, 'a')
      this.bytes = fs.fstatSync(this.fd).size
      this.openedAt = now
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

  /** Flush, fsync and close. */
  close(): void {
    if (this.closed) return
    this.flushNow()
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    this.closeSegment()
  }
}

function closeDurably(fd: number): void {
  try {
    fs.fdatasyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}
