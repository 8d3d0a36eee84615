// Daily series for the reports' trends (JSON, Markdown, HTML charts), computed in DuckDB over the
// report's filtered records (the temp view `f` buildReport leaves on the connection): per report
// row, per tier, per action's estimate accuracy, and per budget scope its spend and the day its
// shadow ledger first ran out. Days are UTC calendar days.
import type {ShadowDb} from './db.js'
import {type Grouping, keyExpr} from './report.js'
import {sqlString} from './schema.js'

/** Estimates within this band of actual (estimate ÷ actual) are accurate (shadow-analytics.md §2.2). */
export const ESTIMATE_BAND: readonly [number, number] = [0.8, 1.2]
/** Report rows and actions that get a daily series (worst first / most commits first). */
export const SERIES_ROWS = 100
export const SERIES_ACTIONS = 30

export interface RowDay {
  day: string
  requests: number
  would_denials: number
  /** Committed spend (commit and event actuals answered 2xx). */
  spend: number
}

export interface TierDay {
  day: string
  requests: number
  would_denials: number
  would_deny_rate: number
}

export interface ActionDay {
  day: string
  commits: number
  estimate: number
  actual: number
  /** Σ estimate ÷ Σ actual that day (null without actual spend). */
  ratio: number | null
}

export interface ActionSeries {
  action_kind: string
  action_name: string
  unit: string
  commits: number
  ratio: number | null
  /** First day of the closing stretch of days outside the 0.8–1.2 band, after a day inside it (null: no drift). */
  drift_from: string | null
  points: ActionDay[]
}

export interface RunOut {
  /** The budget scope whose shadow ledger would deny (denied_scope). */
  scope: string
  unit: string
  /** First day it would deny for BUDGET_EXCEEDED or OVERDRAFT_LIMIT_EXCEEDED: the day it ran out. */
  day: string
  denials: number
}

export interface SpendDay {
  day: string
  spend: number
  cumulative: number
}

export interface ShadowSeries {
  days: string[]
  rows: Array<{key: string; unit: string; points: RowDay[]}>
  tiers: Array<{tier: string; points: TierDay[]}>
  actions: ActionSeries[]
  run_out: Array<RunOut & {spend: SpendDay[]}>
}

const dayOf = (v: unknown): string => (v instanceof Date ? v.toISOString().slice(0, 10) : String(v).slice(0, 10))
/** The aggregate keeps the UTC date; queries over it print it as YYYY-MM-DD. */
const DAY_OF = `strftime(day, '%Y-%m-%d')`
const ATT = `endpoint IN ('reserve', 'decide')`
const SPEND = `sum(actual) FILTER (WHERE endpoint IN ('commit', 'event') AND http_status BETWEEN 200 AND 299)`
/** Successful commits with estimate and actual: what estimate accuracy is measured on. */
const COMMITTED = `endpoint = 'commit' AND http_status BETWEEN 200 AND 299 AND estimate IS NOT NULL AND actual IS NOT NULL`

/**
 * One scan of the records into a small daily aggregate (a temp table named `name`): every series
 * below reads it instead of the records, so the report's trends cost one pass over 10 M rows, not five.
 */
export async function dailyAggregate(db: ShadowDb, relation: string, name = 'series_daily'): Promise<string> {
  await db.run(`CREATE OR REPLACE TEMP TABLE ${name} AS
    SELECT ts::DATE AS day, tenant, scope_path, unit, tier, coalesce(action_kind, '') AS k, coalesce(action_name, '') AS nm,
           would_decision, would_reason_code, denied_scope,
           count(*) FILTER (WHERE ${ATT})::DOUBLE AS n,
           count(*) FILTER (WHERE ${ATT} AND would_decision = 'DENY')::DOUBLE AS d,
           coalesce(${SPEND}, 0)::DOUBLE AS spend,
           count(*) FILTER (WHERE ${COMMITTED})::DOUBLE AS c,
           coalesce(sum(estimate) FILTER (WHERE ${COMMITTED}), 0)::DOUBLE AS e,
           coalesce(sum(actual) FILTER (WHERE ${COMMITTED}), 0)::DOUBLE AS a
    FROM ${relation} GROUP BY ALL`)
  return name
}

