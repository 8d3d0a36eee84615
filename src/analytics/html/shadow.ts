// `cycles shadow report --format html`: the report as one self-contained page — summary, what
// changed, charts (budgets running out, per-tier would-deny rate, estimate drift, loops and fan-out
// on a timeline), the sortable scope table, and the files the records came from.
import {pct} from '../bands.js'
import {changeLines, againstWords} from '../compare.js'
import type {Violation} from '../gates.js'
import type {FanoutRow, LoopRow, Report, ScopeRow} from '../report.js'
import {ESTIMATE_BAND} from '../series.js'
import {type Chart, estimateChart, spendChart, tierChart, timelineChart} from './charts.js'
import {type Column, badge, esc, figure, page, sortableTable} from './page.js'

/** Charts per kind (the worst first): enough to see, few enough to print. */
export const CHARTS_PER_KIND = 6

const num = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n.toLocaleString('en-US'))
const code = (s: string | null) => (s === null ? '–' : `<code>${esc(s)}</code>`)

export function provenanceSection(p: Report['provenance']): string {
  if (!p) return ''
  const rows = p.files.map((f) => `<tr><td>${code(f.path)}</td><td>${f.label === null ? '<span class="muted">(no label)</span>' : esc(f.label)}</td><td class="num">${num(f.records)}</td></tr>`).join('')
  const labels = p.labels.map((l) => (l === null ? '(no label)' : l)).join(', ')
  const selected = p.labels_selected ? ` Only files labelled ${esc(p.labels_selected.join(', '))} (--label).` : ''
  const mixed = p.labels.length > 1 ? ' <strong>More than one source is mixed in this report.</strong>' : ''
  return `<section id="provenance"><h2>Where the data came from</h2><p>${p.files.length} file(s); labels: ${esc(labels || '–')}.${selected}${mixed}</p>
<div class="table-wrap"><table><thead><tr><th>file</th><th>label</th><th class="num">records read</th></tr></thead><tbody>${rows}</tbody></table></div></section>`
}

export function changesSection(c: Report['changes']): string {
  if (!c) return ''
  const lines = changeLines(c, (s) => `\u0000${s}\u0001`)
  const items = lines.map((l) => `<li>${esc(l).replace(/\u0000/g, '<code>').replace(/\u0001/g, '</code>')}</li>`).join('')
  return `<section id="changes"><h2>Changed since ${esc(againstWords(c))}</h2>${lines.length === 0 ? '<p>Nothing changed.</p>' : `<ul class="changes">${items}</ul>`}</section>`
}

const scopeColumns = (by: string): Array<Column<ScopeRow>> => [
  {header: by, cell: (s) => code(s.scope), sort: (s) => s.scope},
  {header: 'unit', cell: (s) => esc(s.unit), sort: (s) => s.unit},
  {header: 'requests', cell: (s) => num(s.requests), sort: (s) => s.requests, numeric: true},
  {header: 'would deny', cell: (s) => num(s.would_denials), sort: (s) => s.would_denials, numeric: true},
  {header: 'rate', cell: (s) => pct(s.denial_rate, 2), sort: (s) => s.denial_rate, numeric: true},
  {header: 'band', cell: (s) => badge(s.band), sort: (s) => s.band},
  {header: 'R:C', cell: (s) => (s.reserve_commit_ratio === null ? '–' : `${s.reserve_commit_ratio.toFixed(2)}:1`), sort: (s) => s.reserve_commit_ratio, numeric: true, title: 'reserved ÷ committed'},
  {header: 'overage', cell: (s) => pct(s.overage_rate), sort: (s) => s.overage_rate, numeric: true},
  {header: 'top reason', cell: (s) => esc(s.top_reasons[0]?.reason ?? '–'), sort: (s) => s.top_reasons[0]?.reason ?? ''},
  {header: 'tiers', cell: (s) => esc(s.tiers.join(', ')), sort: (s) => s.tiers.join(',')},
  {header: 'verdict', cell: (s) => `${badge(s.verdict)}<div class="muted">${esc(s.message)}</div>`, sort: (s) => s.verdict},
]

const loopColumns: Array<Column<LoopRow>> = [
  {header: 'run', cell: (l) => code(l.run_id), sort: (l) => l.run_id},
  {header: 'scope', cell: (l) => code(l.scope), sort: (l) => l.scope},
  {header: 'reservations', cell: (l) => num(l.count), sort: (l) => l.count, numeric: true},
  {header: 'window s', cell: (l) => num(l.window_seconds), sort: (l) => l.window_seconds, numeric: true},
  {header: 'signals', cell: (l) => esc(l.signals.join(' + ')), sort: (l) => l.signals.join('+')},
  {header: 'cost', cell: (l) => `${num(l.cost)} ${esc(l.unit ?? '')}`, sort: (l) => l.cost ?? 0, numeric: true},
  {header: 'first', cell: (l) => esc(l.first_ts), sort: (l) => l.first_ts},
]

const fanoutColumns: Array<Column<FanoutRow>> = [
  {header: 'root run', cell: (f) => code(f.run_id), sort: (f) => f.run_id},
  {header: 'scope', cell: (f) => code(f.scope), sort: (f) => f.scope ?? ''},
  {header: 'children', cell: (f) => num(f.children), sort: (f) => f.children, numeric: true},
  {header: 'depth', cell: (f) => num(f.depth), sort: (f) => f.depth, numeric: true},
  {header: 'runs', cell: (f) => num(f.descendants), sort: (f) => f.descendants, numeric: true},
  {header: 'amplification', cell: (f) => `${f.amplification}×`, sort: (f) => f.amplification, numeric: true},
  {header: 'cost', cell: (f) => `${num(f.cost)} ${esc(f.unit ?? '')}`, sort: (f) => f.cost ?? 0, numeric: true},
  {header: 'flagged', cell: (f) => (f.flagged ? badge('too_tight').replace('too tight', 'flagged') : '<span class="muted">no</span>'), sort: (f) => (f.flagged ? 1 : 0), numeric: true},
]

