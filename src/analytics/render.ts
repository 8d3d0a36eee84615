// The shadow report in each output format, on the generic output layer (src/output).
import {renderPolicyDenialLines} from './policy-denials.js'
import {type JUnitCase, renderJUnit} from '../output/junit.js'
import {type Column, type TableSpec, type Tone, painter, renderMarkdownTable, renderTable} from '../output/table.js'
import {json} from '../output/write.js'
import {type Band, pct} from './bands.js'
import {type Gate, type Violation, scopeViolations} from './gates.js'
import {renderChangesMarkdown, renderChangesText} from './compare.js'
import type {FanoutRow, LoopRow, Report, ScopeRow} from './report.js'

const BAND_TONE: Record<Band, Tone> = {too_tight: 'bad', warm: 'warn', goldilocks: 'good', loose: 'good', decorative: 'warn', insufficient_data: 'muted'}
const BAND_LABEL: Record<Band, string> = {
  too_tight: 'too tight',
  warm: 'warm',
  goldilocks: 'goldilocks',
  loose: 'loose',
  decorative: 'decorative',
  insufficient_data: 'insufficient data',
}

const num = (n: number) => n.toLocaleString('en-US')
const ratio = (x: number | null) => (x === null ? null : `${x.toFixed(2)}:1`)
const rcTone = (x: number | null): Tone => (x === null ? 'muted' : x > 2 || x < 0.8 ? 'bad' : x > 1.2 ? 'warn' : 'good')
const overTone = (x: number | null, limit: number): Tone => (x === null ? 'muted' : x > limit ? 'bad' : x > 0.01 ? 'warn' : 'good')

function scopeSpec(report: Report, limit: number): TableSpec<ScopeRow> {
  const t = report.thresholds
  const columns: Array<Column<ScopeRow>> = [
    {header: report.filters.by === 'scope' ? 'scope' : report.filters.by, value: (s) => s.scope, tone: () => 'scope'},
    {header: 'unit', value: (s) => s.unit},
    {header: 'requests', value: (s) => num(s.requests), align: 'right'},
    {header: 'would deny', value: (s) => num(s.would_denials), align: 'right', tone: (s) => (s.would_denials > 0 ? 'bad' : undefined)},
    {header: 'rate', value: (s) => pct(s.denial_rate, 2), align: 'right', tone: (s) => BAND_TONE[s.band]},
    {header: 'band', value: (s) => BAND_LABEL[s.band], tone: (s) => BAND_TONE[s.band]},
    {header: 'dry-run rate', value: (s) => (s.dry_run_denial_rate === null ? null : pct(s.dry_run_denial_rate, 2)), align: 'right'},
    {header: 'R:C', value: (s) => ratio(s.reserve_commit_ratio), align: 'right', tone: (s) => rcTone(s.reserve_commit_ratio)},
    {header: 'overage', value: (s) => pct(s.overage_rate), align: 'right', tone: (s) => overTone(s.overage_rate, t.overageThreshold)},
    {header: 'MAPE', value: (s) => pct(s.mape), align: 'right'},
    {header: 'top reason', value: (s) => s.top_reasons[0]?.reason ?? null},
    {header: 'tiers', value: (s) => s.tiers.join(',')},
    {header: 'verdict', value: (s) => s.verdict.replace('_', ' '), tone: (s) => (s.verdict === 'ready' ? 'good' : s.verdict === 'config_error' || s.verdict === 'too_tight' ? 'bad' : 'warn')},
  ]
  return {columns, rows: report.scopes.slice(0, limit), empty: 'no reservation attempts in the selected data'}
}

function loopSpec(report: Report): TableSpec<LoopRow> {
  return {
    title: `Loop signatures (≥ ${report.thresholds.loopThreshold} reservations in ${report.thresholds.loopWindowSeconds} s, or ≥ ${report.thresholds.repeatThreshold} identical in a row)`,
    columns: [
      {header: 'run', value: (l) => l.run_id, tone: () => 'bad'},
      {header: 'scope', value: (l) => l.scope, tone: () => 'scope'},
      {header: 'count', value: (l) => l.count, align: 'right'},
      {header: 'window s', value: (l) => l.window_seconds, align: 'right'},
      {header: 'signals', value: (l) => l.signals.join('+')},
      {header: 'first', value: (l) => l.first_ts},
      {header: 'last', value: (l) => l.last_ts},
    ],
    rows: report.loops,
    empty: 'no loop signatures',
  }
}