/** Every UTC day from the first to the last (inclusive). */
export function daysBetween(first: string | null, last: string | null): string[] {
  if (!first || !last) return []
  const out: string[] = []
  const end = Date.parse(`${last.slice(0, 10)}T00:00:00Z`)
  for (let t = Date.parse(`${first.slice(0, 10)}T00:00:00Z`); t <= end && out.length < 3660; t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10))
  return out
}

/** First day of the trailing stretch of out-of-band days, when a day inside the band comes before it. */
export function driftFrom(points: Array<{day: string; ratio: number | null}>, band: readonly [number, number] = ESTIMATE_BAND): string | null {
  const known = points.filter((p) => p.ratio !== null)
  const inBand = (r: number) => r >= band[0] && r <= band[1]
  let i = known.length
  while (i > 0 && !inBand(known[i - 1].ratio!)) i--
  return i === known.length || i === 0 ? null : known[i].day
}

/** Running total of daily spend over `days` (days without spend count 0). */
export function cumulative(days: string[], perDay: Map<string, number>): SpendDay[] {
  let total = 0
  return days.map((day) => {
    const spend = perDay.get(day) ?? 0
    total += spend
    return {day, spend, cumulative: total}
  })
}

/** Daily spend of the traffic at or under each budget scope (in its unit), from per-scope_path daily sums. */
export async function budgetSpend(db: ShadowDb, daily: string, budgets: Array<{scope: string; unit: string}>): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>()
  if (budgets.length === 0) return out
  const wanted = new Set(budgets.map((b) => `${b.scope}\u0000${b.unit}`))
  const rows = await db.all<{day: string; scope_path: string; unit: string; spend: number}>(`
    SELECT ${DAY_OF} AS day, scope_path, unit, sum(spend)::DOUBLE AS spend FROM ${daily}
    WHERE scope_path IS NOT NULL AND unit IS NOT NULL AND spend > 0 GROUP BY ALL`)
  for (const r of rows) {
    if (!r.spend) continue
    const parts = r.scope_path.split('/')
    for (let i = 1; i <= parts.length; i++) {
      const key = `${parts.slice(0, i).join('/')}\u0000${r.unit}`
      if (!wanted.has(key)) continue
      let days = out.get(key)
      if (!days) out.set(key, (days = new Map()))
      days.set(r.day, (days.get(r.day) ?? 0) + r.spend)
    }
  }
  return out
}

/** Per tier, the daily would-deny rate of reservation attempts (from the daily aggregate). */
export async function tierSeries(db: ShadowDb, daily: string, days: string[]): Promise<ShadowSeries['tiers']> {
  const rows = await db.all<{tier: string; day: string; n: number; d: number}>(`
    SELECT tier, ${DAY_OF} AS day, sum(n)::DOUBLE AS n, sum(d)::DOUBLE AS d FROM ${daily} WHERE n > 0 GROUP BY ALL`)
  const byTier = new Map<string, Map<string, {n: number; d: number}>>()
  for (const r of rows) {
    let m = byTier.get(r.tier)
    if (!m) byTier.set(r.tier, (m = new Map()))
    m.set(r.day, {n: r.n, d: r.d})
  }
  return [...byTier.keys()].sort().map((tier) => ({
    tier,
    points: days.map((day) => {
      const v = byTier.get(tier)!.get(day) ?? {n: 0, d: 0}
      return {day, requests: v.n, would_denials: v.d, would_deny_rate: v.n > 0 ? v.d / v.n : 0}
    }),
  }))
}

/** Per action (and unit), the daily estimate ÷ actual of successful commits, and when it drifted out of the band. */
export async function actionSeries(db: ShadowDb, daily: string, days: string[]): Promise<ActionSeries[]> {
  const rows = await db.all<{k: string; nm: string; unit: string; day: string; c: number; e: number; a: number}>(`
    SELECT k, nm, unit, ${DAY_OF} AS day, sum(c)::DOUBLE AS c, sum(e)::DOUBLE AS e, sum(a)::DOUBLE AS a FROM ${daily} WHERE c > 0 GROUP BY ALL`)
  const byAction = new Map<string, {k: string; nm: string; unit: string; days: Map<string, {c: number; e: number; a: number}>}>()
  for (const r of rows) {
    const key = `${r.k}\u0000${r.nm}\u0000${r.unit}`
    let v = byAction.get(key)
    if (!v) byAction.set(key, (v = {k: r.k, nm: r.nm, unit: r.unit, days: new Map()}))
    v.days.set(r.day, {c: r.c, e: r.e, a: r.a})
  }
  const out = [...byAction.values()].map((v): ActionSeries => {
    let c = 0
    let e = 0
    let a = 0
    const points = days.map((day) => {
      const d = v.days.get(day) ?? {c: 0, e: 0, a: 0}
      c += d.c
      e += d.e
      a += d.a
      return {day, commits: d.c, estimate: d.e, actual: d.a, ratio: d.a > 0 ? d.e / d.a : null}
    })
    return {action_kind: v.k, action_name: v.nm, unit: v.unit, commits: c, ratio: a > 0 ? e / a : null, drift_from: driftFrom(points), points}
  })
  out.sort((x, y) => y.commits - x.commits || x.action_kind.localeCompare(y.action_kind) || x.action_name.localeCompare(y.action_name) || x.unit.localeCompare(y.unit))
  return out.slice(0, SERIES_ACTIONS)
}

