// The period runner: every daemon instance runs one; at each boundary of a periodic budget (periods.ts)
// it resets the budget's spent to 0 in the real and the shadow book (a RESET_SPENT: allocated, reserved
// and debt carry over) with an audit row and a `budget.reset_spent` event doc. The period's marker doc
// is created with expectVersion 0 in the same transaction, so when several instances share a store
// exactly one of them resets; the others' transactions fail with 'doc' and change nothing.
import {ledgerId} from '../admin/wire.js'
import {type CyclesEvent, EVENTS_COLLECTION, newEventId} from '../events/event.js'
import type {Book, Ledger, Unit} from '../protocol/types.js'
import type {Condition, LedgerDelta, Store} from '../store/types.js'
import {ADMIN_TENANT} from '../admin/wire.js'
import {scopeTenant} from '../protocol/scope.js'
import {BUDGET_PERIODS_COLLECTION, type BudgetPeriodConfig, PERIOD_MARKERS_COLLECTION, markerId, markerWrite, periodConfigOf, periodStart} from './periods.js'

const LIST_PAGE = 500
/** Attempts per budget and tick when spends keep moving the pinned counters. */
const MAX_ATTEMPTS = 8

export interface PeriodRunnerOptions {
  store: Store
  now: () => number
  /** How often to look for a boundary (default 1 s); a reset lags its boundary by at most this. */
  intervalMs?: number
  /** Which instance did it (audit metadata). */
  instance?: string
  log?: (line: string) => void
}

export interface PeriodReset {
  scope: string
  unit: string
  period: BudgetPeriodConfig['period']
  period_start: string
  previous_spent: {real: number; shadow?: number}
}

export class PeriodRunner {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<unknown> | undefined
  /** Markers this instance has already seen: no store read for them until the period changes. */
  private readonly done = new Set<string>()
  private lastFailure: string | undefined

  constructor(private readonly options: PeriodRunnerOptions) {}

  start(): void {
    if (this.timer) return
    this.timer = setInterval(() => {
      if (this.running) return
      this.running = this.tick()
        .then(() => (this.lastFailure = undefined))
        .catch((error) => {
          // Once per distinct failure (a store that stays unreachable is not a line per second).
          const message = (error as Error).message
          if (message !== this.lastFailure) this.options.log?.(`period runner: ${message}`)
          this.lastFailure = message
        })
        .finally(() => (this.running = undefined))
    }, this.options.intervalMs ?? 1000)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }

  /** One pass: reset every periodic budget whose current period has no marker yet. Returns the resets this instance made. */
  async tick(): Promise<PeriodReset[]> {
    const nowMs = this.options.now()
    const configs: BudgetPeriodConfig[] = []
    let after: string | undefined
    for (;;) {
      const page = await this.options.store.listDocs(BUDGET_PERIODS_COLLECTION, {limit: LIST_PAGE, ...(after ? {after} : {})})
      configs.push(...page.map(periodConfigOf))
      if (page.length < LIST_PAGE) break
      after = page.at(-1)!.id
    }
    const current = new Set(configs.map((c) => markerId(c.scope, c.unit, periodStart(c.period, nowMs))))
    for (const id of this.done) if (!current.has(id)) this.done.delete(id) // past periods
    const due = configs.filter((c) => !this.done.has(markerId(c.scope, c.unit, periodStart(c.period, nowMs))))
    if (due.length === 0) return []
    const ids = due.map((c) => markerId(c.scope, c.unit, periodStart(c.period, nowMs)))
    const markers = await this.options.store.getDocs(PERIOD_MARKERS_COLLECTION, ids)
    const resets: PeriodReset[] = []
    for (const [i, config] of due.entries()) {
      if (markers[i]) {
        this.done.add(ids[i]!)
        continue
      }
      try {
        const reset = await this.resetOne(config, nowMs)
        this.done.add(ids[i]!) // done by us, by another instance, or nothing to reset
        if (reset) resets.push(reset)
      } catch (error) {
        // Not marked done: the next tick tries again. The other budgets go on.
        this.options.log?.(`period runner: ${(error as Error).message}; retried next tick`)
      }
    }
    return resets
  }

