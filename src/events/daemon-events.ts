// The daemon's events, composed: the writer (the sink every emission point uses), the ledger watch
// behind the store the planes see, and the decision-record feed. `events.enabled: false` gives a
// sink that forgets and the store as it is.
import type {DecisionRecord} from '../decision-log/record.js'
import type {Store} from '../store/types.js'
import {type EventsConfig, retentionMs} from './config.js'
import type {EventSink} from './event.js'
import {LedgerWatch} from './ledger-watch.js'
import {observeApplies} from './observed-store.js'
import {RuntimeEvents} from './runtime-events.js'
import {EventWriter, NO_EVENTS} from './writer.js'

export interface DaemonEventsOptions {
  store: Store
  config: EventsConfig
  now: () => number
  log?: (line: string) => void
}

export class DaemonEvents {
  readonly sink: EventSink
  readonly writer: EventWriter | undefined
  readonly runtime: RuntimeEvents
  readonly ledgers: LedgerWatch

  private constructor(readonly options: DaemonEventsOptions) {
    const {config, now} = options
    this.writer = config.enabled
      ? new EventWriter({
          store: options.store,
          retentionMs: retentionMs(config),
          maxBuffer: config.max_buffer,
          flushIntervalMs: config.flush_interval_ms,
          batchSize: config.batch_size,
          now,
          log: options.log,
          onStoreReachable: (reachable, detail) => this.runtime.storeReachable(reachable, detail),
        })
      : undefined
    this.sink = this.writer ?? NO_EVENTS
    this.runtime = new RuntimeEvents({sink: this.sink, thresholds: config.thresholds, now, observeAllowSampleRate: config.observe_allow_sample_rate})
    this.ledgers = new LedgerWatch({sink: this.sink, thresholds: config.thresholds, now})
  }

  static async start(options: DaemonEventsOptions): Promise<DaemonEvents> {
    const events = new DaemonEvents(options)
    if (options.config.enabled) await events.ledgers.seed(options.store)
    return events
  }

  get enabled(): boolean {
    return this.writer !== undefined
  }

  /** The store for the runtime and admin planes: ledger post-states flow to the watch. */
  observe(store: Store): Store {
    if (!this.enabled) return store
    return observeApplies(store, (tx) => LedgerWatch.wantsLedgers(tx), (tx, result) => this.ledgers.afterApply(tx, result))
  }

  /** Each runtime-plane response: its decision record (if any) and whether it authenticated. */
  onRuntimeResponse(path: string, status: number, record: DecisionRecord | undefined): void {
    if (!this.enabled || path.startsWith('/actuator/')) return
    this.runtime.observeAuthentication(status === 401)
    if (record) this.runtime.observeDecision(record)
  }

  async close(): Promise<void> {
    await this.writer?.close()
  }
}
