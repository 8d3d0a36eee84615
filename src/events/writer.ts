// The daemon's event writer: emit() only appends to an in-memory buffer; a timer writes the buffer
// to the `events` collection in batches (one store transaction per batch), so a request never waits
// on an event. While the store is down the buffer holds what it can (max_buffer) and new events
// beyond that are dropped and counted; the batch that failed is tried again on the next tick.
// An event that waited out a store outage gets a fresh event_id when it is finally written (its
// `timestamp` keeps when it happened): ids order the collection by arrival, and the webhook
// dispatcher's cursor moves in id order, so an event stored with its old id would land behind the
// cursor and never be delivered. (A write that failed ambiguously — applied, then timed out — can
// leave the event stored twice, under both ids.)
import {isStoreUnavailable} from '../store/errors.js'
import type {DocWrite, Store} from '../store/types.js'
import {type CyclesEvent, EVENTS_COLLECTION, type EventSink, newEventId} from './event.js'

export interface EventWriterOptions {
  store: Store
  /** Each event doc expires this long after its timestamp. */
  retentionMs: number
  maxBuffer?: number
  flushIntervalMs?: number
  batchSize?: number
  log?: (line: string) => void
  /** The clock of re-issued event ids (default Date.now). */
  now?: () => number
  /** Told whether each write reached the store (system.store_connection_lost / restored). */
  onStoreReachable?: (reachable: boolean, detail?: string) => void
}

export interface EventWriterStats {
  emitted: number
  written: number
  dropped: number
  buffered: number
  write_failures: number
}

export class EventWriter implements EventSink {
  private buffer: CyclesEvent[] = []
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> | undefined
  private closed = false
  private lastDropLogMs = 0
  private lastWriteFailed = false
  /** Events that waited out a failed write: re-issued an id when written (see the file comment). */
  private readonly delayed = new WeakSet<CyclesEvent>()
  readonly stats: EventWriterStats = {emitted: 0, written: 0, dropped: 0, buffered: 0, write_failures: 0}
  private readonly maxBuffer: number
  private readonly flushIntervalMs: number
  private readonly batchSize: number

  constructor(private readonly options: EventWriterOptions) {
    this.maxBuffer = options.maxBuffer ?? 10_000
    this.flushIntervalMs = options.flushIntervalMs ?? 100
    this.batchSize = options.batchSize ?? 500
  }

  emit(event: CyclesEvent): void {
    if (this.closed) return
    if (this.buffer.length >= this.maxBuffer) {
      this.stats.dropped++
      const now = Date.now()
      // Say so at most every 10 s, with the running count, instead of once per dropped event.
      if (now - this.lastDropLogMs >= 10_000) {
        this.lastDropLogMs = now
        this.options.log?.(`events: buffer full (${this.maxBuffer}); ${this.stats.dropped} event(s) dropped so far (is the store reachable?)`)
      }
      return
    }
    this.buffer.push(event)
    if (this.lastWriteFailed) this.delayed.add(event)
    this.stats.emitted++
    this.stats.buffered = this.buffer.length
    if (this.buffer.length >= this.batchSize) this.schedule(0)
    else this.schedule(this.flushIntervalMs)
  }

  /** Write everything buffered now (tests, shutdown). Resolves when the buffer is empty or the store refused. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    while (this.buffer.length > 0) {
      if (this.writing) {
        await this.writing
        continue
      }
      const before = this.buffer.length
      await this.writeBatch()
      if (this.buffer.length >= before) return // the store refused: keep them for the next tick
    }
    await this.writing
  }

  /** Flush and stop accepting events (the daemon calls it before closing the store). */
  async close(): Promise<void> {
    await this.flush()
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.buffer.length > 0) {
      this.options.log?.(`events: ${this.buffer.length} event(s) could not be written before shutdown`)
      this.stats.dropped += this.buffer.length
      this.buffer = []
    }
  }

  private schedule(delayMs: number): void {
    if (this.timer || this.closed) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.writeBatch().then(() => {
        // After a failed write, try again in a second rather than every tick.
        if (this.buffer.length > 0) this.schedule(this.lastWriteFailed ? 1000 : this.buffer.length >= this.batchSize ? 0 : this.flushIntervalMs)
      })
    }, delayMs)
    this.timer.unref()
  }

  private writeBatch(): Promise<void> {
    if (this.writing) return this.writing
    if (this.buffer.length === 0) return Promise.resolve()
    const batch = this.buffer.splice(0, this.batchSize)
    this.writing = this.write(batch).finally(() => {
      this.writing = undefined
      this.stats.buffered = this.buffer.length
    })
    return this.writing
  }

  private async write(batch: CyclesEvent[]): Promise<void> {
    const now = this.options.now ?? Date.now
    const docs: DocWrite[] = batch.map((original) => this.delayed.has(original) ? {...original, event_id: newEventId(now())} : original).map((e) => ({
      collection: EVENTS_COLLECTION,
      id: e.event_id,
      set: e as unknown as Record<string, unknown>,
      expires_at_ms: Date.parse(e.timestamp) + this.options.retentionMs,
    }))
    try {
      const result = await this.options.store.apply({docs})
      if (!result.ok) {
        // Plain sets cannot fail a condition; a refusal here is a bug worth a line, not a retry loop.
        this.stats.dropped += batch.length
        this.options.log?.(`events: the store refused a batch of ${batch.length} (${result.failed} ${result.detail ?? ''})`)
        return
      }
      this.stats.written += batch.length
      this.lastWriteFailed = false
      this.options.onStoreReachable?.(true)
    } catch (error) {
      this.stats.write_failures++
      this.lastWriteFailed = true
      // Back to the front, as much as fits; the rest is dropped and counted.
      const room = Math.max(0, this.maxBuffer - this.buffer.length)
      const kept = batch.slice(0, room)
      this.stats.dropped += batch.length - kept.length
      this.buffer.unshift(...kept)
      for (const e of this.buffer) this.delayed.add(e) // all of them now wait for the store
      if (isStoreUnavailable(error)) this.options.onStoreReachable?.(false, (error as Error).message)
      else this.options.log?.(`events: writing a batch failed: ${(error as Error).message}`)
    }
  }
}

/** A sink that forgets everything (events off, or a component started without the daemon). */
export const NO_EVENTS: EventSink = {emit() {}}
