// Events read off the real book's ledger post-states (the store returns them with each applied
// transaction): budget.threshold_crossed, budget.exhausted, budget.over_limit_entered|exited,
// budget.debt_incurred and budget.burn_rate_anomaly. The state kept per ledger is its last seen
// counters and the detectors' few numbers; nothing is read from the store on the request path.
//
// One instance sees only the changes it applies: with several daemons on one Redis each sees its
// own share of the traffic (a crossing made by another instance is reported by that one).
import type {Ledger} from '../protocol/types.js'
import type {Store, Tx, TxResult} from '../store/types.js'
import {type EventOrigin, SOURCE_RUNTIME, buildEvent} from './build.js'
import type {EventThresholds} from './config.js'
import type {CyclesEvent, EventSink} from './event.js'
import {BurnRateDetector} from './detectors/burn-rate.js'
import {ThresholdDetector} from './detectors/threshold.js'

const REAL = 'real|'

export interface LedgerWatchOptions {
  sink: EventSink
  thresholds: EventThresholds
  now: () => number
  /** The request an applied transaction belongs to, when known (correlation ids). */
  origin?: () => EventOrigin | undefined
}

export class LedgerWatch {
  private readonly last = new Map<string, Ledger>()
  private readonly thresholds: ThresholdDetector
  private readonly burn: BurnRateDetector

  constructor(private readonly options: LedgerWatchOptions) {
    this.thresholds = new ThresholdDetector(options.thresholds.budget_utilization)
    this.burn = new BurnRateDetector({
      windowMs: options.thresholds.burn_rate_window_seconds * 1000,
      multiplier: options.thresholds.burn_rate_multiplier,
      baselineWindows: options.thresholds.burn_rate_baseline_windows,
    })
  }

  /** The real ledgers as they are at start: later changes are compared with these, not reported as new. */
  async seed(store: Store): Promise<void> {
    for (const l of await store.listLedgers('real')) this.remember(`${REAL}${l.scope}|${l.unit}`, l)
  }

  /** A transaction that touches the real book asks the store for its post-states. */
  static wantsLedgers(tx: Tx): boolean {
    if (tx.returnLedgers) return false
    return Boolean(tx.deltas?.some((d) => d.book === 'real') || tx.overage?.some((o) => o.book === 'real') || tx.createLedgers?.some((l) => l.book === 'real'))
  }

  afterApply(tx: Tx, result: TxResult): void {
    if (!result.ok) return
    for (const l of tx.createLedgers ?? []) if (l.book === 'real') this.remember(`${REAL}${l.scope}|${l.unit}`, l)
    if (result.ledgers.size === 0) return
    const origin = this.options.origin?.() ?? originOfAudit(tx)
    const reservationId = tx.reservation?.value.reservation_id
    const now = this.options.now()
    for (const [key, after] of result.ledgers) {
      if (!key.startsWith(REAL)) continue
      const before = this.last.get(key)
      this.remember(key, after)
      for (const event of this.eventsFor(before, after, reservationId, origin, now)) this.options.sink.emit(event)
    }
  }

  private remember(key: string, l: Ledger): void {
    // A copy of the counters only: the store may reuse its objects.
    const copy = {...l}
    if (!this.last.has(key)) this.thresholds.seed(key, copy)
    this.last.set(key, copy)
  }

  private eventsFor(before: Ledger | undefined, after: Ledger, reservationId: string | undefined, origin: EventOrigin | undefined, now: number): CyclesEvent[] {
    const key = `${REAL}${after.scope}|${after.unit}`
    const out: CyclesEvent[] = []
    const event = (type: string, data: Record<string, unknown>) =>
      buildEvent(now, type, {scope: after.scope, source: SOURCE_RUNTIME, actor: {type: 'system'}, data: {scope: after.scope, unit: after.unit, ...data}, ...origin})
    for (const signal of this.thresholds.observe(key, after)) {
      const figures = {utilization: signal.utilization, allocated: after.allocated, remaining: after.remaining, spent: after.spent, reserved: after.reserved}
      if (signal.kind === 'threshold') out.push(event('budget.threshold_crossed', {threshold: signal.threshold, ...figures, direction: signal.direction}))
      else out.push(event('budget.exhausted', {threshold: 1, ...figures, direction: 'rising'}))
    }
    if (!before) return out
    if (after.is_over_limit !== before.is_over_limit) {
      out.push(
        event(after.is_over_limit ? 'budget.over_limit_entered' : 'budget.over_limit_exited', {
          debt: after.debt,
          overdraft_limit: after.overdraft_limit,
          is_over_limit: after.is_over_limit,
          ...(after.overdraft_limit > 0 ? {debt_utilization: after.debt / after.overdraft_limit} : {}),
        }),
      )
    }
    // Only spend raises debt (a commit or event over what is left); admin changes only lower it.
    if (after.debt > before.debt) {
      out.push(
        event('budget.debt_incurred', {
          ...(reservationId ? {reservation_id: reservationId} : {}),
          debt_incurred: after.debt - before.debt,
          total_debt: after.debt,
          overdraft_limit: after.overdraft_limit,
          ...(after.commit_overage_policy ? {overage_policy: after.commit_overage_policy} : {}),
        }),
      )
    }
    const spend = after.spent - before.spent
    if (spend > 0) {
      const anomaly = this.burn.observe(key, spend, now)
      if (anomaly) {
        out.push(event('budget.burn_rate_anomaly', {...anomaly, projected_exhaustion_minutes: after.remaining > 0 ? after.remaining / anomaly.current_rate : 0}))
      }
    }
    return out
  }
}

/** An admin transaction carries its request's ids on its audit rows. */
function originOfAudit(tx: Tx): EventOrigin | undefined {
  const row = tx.audit?.[0]
  return row ? {...(row.request_id ? {request_id: row.request_id} : {}), ...(row.trace_id ? {trace_id: row.trace_id} : {})} : undefined
}
