// Periodic budgets (a `cycles` extension): a budget may carry `period: hour | day | week | month` (UTC
// calendar; weeks start on Monday). At each boundary the daemon's period runner resets its spent in
// both books. Which budgets are periodic is a doc per budget in `budget-periods`; that a period's reset
// happened is a marker doc per budget and period start in `periods`, created with expectVersion 0 in
// the reset's own transaction, so across any number of instances each boundary resets exactly once.
import type {DocWrite, StoredDoc} from '../store/types.js'

export const BUDGET_PERIODS_COLLECTION = 'budget-periods'
export const PERIOD_MARKERS_COLLECTION = 'periods'
export const BUDGET_PERIODS = ['hour', 'day', 'week', 'month'] as const
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number]

/** Markers outlive their period by this much (only the current period's marker is ever read). */
const MARKER_MARGIN_MS = 7 * 24 * 3_600_000

export interface BudgetPeriodConfig {
  scope: string
  unit: string
  period: BudgetPeriod
  /** When the period was set (ms). */
  since_ms: number
}

/** The start (ms, UTC) of the period of this kind that contains `ms`. */
export function periodStart(period: BudgetPeriod, ms: number): number {
  const d = new Date(ms)
  switch (period) {
    case 'hour':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours())
    case 'day':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
    case 'week': {
      const sinceMonday = (d.getUTCDay() + 6) % 7
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - sinceMonday)
    }
    case 'month':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
  }
}

/** The start of the next period after the one containing `ms`. */
export function nextPeriodStart(period: BudgetPeriod, ms: number): number {
  const start = new Date(periodStart(period, ms))
  switch (period) {
    case 'hour':
      return start.getTime() + 3_600_000
    case 'day':
      return Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 1)
    case 'week':
      return Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 7)
    case 'month':
      return Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1)
  }
}

export const budgetKey = (scope: string, unit: string) => `${scope}|${unit}`

export function markerId(scope: string, unit: string, startMs: number): string {
  return `${budgetKey(scope, unit)}|${new Date(startMs).toISOString()}`
}

/** The marker of the period containing `nowMs`: "this period's reset is done (or not needed)". */
export function markerWrite(config: BudgetPeriodConfig, nowMs: number, expectAbsent: boolean): DocWrite {
  const start = periodStart(config.period, nowMs)
  return {
    collection: PERIOD_MARKERS_COLLECTION,
    id: markerId(config.scope, config.unit, start),
    set: {scope: config.scope, unit: config.unit, period: config.period, period_start: new Date(start).toISOString(), at_ms: nowMs},
    ...(expectAbsent ? {expectVersion: 0} : {}),
    expires_at_ms: nextPeriodStart(config.period, nowMs) + MARKER_MARGIN_MS,
  }
}

/**
 * Writes that make a budget periodic from now on (or not, with `period` undefined). The current
 * period's marker is written too: setting a period mid-period must not reset what was spent so far.
 */
export function periodConfigWrites(scope: string, unit: string, period: BudgetPeriod | undefined, nowMs: number): DocWrite[] {
  const id = budgetKey(scope, unit)
  if (!period) return [{collection: BUDGET_PERIODS_COLLECTION, id, delete: true}]
  const config: BudgetPeriodConfig = {scope, unit, period, since_ms: nowMs}
  return [{collection: BUDGET_PERIODS_COLLECTION, id, set: config as unknown as Record<string, unknown>}, markerWrite(config, nowMs, false)]
}

export function periodConfigOf(doc: StoredDoc): BudgetPeriodConfig {
  return doc.value as unknown as BudgetPeriodConfig
}
