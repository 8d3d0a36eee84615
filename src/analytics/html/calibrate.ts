// `cycles calibrate --format html`: the calibration as one self-contained page — summary, what
// changed, charts (spend against the current and suggested limit with the run-out day, the replayed
// denial rate against the limit, per-tier would-deny rate, estimate accuracy per action), the
// sortable budget table, estimate corrections, tier readiness and the files the records came from.
import type {BudgetRow, EstimateRow, TierRow} from '../../calibration/calibrate.js'
import type {GateOutcome} from '../../calibration/render.js'
import {pct} from '../bands.js'
import type {CalibrationReport} from '../calibration-extras.js'
import {ESTIMATE_BAND} from '../series.js'
import {type Chart, denialCurveChart, estimateChart, spendChart, tierChart} from './charts.js'
import {type Column, badge, esc, figure, page, sortableTable} from './page.js'
import {CHARTS_PER_KIND, changesSection, provenanceSection} from './shadow.js'

const num = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n.toLocaleString('en-US'))
const code = (s: string) => `<code>${esc(s)}</code>`

const budgetColumns: Array<Column<BudgetRow>> = [
  {header: 'budget', cell: (b) => code(b.scope), sort: (b) => b.scope},
  {header: 'unit', cell: (b) => esc(b.unit), sort: (b) => b.unit},
  {header: 'tiers', cell: (b) => esc(b.tiers.join(', ')), sort: (b) => b.tiers.join(',')},
  {header: 'requests', cell: (b) => num(b.requests), sort: (b) => b.requests, numeric: true},
  {header: 'current', cell: (b) => num(b.current_allocated), sort: (b) => b.current_allocated, numeric: true},
  {header: 'rate', cell: (b) => pct(b.current_denial_rate, 2), sort: (b) => b.current_denial_rate, numeric: true},
  {header: 'band', cell: (b) => badge(b.band), sort: (b) => b.band},
  {header: 'suggested', cell: (b) => num(b.suggested_allocated), sort: (b) => b.suggested_allocated, numeric: true},
  {header: 'replayed', cell: (b) => (b.suggested_denial_rate === null ? '–' : pct(b.suggested_denial_rate, 2)), sort: (b) => b.suggested_denial_rate, numeric: true, title: 'denial rate with every suggestion applied'},
  {header: 'verdict', cell: (b) => `${badge(b.verdict)}<div class="muted">${esc(b.message)}</div>`, sort: (b) => b.verdict},
]

const estimateColumns: Array<Column<EstimateRow>> = [
  {header: 'budget', cell: (e) => code(e.scope), sort: (e) => e.scope},
  {header: 'unit', cell: (e) => esc(e.unit), sort: (e) => e.unit},
  {header: 'action', cell: (e) => esc(`${e.action_kind} ${e.action_name}`), sort: (e) => `${e.action_kind} ${e.action_name}`},
  {header: 'commits', cell: (e) => num(e.commits), sort: (e) => e.commits, numeric: true},
  {header: 'R:C', cell: (e) => (e.reserve_commit_ratio === null ? '–' : `${e.reserve_commit_ratio.toFixed(2)}:1`), sort: (e) => e.reserve_commit_ratio, numeric: true},
  {header: 'overage', cell: (e) => pct(e.overage_rate), sort: (e) => e.overage_rate, numeric: true},
  {header: 'multiply estimates by', cell: (e) => (e.suggested_multiplier === null ? '–' : `×${e.suggested_multiplier.toFixed(2)}`), sort: (e) => e.suggested_multiplier, numeric: true},
]

const tierColumns: Array<Column<TierRow>> = [
  {header: 'tier', cell: (t) => esc(t.tier), sort: (t) => t.tier},
  {header: 'ready', cell: (t) => badge(t.ready ? 'ready' : 'too_tight').replace('too tight', 'not ready'), sort: (t) => (t.ready ? 1 : 0), numeric: true},
  {header: 'budgets', cell: (t) => num(t.budgets), sort: (t) => t.budgets, numeric: true},
  {header: 'blockers', cell: (t) => t.blockers.map(code).join(' ') || '–', sort: (t) => t.blockers.length, numeric: true},
]

/** The first row of each kind (in the given order), then the others in order, up to n. */
export function varied<T>(rows: T[], kind: (row: T) => string, n: number): T[] {
  const seen = new Set<string>()
  const first = rows.filter((r) => !seen.has(kind(r)) && seen.add(kind(r)))
  const rest = rows.filter((r) => !first.includes(r))
  return [...first, ...rest].slice(0, n)
}

