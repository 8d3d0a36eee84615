// `cycles calibrate` in each output format, on the generic output layer (src/output).
import {pct} from '../analytics/bands.js'
import type {CalibrationReport} from '../analytics/calibration-extras.js'
import {renderChangesMarkdown, renderChangesText} from '../analytics/compare.js'
import {type JUnitCase, renderJUnit} from '../output/junit.js'
import {type TableSpec, type Tone, painter, renderMarkdownTable, renderTable} from '../output/table.js'
import type {BudgetRow, CalibrationResult, EstimateRow} from './calibrate.js'
import {type GateViolation, rowViolations, tierViolations} from './gates.js'
import type {Verdict} from './verdict.js'

export interface GateOutcome {
  fail_on: string[]
  violations: GateViolation[]
  passed: boolean
}

/** The hidden marker a CI step looks for to update one PR comment in place. */
export const MARKDOWN_MARKER = '<!-- cycles-calibrate-report -->'

const TONE: Record<Verdict, Tone> = {config_error: 'bad', too_tight: 'bad', estimates: 'warn', warm: 'warn', decorative: 'warn', loose: 'muted', insufficient_data: 'muted', ready: 'good'}
const num = (n: number | null) => (n === null ? null : n.toLocaleString('en-US'))

export function evaluateCalibrationGates(result: CalibrationResult, gates: string[]): GateOutcome {
  const violations = [...result.budgets.flatMap((b) => rowViolations(b, gates)), ...tierViolations(result.tiers, gates)]
  return {fail_on: gates, violations, passed: violations.length === 0}
}

/** The JSON contract (README "Calibration"): deterministic — no clock, no host. */
export function renderCalibrationJson(result: CalibrationResult, gates: GateOutcome): string {
  return `${JSON.stringify({...result, gates}, null, 2)}\n`
}

function budgetSpec(result: CalibrationResult, limit: number, width: number): TableSpec<BudgetRow> {
  const wide = width >= 140
  const columns: TableSpec<BudgetRow>['columns'] = [
    {header: 'budget', value: (b) => b.scope, tone: () => 'scope'},
    {header: 'unit', value: (b) => b.unit},
    ...(wide ? [{header: 'tiers', value: (b: BudgetRow) => b.tiers.join(',')}] : []),
    {header: 'requests', value: (b) => num(b.requests), align: 'right'},
    {header: 'current', value: (b) => num(b.current_allocated), align: 'right'},
    {header: 'rate', value: (b) => pct(b.current_denial_rate, 2), align: 'right', tone: (b) => TONE[b.verdict]},
    {header: 'suggested', value: (b) => num(b.suggested_allocated), align: 'right', tone: () => 'money'},
    {header: 'replayed', value: (b) => (b.suggested_denial_rate === null ? null : pct(b.suggested_denial_rate, 2)), align: 'right'},
    ...(wide ? [{header: 'binding', value: (b: BudgetRow) => num(b.binding_denials), align: 'right' as const}] : []),
    {header: 'verdict', value: (b) => b.verdict.replace('_', ' '), tone: (b) => TONE[b.verdict]},
  ]
  return {columns, rows: result.budgets.slice(0, limit), empty: 'no budgets and no reservation attempts in the selected data'}
}

function estimateSpec(rows: EstimateRow[]): TableSpec<EstimateRow> {
  return {
    title: 'Estimate corrections (fix estimates, not budgets)',
    columns: [
      {header: 'budget', value: (e) => e.scope, tone: () => 'scope'},
      {header: 'unit', value: (e) => e.unit},
      {header: 'action', value: (e) => `${e.action_kind} ${e.action_name}`},
      {header: 'commits', value: (e) => e.commits, align: 'right'},
      {header: 'R:C', value: (e) => (e.reserve_commit_ratio === null ? null : `${e.reserve_commit_ratio.toFixed(2)}:1`), align: 'right'},
      {header: 'overage', value: (e) => pct(e.overage_rate), align: 'right'},
      {header: 'MAPE', value: (e) => pct(e.mape), align: 'right'},
      {header: 'multiply estimates by', value: (e) => (e.suggested_multiplier === null ? null : `×${e.suggested_multiplier.toFixed(2)}`), align: 'right', tone: () => 'warn'},
    ],
    rows,
    empty: 'no estimate corrections needed',
  }
}

