// What `cycles calibrate` adds to its result beyond the calibration itself: daily series and the
// denial-rate curves (calibration-series.ts), the files behind the records (provenance.ts), and what
// changed since an earlier calibration (compare.ts). Called by calibration/run.ts with the database
// still open.
import type {CalibrationOptions, CalibrationResult} from '../calibration/calibrate.js'
import {calibrateParallel} from '../calibration/parallel-search.js'
import {type LogFilter, type ReplayLog, filterSql, loadReplayLog} from '../calibration/replay-log.js'
import type {BudgetSpec, TenantSpec} from '../calibration/replay.js'
import {type CalibrationSeries, calibrationSeries, denialCurves} from './calibration-series.js'
import {type Changes, type Comparable, compareReports, earlierUntil, fromCalibration} from './compare.js'
import type {ShadowDb} from './db.js'
import {type Provenance, provenanceOf} from './provenance.js'

/** The calibration with its trends, sources and changes (the JSON adds these keys; none is renamed). */
export type CalibrationReport = CalibrationResult & {series?: CalibrationSeries; provenance?: Provenance; changes?: Changes}

export interface ExtrasInput {
  db: ShadowDb
  log: ReplayLog
  budgets: BudgetSpec[]
  tenants: TenantSpec[]
  filter: LogFilter
  options: Partial<CalibrationOptions>
  result: CalibrationResult
  /** Replayed curves cost a few replays per budget: only for the formats that show them. */
  curves: boolean
  previous?: {comparable: Comparable; source: string}
  compareWindow?: {text: string; ms: number}
}

export async function calibrationExtras(input: ExtrasInput): Promise<CalibrationReport> {
  const {db, result, filter} = input
  const series = await calibrationSeries(db, filter, result)
  const report: CalibrationReport = {
    ...result,
    series: {...series, curves: input.curves ? denialCurves(input.log, input.budgets, input.tenants, result) : []},
    provenance: await provenanceOf(db, `(SELECT * FROM records ${filterSql(filter)})`, filter.labels),
  }
  if (input.previous) {
    report.changes = compareReports(fromCalibration(result), input.previous.comparable, {kind: 'file', source: input.previous.source})
  } else if (input.compareWindow) {
    const until = earlierUntil(result.window.to, input.compareWindow.ms, filter.until)
    const earlierLog = await loadReplayLog(db, {...filter, until: until ?? undefined})
    const earlier = await calibrateParallel({log: earlierLog, budgets: input.budgets, tenants: input.tenants}, input.options)
    report.changes = compareReports(fromCalibration(result), fromCalibration(earlier), {kind: 'window', source: input.compareWindow.text})
  }
  return report
}