function fanoutSpec(report: Report): TableSpec<FanoutRow> {
  const t = report.thresholds
  return {
    title: `Delegation fan-out (flagged: ≥ ${t.fanoutChildren} children, depth ≥ ${t.fanoutDepth}, or ≥ ${t.fanoutAmplification}× amplification)`,
    columns: [
      {header: 'root run', value: (f) => f.run_id, tone: (f) => (f.flagged ? 'bad' : undefined)},
      {header: 'scope', value: (f) => f.scope, tone: () => 'scope'},
      {header: 'children', value: (f) => f.children, align: 'right'},
      {header: 'depth', value: (f) => f.depth, align: 'right'},
      {header: 'runs', value: (f) => f.descendants, align: 'right'},
      {header: 'amplification', value: (f) => `${f.amplification}×`, align: 'right'},
      {header: 'flagged', value: (f) => (f.flagged ? 'yes' : 'no'), tone: (f) => (f.flagged ? 'bad' : 'muted')},
    ],
    rows: report.fanout,
    empty: 'no delegation trees (no parent_run_id in the data)',
  }
}

/** Budgets that ran out and estimates that drifted, with the day (from the daily series). */
export function trendLines(report: Report): string[] {
  const s = report.series
  if (!s) return []
  return [
    ...s.run_out.slice(0, 20).map((r) => `${r.scope} (${r.unit}) ran out on ${r.day}: ${num(r.denials)} would-be denial(s) for exceeding it`),
    ...s.actions.filter((a) => a.drift_from).map((a) => `estimates of ${a.action_kind} ${a.action_name} (${a.unit}) left the 0.8–1.2 band on ${a.drift_from} (now ${a.points.filter((p) => p.ratio !== null).at(-1)!.ratio!.toFixed(2)}× actual)`),
  ]
}

function summaryLine(report: Report): string {
  const t = report.totals
  const w = report.window
  return `${num(w.records)} records${w.first_ts ? ` from ${w.first_ts} to ${w.last_ts}` : ''}: ${num(t.requests)} requests, ${num(t.would_denials)} would be denied (${pct(t.denial_rate, 2)}); ${t.loops} loop signature(s), ${t.fanout_flagged} flagged fan-out tree(s)`
}

export function renderReportText(report: Report, options: {color: boolean; limit: number; violations: Violation[]}): string {
  const paint = painter(options.color)
  const parts: string[] = [`${summaryLine(report)}\n`]
  parts.push(renderTable(scopeSpec(report, options.limit), options.color))
  if (report.scopes.length > options.limit) parts.push(paint('muted', `… ${report.scopes.length - options.limit} more (--limit, or --format json for all)\n`))
  parts.push('\nVerdicts\n')
  for (const s of report.scopes.slice(0, options.limit)) {
    parts.push(`  ${paint('scope', s.scope)} ${paint('muted', `(${s.unit})`)}: ${paint(BAND_TONE[s.band], s.message)}\n`)
    for (const f of s.findings) parts.push(`      ${paint('muted', `also: ${f}`)}\n`)
    if (s.blockers && s.blockers.length > 0) parts.push(`      ${paint('muted', `blockers: ${s.blockers.slice(0, 5).join('; ')}${s.blockers.length > 5 ? '; …' : ''}`)}\n`)
    if (s.action.command) parts.push(`      → ${s.action.command}\n`)
  }
  parts.push(`\n${renderTable(loopSpec(report), options.color)}`)
  parts.push(`\n${renderTable(fanoutSpec(report), options.color)}`)
  for (const line of renderPolicyDenialLines(report.policy_denials ?? [], options.limit)) parts.push(`${line}\n`)
  const trends = trendLines(report)
  if (trends.length > 0) parts.push(`\nTrends\n${trends.map((l) => `  ${l}\n`).join('')}`)
  if (report.changes) parts.push(renderChangesText(report.changes))
  if (report.provenance && report.provenance.labels.some((l) => l !== null)) {
    parts.push(paint('muted', `\nSources: ${report.provenance.files.length} file(s), labels ${report.provenance.labels.map((l) => l ?? '(no label)').join(', ')}\n`))
  }
  if (options.violations.length > 0) {
    parts.push(`\n${paint('bad', `${options.violations.length} gate violation(s):`)}\n`)
    for (const v of options.violations.slice(0, 20)) parts.push(`  ✗ [${v.gate}] ${v.message}\n`)
  }
  return parts.join('')
}

/** Only the runaway signals: loop signatures and delegation fan-out (`cycles shadow loops`). */
export function renderLoopsText(report: Report, options: {color: boolean}): string {
  const t = report.totals
  const head = `${num(report.window.records)} records: ${t.loops} loop signature(s), ${t.fanout_flagged} flagged fan-out tree(s)\n`
  return `${head}${renderTable(loopSpec(report), options.color)}\n${renderTable(fanoutSpec(report), options.color)}`
}