/** Budgets whose committed spend reached the current limit, with the day (from the daily series). */
function runOutLines(result: CalibrationReport): string[] {
  return (result.series?.budgets ?? []).filter((b) => b.runs_out_on).slice(0, 20).map((b) => `${b.scope} (${b.unit}) reached its current limit of ${num(b.allocated)} on ${b.runs_out_on}`)
}

function summary(result: CalibrationResult): string {
  const counts = new Map<string, number>()
  for (const b of result.budgets) counts.set(b.verdict, (counts.get(b.verdict) ?? 0) + 1)
  const calibrated = result.budgets.filter((b) => b.status === 'calibrated')
  const inBand = calibrated.filter((b) => b.suggested_denial_rate !== null && b.suggested_denial_rate >= result.band[0] && b.suggested_denial_rate <= result.band[1]).length
  const verdicts = [...counts].sort((a, b) => a[0].localeCompare(b[0])).map(([v, n]) => `${n} ${v.replace('_', ' ')}`).join(', ')
  const period = result.period.scaled ? `; suggestions scaled to ${result.period.days} days (×${result.period.factor})` : `; suggestions are for a period as long as the window (${result.window.days} days)`
  return `${result.records.toLocaleString('en-US')} records ${result.window.from ?? '–'} → ${result.window.to ?? '–'}: ${result.budgets.length} budget row(s) (${verdicts}); ${calibrated.length} calibrated, ${inBand} land in the band ${pct(result.band[0], 0)}–${pct(result.band[1], 0)} when replayed together (target ${pct(result.target, 1)})${period}`
}

export function renderCalibrationText(result: CalibrationReport, gates: GateOutcome, options: {color: boolean; limit: number; width: number}): string {
  const paint = painter(options.color)
  const parts = [`${summary(result)}\n`, renderTable(budgetSpec(result, options.limit, options.width), options.color)]
  if (result.budgets.length > options.limit) parts.push(paint('muted', `… ${result.budgets.length - options.limit} more (--limit, or --format json for all)\n`))
  parts.push('\nVerdicts (worst first)\n')
  for (const b of result.budgets.slice(0, options.limit)) {
    parts.push(`  ${paint('scope', b.scope)} ${paint('muted', `(${b.unit})`)}: ${paint(TONE[b.verdict], b.message)}\n`)
    for (const f of b.findings) parts.push(`      ${paint('muted', `also: ${f}`)}\n`)
    if (b.hint) parts.push(`      ${paint('muted', `hint (not calibrated): ${b.hint.rule} → ${b.hint.allocated.toLocaleString('en-US')}`)}\n`)
    if (b.action.command) parts.push(`      → ${b.action.command}\n`)
  }
  const corrections = result.estimates.filter((e) => e.suggested_multiplier !== null)
  parts.push(`\n${renderTable(estimateSpec(corrections.slice(0, options.limit)), options.color)}`)
  parts.push('\nTiers\n')
  for (const t of result.tiers) {
    parts.push(`  ${t.tier}: ${t.ready ? paint('good', `ready — ${t.action.command}`) : paint('warn', `not ready (${t.blockers.length} of ${t.budgets} budget(s) blocking)`)}\n`)
    for (const b of t.blockers.slice(0, 5)) parts.push(`      ${paint('muted', b)}\n`)
    if (t.blockers.length > 5) parts.push(`      ${paint('muted', `… ${t.blockers.length - 5} more`)}\n`)
  }
  const runOut = runOutLines(result)
  if (runOut.length > 0) parts.push(`\nTrends\n${runOut.map((l) => `  ${l}\n`).join('')}`)
  if (result.changes) parts.push(renderChangesText(result.changes))
  if (gates.violations.length > 0) {
    parts.push(`\n${paint('bad', `${gates.violations.length} gate violation(s):`)}\n`)
    for (const v of gates.violations.slice(0, 20)) parts.push(`  ✗ [${v.gate}] ${v.message}\n`)
  }
  return parts.join('')
}