  private async resetOne(config: BudgetPeriodConfig, nowMs: number): Promise<PeriodReset | undefined> {
    const {store} = this.options
    const unit = config.unit as Unit
    const start = new Date(periodStart(config.period, nowMs)).toISOString()
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const [[real], [shadow]] = await Promise.all([store.getLedgers('real', [config.scope], unit), store.getLedgers('shadow', [config.scope], unit)])
      // No budget (deleted from the store) or a closed one: mark the period so nobody looks again.
      if (!real || real.status === 'CLOSED') {
        await store.apply({docs: [markerWrite(config, nowMs, true)]})
        return undefined
      }
      const conditions: Condition[] = []
      const deltas: LedgerDelta[] = []
      for (const [book, l] of [['real', real], ['shadow', shadow]] as Array<[Book, Ledger | undefined]>) {
        if (!l) continue
        // Pinned so the audit row and event state exactly what was cleared.
        conditions.push({book, scope: config.scope, unit, field: 'spent', op: 'eq', value: l.spent})
        deltas.push({book, scope: config.scope, unit, set: {spent: 0}})
      }
      const after = {...real, spent: 0, remaining: real.allocated - real.reserved - real.debt}
      const reason = `${config.period} period starting ${start}`
      const result = await store.apply({
        conditions,
        deltas,
        docs: [markerWrite(config, nowMs, true), resetEvent(real, after, reason, nowMs)],
        audit: [
          {
            log_id: `log_${newEventId(nowMs).slice(4)}`,
            timestamp_ms: nowMs,
            tenant_id: scopeTenant(config.scope) ?? ADMIN_TENANT,
            actor_type: 'system',
            operation: 'fundBudget',
            resource_type: 'budget',
            resource_id: `${config.scope}:${unit}`,
            status: 200,
            metadata: {
              operation: 'RESET_SPENT',
              trigger: 'period',
              period: config.period,
              period_start: start,
              scope: config.scope,
              unit,
              reason,
              previous_spent: real.spent,
              ...(shadow ? {previous_shadow_spent: shadow.spent} : {}),
              new_spent: 0,
              ...(this.options.instance ? {instance: this.options.instance} : {}),
            },
          },
        ],
      })
      if (result.ok) {
        await store.flushed()
        this.options.log?.(`period runner: reset spent of ${config.scope} ${unit} (${reason}; was ${real.spent})`)
        return {scope: config.scope, unit: config.unit, period: config.period, period_start: start, previous_spent: {real: real.spent, ...(shadow ? {shadow: shadow.spent} : {})}}
      }
      if (result.failed === 'doc') return undefined // another instance reset this period first
      if (result.failed !== 'condition') throw new Error(`could not reset ${config.scope} ${unit}: ${result.failed}`)
    }
    throw new Error(`spent of ${config.scope} ${unit} kept changing`)
  }
}

/** The admin spec's budget.reset_spent event (EventDataBudgetLifecycle), as a doc of the events collection. */
function resetEvent(before: Ledger, after: Ledger, reason: string, nowMs: number) {
  const state = (l: Ledger) => ({allocated: l.allocated, remaining: l.remaining, debt: l.debt, spent: l.spent, reserved: l.reserved, status: l.status})
  const event: CyclesEvent = {
    event_id: newEventId(nowMs),
    event_type: 'budget.reset_spent',
    category: 'budget',
    timestamp: new Date(nowMs).toISOString(),
    tenant_id: scopeTenant(before.scope) ?? ADMIN_TENANT,
    scope: before.scope,
    actor: {type: 'scheduler'},
    source: 'cycles-server',
    data: {
      ledger_id: ledgerId(before.scope, before.unit),
      scope: before.scope,
      unit: before.unit,
      operation: 'RESET_SPENT',
      previous_state: state(before),
      new_state: state(after),
      spent_override_provided: false,
      reason,
    },
  }
  return {collection: EVENTS_COLLECTION, id: event.event_id, set: event as unknown as Record<string, unknown>, expectVersion: 0}
}