export function renderLoopsJson(report: Report, violations: Violation[]): string {
  return `${JSON.stringify({window: report.window, thresholds: report.thresholds, loops: report.loops, fanout: report.fanout, violations}, null, 2)}\n`
}

export function renderReportMarkdown(report: Report, options: {limit: number; violations: Violation[]}): string {
  const out: string[] = ['## Cycles shadow report', '', summaryLine(report), '']
  if (options.violations.length > 0) out.push(`**${options.violations.length} gate violation(s)** (${[...new Set(options.violations.map((v) => v.gate))].join(', ')})`, '')
  if (report.changes) out.push(renderChangesMarkdown(report.changes))
  const trends = trendLines(report)
  if (trends.length > 0) out.push('### Trends', '', ...trends.map((l) => `- ${l}`), '')
  out.push(renderMarkdownTable(scopeSpec(report, options.limit)))
  if (report.scopes.length > options.limit) out.push(`_… ${report.scopes.length - options.limit} more scopes not shown._`, '')
  out.push('<details><summary>Verdicts</summary>', '')
  for (const s of report.scopes.slice(0, options.limit)) {
    out.push(`- \`${s.scope}\` (${s.unit}): **${s.verdict}** — ${s.message}${s.action.command ? `  \n  \`${s.action.command}\`` : ''}`)
    for (const f of s.findings) out.push(`  - also: ${f}`)
  }
  out.push('', '</details>', '')
  out.push(`<details><summary>Loop signatures (${report.loops.length})</summary>`, '', renderMarkdownTable(loopSpec(report)), '</details>', '')
  out.push(`<details><summary>Delegation fan-out (${report.totals.fanout_flagged} flagged)</summary>`, '', renderMarkdownTable(fanoutSpec(report)), '</details>', '')
  const byRule = renderPolicyDenialLines(report.policy_denials ?? [], options.limit)
  if (byRule.length > 0) out.push(`<details><summary>${byRule[1]}</summary>`, '', ...byRule.slice(2).map((l) => `- ${l.trim()}`), '', '</details>', '')
  if (report.provenance) {
    out.push(`<details><summary>Sources (${report.provenance.files.length} file(s); labels: ${report.provenance.labels.map((l) => l ?? '(no label)').join(', ') || '–'})</summary>`, '')
    for (const f of report.provenance.files) out.push(`- \`${f.path}\`${f.label ? ` [${f.label}]` : ''}: ${num(f.records)} record(s)`)
    out.push('', '</details>', '')
  }
  if (options.violations.length > 0) {
    out.push('<details><summary>Gate violations</summary>', '')
    for (const v of options.violations) out.push(`- **${v.gate}**: ${v.message}`)
    out.push('', '</details>', '')
  }
  return `${out.join('\n')}\n`
}

export function renderReportJUnit(report: Report, gates: Gate[]): string {
  const scopeCases: JUnitCase[] = report.scopes.map((s) => {
    const v = scopeViolations(s, gates, report.thresholds.overageThreshold)
    return {
      name: `${s.scope} (${s.unit})`,
      classname: `cycles.shadow.${report.filters.by}`,
      ...(v.length > 0 ? {failure: {message: v.map((x) => x.gate).join(', '), body: v.map((x) => x.message).join('\n')}} : {}),
      output: `${s.verdict}: ${s.message}; requests=${s.requests} would_denials=${s.would_denials} denial_rate=${s.denial_rate.toFixed(4)}`,
    }
  })
  const runCases: JUnitCase[] = []
  const loopsFail = gates.includes('loops') && report.loops.length > 0
  runCases.push({
    name: 'loop signatures',
    classname: 'cycles.shadow.runs',
    ...(loopsFail ? {failure: {message: `${report.loops.length} run(s) with loop signatures`, body: report.loops.map((l) => `${l.run_id} ${l.scope} ${l.count}`).join('\n')}} : {}),
  })
  const flagged = report.fanout.filter((f) => f.flagged)
  runCases.push({
    name: 'delegation fan-out',
    classname: 'cycles.shadow.runs',
    ...(gates.includes('fanout') && flagged.length > 0
      ? {failure: {message: `${flagged.length} flagged fan-out tree(s)`, body: flagged.map((f) => `${f.run_id} children=${f.children} depth=${f.depth} amplification=${f.amplification}`).join('\n')}}
      : {}),
  })
  return renderJUnit(
    [
      {name: `shadow ${report.filters.by}s`, cases: scopeCases, timestamp: report.generated_at},
      {name: 'shadow runs', cases: runCases, timestamp: report.generated_at},
    ],
    'cycles shadow report',
  )
}

export function renderReportJson(report: Report, violations: Violation[], gates: Gate[]): string {
  return json({...report, gates: {fail_on: gates, violations, passed: violations.length === 0}})
}