export function shadowCharts(report: Report): Chart[] {
  const charts: Chart[] = []
  const s = report.series
  if (!s) return charts
  // the budgets with the most would-be denials first: the ones enforcement would hurt most
  const worst = [...s.run_out].sort((a, b) => b.denials - a.denials || a.day.localeCompare(b.day))
  worst.slice(0, CHARTS_PER_KIND).forEach((r, i) =>
    charts.push(spendChart({id: `chart-spend-${i}`, scope: r.scope, unit: r.unit, points: r.spend, allocated: null, suggested: null, runsOutOn: r.day})),
  )
  if (s.tiers.some((t) => t.points.some((p) => p.requests > 0))) charts.push(tierChart({id: 'chart-tiers', tiers: s.tiers}))
  const actions = s.actions.filter((a) => a.ratio !== null).slice(0, CHARTS_PER_KIND)
  const daily = actions.flatMap((a) => a.points.filter((p) => p.ratio !== null).map((p) => ({action: `${a.action_kind} ${a.action_name} (${a.unit})`, day: p.day, ratio: p.ratio!})))
  if (daily.length > 0) charts.push(estimateChart({id: 'chart-estimates', daily, band: ESTIMATE_BAND}))
  const items = [
    ...report.loops.map((l) => ({label: `loop ${l.run_id}`, kind: 'loop' as const, first: l.first_ts, last: l.last_ts, cost: l.cost ?? 0, unit: l.unit ?? null})),
    ...report.fanout.filter((f) => f.flagged && f.first_ts && f.last_ts).map((f) => ({label: `fan-out ${f.run_id}`, kind: 'fan-out' as const, first: f.first_ts!, last: f.last_ts!, cost: f.cost ?? 0, unit: f.unit ?? null})),
  ].slice(0, 40)
  if (items.length > 0) charts.push(timelineChart({id: 'chart-timeline', items}))
  return charts
}

export async function renderReportHtml(report: Report, violations: Violation[]): Promise<string> {
  const t = report.totals
  const w = report.window
  const cards = [
    ['records', num(w.records)],
    ['requests', num(t.requests)],
    ['would deny', `${num(t.would_denials)} (${pct(t.denial_rate, 2)})`],
    [`${report.filters.by === 'scope' ? 'scopes' : report.filters.by}`, num(t.scopes)],
    ['loop signatures', num(t.loops)],
    ['flagged fan-out', num(t.fanout_flagged)],
    ['gates', violations.length === 0 ? '✔ passed' : `✖ ${violations.length} violation(s)`],
  ]
  const charts = await Promise.all(shadowCharts(report).map(figure))
  const driftNotes = (report.series?.actions ?? []).filter((a) => a.drift_from).map((a) => `<li><code>${esc(`${a.action_kind} ${a.action_name}`)}</code> (${esc(a.unit)}): estimates left the ${ESTIMATE_BAND[0]}–${ESTIMATE_BAND[1]} band on ${esc(a.drift_from)}</li>`)
  const runOutNotes = (report.series?.run_out ?? []).map((r) => `<li><code>${esc(r.scope)}</code> (${esc(r.unit)}) ran out on ${esc(r.day)}: ${num(r.denials)} would-be denial(s)</li>`)
  const filters = Object.entries(report.filters).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`).join(' ')
  const body = [
    `<div class="cards">${cards.map(([k, v]) => `<div class="card"><span class="muted">${esc(k)}</span><b>${esc(v)}</b></div>`).join('')}</div>`,
    changesSection(report.changes),
    runOutNotes.length + driftNotes.length > 0 ? `<section id="trends"><h2>Trends</h2><ul>${[...runOutNotes, ...driftNotes].join('')}</ul></section>` : '',
    charts.length > 0 ? `<section id="charts"><h2>Charts</h2><div class="charts">${charts.join('\n')}</div></section>` : '',
    `<section id="scopes"><h2>Verdicts per ${esc(report.filters.by)} (worst first)</h2>${sortableTable('scope-table', `${report.scopes.length} row(s); click a header to sort`, scopeColumns(report.filters.by), report.scopes, (s) => `${s.scope} ${s.unit} ${s.band} ${s.verdict} ${s.tiers.join(' ')}`)}</section>`,
    `<section id="loops"><h2>Loop signatures (${report.loops.length})</h2>${report.loops.length > 0 ? sortableTable('loop-table', 'runs with a loop signature', loopColumns, report.loops) : '<p>No loop signatures.</p>'}</section>`,
    `<section id="fanout"><h2>Delegation fan-out (${t.fanout_flagged} flagged)</h2>${report.fanout.length > 0 ? sortableTable('fanout-table', 'delegation trees, flagged first', fanoutColumns, report.fanout) : '<p>No delegation trees.</p>'}</section>`,
    violations.length > 0 ? `<section id="gates"><h2>Gate violations</h2><ul>${violations.map((v) => `<li>${badge('too_tight').replace('too tight', esc(v.gate))} ${esc(v.message)}</li>`).join('')}</ul></section>` : '',
    provenanceSection(report.provenance),
  ].join('\n')
  const subtitle = `${esc(w.first_ts ?? '–')} → ${esc(w.last_ts ?? '–')} · ${esc(filters)} · generated ${esc(report.generated_at)}`
  return page({title: 'Cycles shadow report', subtitle, body, data: report})
}
