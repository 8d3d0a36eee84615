// The calibration report's trends and curves: per budget, its daily spend against the current and
// suggested allocation with the day it runs out; per tier the daily would-deny rate; and per
// calibrated budget the replayed denial rate as a function of its limit (the curve the suggestion
// was read from). The curve replays the budget alone (every other budget unlimited), exactly as the
// limit search's first step does, with the same exact, resumed replays (calibration/probe.ts).
import {BIG, budgetRecords} from '../calibration/accounting.js'
import {heldBudgets} from '../calibration/book-replay.js'
import type {CalibrationResult} from '../calibration/calibrate.js'
import {LimitProbe} from '../calibration/probe.js'
import {type LogFilter, type ReplayLog, filterSql} from '../calibration/replay-log.js'
import {type BudgetSpec, type TenantSpec, bookLayout} from '../calibration/replay.js'
import {roundReadable} from '../calibration/search.js'
import type {ShadowDb} from './db.js'
import {SERIES_ROWS, type SpendDay, type TierDay, budgetSpend, cumulative, dailyAggregate, daysBetween, firstDenials, tierSeries} from './series.js'

/** Calibrated budgets that get a denial-rate curve (worst verdict first). */
export const CURVE_BUDGETS = 12
/** Points of a curve, as multiples of the suggested limit (plus the current limit). */
const CURVE_MULTIPLES = [0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1, 1.05, 1.1, 1.25, 1.5, 2, 3]

export interface BudgetSeries {
  scope: string
  unit: string
  allocated: number | null
  suggested: number | null
  /** The day it ran out: the earlier of the two below (null: neither happened in the window). */
  runs_out_on: string | null
  /** First day the committed spend reached the current allocation. */
  spend_reached_limit_on: string | null
  /** First day the logged shadow ledger would deny for exceeding this budget (holds count there too, so it may come first). */
  first_denial_on: string | null
  points: SpendDay[]
}

export interface DenialCurve {
  scope: string
  unit: string
  current: number | null
  suggested: number
  /** The budget's replayed denial rate at each limit, every other budget unlimited. */
  points: Array<{limit: number; rate: number}>
}

export interface CalibrationSeries {
  days: string[]
  budgets: BudgetSeries[]
  tiers: Array<{tier: string; points: TierDay[]}>
  curves: DenialCurve[]
}

/** The day a running total first reaches `allocated` (a budget of 0 runs out on its first day with spend). */
export function runsOutOn(points: SpendDay[], allocated: number | null): string | null {
  if (allocated === null) return null
  return points.find((p) => p.cumulative > 0 && p.cumulative >= allocated)?.day ?? null
}

export async function calibrationSeries(db: ShadowDb, filter: LogFilter, result: CalibrationResult): Promise<Omit<CalibrationSeries, 'curves'>> {
  const daily = await dailyAggregate(db, `(SELECT * FROM records ${filterSql(filter)})`)
  const days = daysBetween(result.window.from, result.window.to)
  const chosen = result.budgets.filter((b) => b.current_allocated !== null).slice(0, SERIES_ROWS)
  const spend = await budgetSpend(db, daily, chosen)
  const denials = new Map((await firstDenials(db, daily)).map((d) => [`${d.scope}\u0000${d.unit}`, d.day]))
  const budgets = chosen.map((b) => {
    const points = cumulative(days, spend.get(`${b.scope}\u0000${b.unit}`) ?? new Map())
    const reached = runsOutOn(points, b.current_allocated)
    const denied = denials.get(`${b.scope}\u0000${b.unit}`) ?? null
    const first = [reached, denied].filter((d): d is string => d !== null).sort()[0] ?? null
    return {scope: b.scope, unit: b.unit, allocated: b.current_allocated, suggested: b.suggested_allocated_window ?? b.suggested_allocated, runs_out_on: first, spend_reached_limit_on: reached, first_denial_on: denied, points}
  })
  return {days, budgets, tiers: await tierSeries(db, daily, days)}
}

/** Replayed denial rate against the limit for the first CURVE_BUDGETS calibrated budgets. */
export function denialCurves(log: ReplayLog, specs: BudgetSpec[], tenants: TenantSpec[], result: CalibrationResult): DenialCurve[] {
  const index = new Map(specs.map((s, i) => [`${s.scope}\u0000${s.unit}`, i]))
  const chosen = result.budgets.filter((b) => b.status === 'calibrated' && b.suggested_allocated !== null && index.has(`${b.scope}\u0000${b.unit}`)).slice(0, CURVE_BUDGETS)
  if (chosen.length === 0) return []
  const layout = bookLayout(log, specs, tenants)
  const held = heldBudgets(layout)
  const records = budgetRecords(log, layout)
  const unlimited = new Float64Array(specs.length).fill(BIG)
  // Suggestions scaled by --period are for another period than the log's: the curve is in the window's terms.
  return chosen.map((row) => {
    const b = index.get(`${row.scope}\u0000${row.unit}`)!
    const suggested = row.suggested_allocated_window ?? row.suggested_allocated!
    const probe = new LimitProbe(log, layout, records[b], b, unlimited, held)
    const limits = new Set(CURVE_MULTIPLES.map((m) => roundReadable(m * suggested)))
    if (row.current_allocated !== null && row.current_allocated <= 4 * suggested) limits.add(row.current_allocated)
    const points = [...limits].sort((x, y) => x - y).map((limit) => ({limit, rate: probe.rate(limit).rate}))
    return {scope: row.scope, unit: row.unit, current: row.current_allocated, suggested, points}
  })
}