export function calibrationCharts(result: CalibrationReport): Chart[] {
  const charts: Chart[] = []
  const s = result.series
  if (!s) return charts
  // one budget of each band first (worst first: too tight running out, decorative far from its limit), then the rest
  const bandOf = new Map(result.budgets.map((b) => [`${b.scope}\u0000${b.unit}`, b.band]))
  const band = (x: {scope: string; unit: string}) => bandOf.get(`${x.scope}\u0000${x.unit}`) ?? ''
  varied(s.budgets, band, CHARTS_PER_KIND).forEach((b, i) =>
    charts.push(spendChart({id: `chart-spend-${i}`, scope: b.scope, unit: b.unit, points: b.points, allocated: b.allocated, suggested: b.suggested, runsOutOn: b.runs_out_on})),
  )
  varied(s.curves, band, CHARTS_PER_KIND).forEach((c, i) =>
    charts.push(denialCurveChart({id: `chart-curve-${i}`, scope: c.scope, unit: c.unit, points: c.points, current: c.current, suggested: c.suggested, band: result.band, target: result.target})),
  )
  if (s.tiers.some((t) => t.points.some((p) => p.requests > 0))) charts.push(tierChart({id: 'chart-tiers', tiers: s.tiers}))
  const perAction = result.estimates.filter((e) => e.reserve_commit_ratio !== null).slice(0, 30).map((e) => ({action: `${e.scope} · ${e.action_kind} ${e.action_name}`, ratio: e.reserve_commit_ratio!, commits: e.commits}))
  if (perAction.length > 0) charts.push(estimateChart({id: 'chart-estimates', perAction, band: ESTIMATE_BAND}))
  return charts
}

export async function renderCalibrationHtml(result: CalibrationReport, gates: GateOutcome): Promise<string> {
  const calibrated = result.budgets.filter((b) => b.status === 'calibrated')
  const inBand = calibrated.filter((b) => b.suggested_denial_rate !== null && b.suggested_denial_rate >= result.band[0] && b.suggested_denial_rate <= result.band[1]).length
  const cards = [
    ['records', num(result.records)],
    ['window', `${result.window.days} day(s)`],
    ['budget rows', num(result.budgets.length)],
    ['calibrated', `${calibrated.length} (${inBand} in band)`],
    ['target', `${pct(result.target, 1)} (band ${pct(result.band[0], 0)}–${pct(result.band[1], 0)})`],
    ['gates', gates.passed ? '✔ passed' : `✖ ${gates.violations.length} violation(s)`],
  ]
  const charts = await Promise.all(calibrationCharts(result).map(figure))
  const runOut = (result.series?.budgets ?? []).filter((b) => b.runs_out_on).map((b) => `<li>${code(b.scope)} (${esc(b.unit)}) reached its current limit of ${num(b.allocated)} on ${esc(b.runs_out_on)}${b.suggested !== null ? `; suggested: ${num(b.suggested)}` : ''}</li>`)
  const period = result.period.scaled ? `<p class="meta">Suggestions are scaled from the ${result.window.days}-day window to ${result.period.days} days (×${result.period.factor}); the charts show the window's figures.</p>` : ''
  const body = [
    `<div class="cards">${cards.map(([k, v]) => `<div class="card"><span class="muted">${esc(k)}</span><b>${esc(v)}</b></div>`).join('')}</div>`,
    period,
    changesSection(result.changes),
    runOut.length > 0 ? `<section id="trends"><h2>Trends</h2><ul>${runOut.join('')}</ul></section>` : '',
    charts.length > 0 ? `<section id="charts"><h2>Charts</h2><div class="charts">${charts.join('\n')}</div></section>` : '',
    `<section id="budgets"><h2>Budgets (worst first)</h2>${sortableTable('scope-table', `${result.budgets.length} budget row(s); click a header to sort`, budgetColumns, result.budgets, (b) => `${b.scope} ${b.unit} ${b.band} ${b.verdict} ${b.tiers.join(' ')}`)}</section>`,
    `<section id="estimates"><h2>Estimate corrections</h2>${result.estimates.length > 0 ? sortableTable('estimate-table', 'fix estimates, not budgets', estimateColumns, result.estimates) : '<p>No estimate corrections needed.</p>'}</section>`,
    `<section id="tiers"><h2>Tier readiness</h2>${sortableTable('tier-table', 'a tier is ready when every budget its traffic touches is', tierColumns, result.tiers)}</section>`,
    gates.violations.length > 0 ? `<section id="gates"><h2>Gate violations</h2><ul>${gates.violations.map((v) => `<li><strong>${esc(v.gate)}</strong> ${esc(v.subject)}: ${esc(v.message)}</li>`).join('')}</ul></section>` : '',
    provenanceSection(result.provenance),
  ].join('\n')
  const subtitle = `${esc(result.window.from ?? '–')} → ${esc(result.window.to ?? '–')} · ${num(result.replay.replays)} replays`
  return page({title: 'Cycles calibration report', subtitle, body, data: {...result, gates}})
}