/** Per denying budget scope: the first day its shadow ledger would deny for exceeding it (worst first by day). */
export async function firstDenials(db: ShadowDb, daily: string): Promise<RunOut[]> {
  const rows = await db.all<{scope: string; unit: string; day: unknown; denials: number}>(`
    SELECT denied_scope AS scope, unit, strftime(min(day), '%Y-%m-%d') AS day, sum(d)::DOUBLE AS denials FROM ${daily}
    WHERE d > 0 AND denied_scope IS NOT NULL AND unit IS NOT NULL
      AND would_reason_code IN ('BUDGET_EXCEEDED', 'OVERDRAFT_LIMIT_EXCEEDED')
    GROUP BY ALL ORDER BY day, scope, unit LIMIT ${SERIES_ROWS}`)
  return rows.map((r) => ({scope: r.scope, unit: r.unit, day: dayOf(r.day), denials: r.denials}))
}

/** The shadow report's series over the view `f` (buildReport's filtered records). */
export async function shadowSeries(
  db: ShadowDb,
  report: {filters: {by: Grouping}; window: {first_ts: string | null; last_ts: string | null}; scopes: Array<{scope: string; unit: string}>},
): Promise<ShadowSeries> {
  const days = daysBetween(report.window.first_ts, report.window.last_ts)
  const daily = await dailyAggregate(db, 'f')
  const chosen = report.scopes.slice(0, SERIES_ROWS)
  const rows: ShadowSeries['rows'] = []
  if (chosen.length > 0) {
    const key = keyExpr(report.filters.by)
    const values = chosen.map((s) => `(${sqlString(s.scope)}, ${sqlString(s.unit)})`).join(', ')
    const found = await db.all<{k: string; unit: string; day: string; n: number; d: number; spend: number | null}>(`
      WITH wanted(k, unit) AS (VALUES ${values}),
      x AS (SELECT ${key} AS k, coalesce(unit, '(none)') AS unit, ${DAY_OF} AS day,
                   sum(n)::DOUBLE AS n, sum(d)::DOUBLE AS d, sum(spend)::DOUBLE AS spend
            FROM ${daily} GROUP BY ALL)
      SELECT x.* FROM x SEMI JOIN wanted w ON w.k = x.k AND w.unit = x.unit`)
    const byRow = new Map<string, Map<string, {n: number; d: number; spend: number}>>()
    for (const r of found) {
      const k = `${r.k}\u0000${r.unit}`
      let m = byRow.get(k)
      if (!m) byRow.set(k, (m = new Map()))
      m.set(r.day, {n: r.n, d: r.d, spend: r.spend ?? 0})
    }
    for (const s of chosen) {
      const m = byRow.get(`${s.scope}\u0000${s.unit}`) ?? new Map()
      rows.push({key: s.scope, unit: s.unit, points: days.map((day) => ({day, requests: m.get(day)?.n ?? 0, would_denials: m.get(day)?.d ?? 0, spend: m.get(day)?.spend ?? 0}))})
    }
  }
  const outs = await firstDenials(db, daily)
  const spend = await budgetSpend(db, daily, outs)
  const run_out = outs.map((o) => ({...o, spend: cumulative(days, spend.get(`${o.scope}\u0000${o.unit}`) ?? new Map())}))
  return {days, rows, tiers: await tierSeries(db, daily, days), actions: await actionSeries(db, daily, days), run_out}
}