export function renderCalibrationMarkdown(result: CalibrationReport, gates: GateOutcome, options: {limit: number}): string {
  const out: string[] = [MARKDOWN_MARKER, '## Cycles calibration', '', summary(result), '']
  if (gates.fail_on.length > 0) {
    out.push(gates.passed ? `**Gates passed** (${gates.fail_on.join(', ')})` : `**${gates.violations.length} gate violation(s)** (${[...new Set(gates.violations.map((v) => v.gate))].join(', ')})`, '')
  }
  if (result.changes) out.push(renderChangesMarkdown(result.changes))
  const runOut = runOutLines(result)
  if (runOut.length > 0) out.push('### Trends', '', ...runOut.map((l) => `- ${l}`), '')
  out.push(renderMarkdownTable(budgetSpec(result, options.limit, 200)))
  if (result.budgets.length > options.limit) out.push(`_… ${result.budgets.length - options.limit} more budgets not shown._`, '')
  out.push('<details><summary>Verdicts and actions (worst first)</summary>', '')
  for (const b of result.budgets.slice(0, options.limit)) {
    out.push(`- \`${b.scope}\` (${b.unit}): **${b.verdict}** — ${b.message}${b.action.command ? `  \n  \`${b.action.command}\`` : ''}`)
    for (const f of b.findings) out.push(`  - also: ${f}`)
  }
  out.push('', '</details>', '')
  const corrections = result.estimates.filter((e) => e.suggested_multiplier !== null)
  out.push(`<details><summary>Estimate corrections (${corrections.length})</summary>`, '', renderMarkdownTable(estimateSpec(corrections.slice(0, options.limit))), '</details>', '')
  out.push('<details><summary>Tier readiness</summary>', '')
  for (const t of result.tiers) out.push(`- **${t.tier}**: ${t.ready ? `ready — \`${t.action.command}\`` : `not ready: ${t.blockers.length} blocker(s)`}`)
  out.push('', '</details>', '')
  if (gates.violations.length > 0) {
    out.push('<details><summary>Gate violations</summary>', '')
    for (const v of gates.violations) out.push(`- **${v.gate}**: ${v.message}`)
    out.push('', '</details>', '')
  }
  return `${out.join('\n')}\n`
}

export function renderCalibrationJUnit(result: CalibrationResult, gates: GateOutcome): string {
  const budgetCases: JUnitCase[] = result.budgets.map((b) => {
    const v = rowViolations(b, gates.fail_on)
    return {
      name: `${b.scope} (${b.unit})`,
      classname: 'cycles.calibrate.budgets',
      ...(v.length > 0 ? {failure: {message: v.map((x) => x.gate).join(', '), body: v.map((x) => x.message).join('\n')}} : {}),
      output: `${b.verdict}: ${b.message}; requests=${b.requests} current=${b.current_allocated ?? '-'} suggested=${b.suggested_allocated ?? '-'} replayed_rate=${b.suggested_denial_rate ?? '-'}${b.action.command ? `\n${b.action.command}` : ''}`,
    }
  })
  const gateCases: JUnitCase[] = gates.fail_on.map((g) => {
    const v = gates.violations.filter((x) => x.gate === g)
    return {name: `gate ${g}`, classname: 'cycles.calibrate.gates', ...(v.length > 0 ? {failure: {message: `${v.length} violation(s)`, body: v.map((x) => x.message).join('\n')}} : {})}
  })
  const tierFailures = tierViolations(result.tiers, gates.fail_on)
  const tierCases: JUnitCase[] = result.tiers.map((t) => ({
    name: `tier ${t.tier}`,
    classname: 'cycles.calibrate.tiers',
    ...(tierFailures.some((f) => f.subject === `tier ${t.tier}`) ? {failure: {message: 'not ready', body: t.blockers.join('\n')}} : {}),
    output: t.ready ? 'ready' : `blockers: ${t.blockers.length}`,
  }))
  return renderJUnit(
    [
      {name: 'calibrate budgets', cases: budgetCases},
      {name: 'calibrate gates', cases: gateCases},
      {name: 'calibrate tiers', cases: tierCases},
    ],
    'cycles calibrate',
  )
}
