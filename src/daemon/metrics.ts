// Prometheus metrics of a daemon (GET /metrics on the admin plane), kept by prom-client in a registry
// of its own (never the library's global one: several daemons can live in one process, as in tests).
// Decisions are counted from the same decision records the log gets; gauges are read at scrape time.
import {Counter, Gauge, Histogram, Registry} from 'prom-client'

import type {DecisionRecord} from '../decision-log/record.js'
import {TIERS} from '../protocol/types.js'
import type {TierControl} from '../store/types.js'

/** What the gauges read when Prometheus scrapes: the daemon's own figures, no extra bookkeeping. */
export interface MetricsSource {
  storeUp: () => Promise<boolean>
  control: () => TierControl
  /** Bytes of state-journal lines waiting for the disk (embedded store; 0 for Redis). */
  journalUnwrittenBytes: () => number
  decisionLog: () => {writable: boolean; records_written: number; records_dropped: number}
  shed: () => Record<string, number>
  inFlight: () => number
}

/** Request latency buckets, in seconds: 100 µs to 1 s (the daemon answers in well under a millisecond when healthy). */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

export class DaemonMetrics {
  readonly registry = new Registry()
  private readonly decisions: Counter<'endpoint' | 'decision' | 'tier' | 'mode'>
  private readonly wouldDenials: Counter<'endpoint' | 'tier' | 'mode'>
  private readonly latency: Histogram<'endpoint'>
  /** Label children cached by their joined values: the request path does a map look-up, not a label hash. */
  private readonly decisionChildren = new Map<string, {inc: () => void}>()
  private readonly wouldChildren = new Map<string, {inc: () => void}>()
  private readonly latencyChildren = new Map<string, {observe: (v: number) => void}>()

  constructor(source: MetricsSource) {
    const registers = [this.registry]
    this.decisions = new Counter({
      name: 'cycles_decisions_total',
      help: 'Decisions answered, by endpoint, decision, risk tier and mode (shadow or enforce).',
      labelNames: ['endpoint', 'decision', 'tier', 'mode'],
      registers,
    })
    this.wouldDenials = new Counter({
      name: 'cycles_would_denials_total',
      help: 'Requests the evaluator would have denied (in shadow mode they were allowed), by endpoint, tier and mode.',
      labelNames: ['endpoint', 'tier', 'mode'],
      registers,
    })
    this.latency = new Histogram({
      name: 'cycles_request_duration_seconds',
      help: 'Time from request received to response ready, per endpoint (the decision record latency).',
      labelNames: ['endpoint'],
      buckets: LATENCY_BUCKETS,
      registers,
    })
    new Gauge({
      name: 'cycles_store_up',
      help: '1 when the state store answers its health check, else 0.',
      registers,
      async collect() {
        this.set((await source.storeUp()) ? 1 : 0)
      },
    })
    new Gauge({
      name: 'cycles_tier_enforced',
      help: '1 when the tier is in enforce mode and the kill switch is released, else 0.',
      labelNames: ['tier'],
      registers,
      collect() {
        const c = source.control()
        for (const tier of TIERS) this.set({tier}, c.tiers[tier] === 'enforce' && !c.killswitch.engaged ? 1 : 0)
      },
    })
    new Gauge({
      name: 'cycles_tier_enforce_percent',
      help: 'Share of runs enforced while the tier is in enforce mode (the ramp), 0-100.',
      labelNames: ['tier'],
      registers,
      collect() {
        const c = source.control()
        for (const tier of TIERS) this.set({tier}, c.enforce_percent?.[tier] ?? 100)
      },
    })
    new Gauge({
      name: 'cycles_killswitch_engaged',
      help: '1 while the kill switch is engaged (every tier answers in shadow mode).',
      registers,
      collect() {
        this.set(source.control().killswitch.engaged ? 1 : 0)
      },
    })
    new Gauge({
      name: 'cycles_state_journal_unwritten_bytes',
      help: 'State-journal bytes waiting for the disk (embedded store); above 0 for long means the state disk is failing.',
      registers,
      collect() {
        this.set(source.journalUnwrittenBytes())
      },
    })
    new Gauge({
      name: 'cycles_decision_log_writable',
      help: '1 while the decision log can be written, else 0 (decisions go on, records are dropped and counted).',
      registers,
      collect() {
        this.set(source.decisionLog().writable ? 1 : 0)
      },
    })
    new Gauge({
      name: 'cycles_decision_log_records_written',
      help: 'Decision records written since start.',
      registers,
      collect() {
        this.set(source.decisionLog().records_written)
      },
    })
    new Gauge({
      name: 'cycles_decision_log_records_dropped',
      help: 'Decision records dropped since start because the log could not be written.',
      registers,
      collect() {
        this.set(source.decisionLog().records_dropped)
      },
    })
    new Gauge({
      name: 'cycles_requests_shed',
      help: 'Requests shed with 429 since start, by reason (in_flight, queue_time, memory).',
      labelNames: ['reason'],
      registers,
      collect() {
        for (const [reason, n] of Object.entries(source.shed())) this.set({reason}, n)
      },
    })
    new Gauge({
      name: 'cycles_requests_in_flight',
      help: 'Runtime requests being evaluated now.',
      registers,
      collect() {
        this.set(source.inFlight())
      },
    })
  }

  /** Count one decision record (called once per record, on the request path). */
  observe(record: DecisionRecord): void {
    const key = `${record.endpoint}|${record.decision}|${record.tier}|${record.mode}`
    let decided = this.decisionChildren.get(key)
    if (!decided) this.decisionChildren.set(key, (decided = this.decisions.labels(record.endpoint, record.decision, record.tier, record.mode)))
    decided.inc()
    if (record.would_decision === 'DENY') {
      const wouldKey = `${record.endpoint}|${record.tier}|${record.mode}`
      let would = this.wouldChildren.get(wouldKey)
      if (!would) this.wouldChildren.set(wouldKey, (would = this.wouldDenials.labels(record.endpoint, record.tier, record.mode)))
      would.inc()
    }
    let timed = this.latencyChildren.get(record.endpoint)
    if (!timed) this.latencyChildren.set(record.endpoint, (timed = this.latency.labels(record.endpoint)))
    timed.observe(record.latency_us / 1e6)
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{body: string; contentType: string}> {
    return {body: await this.registry.metrics(), contentType: this.registry.contentType}
  }
}
