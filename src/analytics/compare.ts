// What changed since an earlier report: new too-tight scopes, bands and verdicts that moved,
// suggested limits that moved (calibrate), new loop signatures (shadow report). The earlier report
// is a saved `--format json` file (--compare FILE) or the same report over the data as it stood a
// window earlier (--compare-window 7d: records up to the last one minus 7 days).
import fs from 'node:fs'

import {pct} from './bands.js'

/** The part of a report row a comparison reads (shadow ScopeRow and calibrate BudgetRow both have it). */
export interface ComparableRow {
  scope: string
  unit: string
  band: string
  verdict: string
  rate: number
  suggested?: number | null
}

export interface ComparableLoop {
  run_id: string
  scope: string
  count: number
}

export interface Comparable {
  kind: 'shadow-report' | 'calibrate'
  /** The report's grouping (shadow report --by); rows are only comparable within one. */
  by: string
  window: {first_ts: string | null; last_ts: string | null}
  rows: ComparableRow[]
  loops: ComparableLoop[]
}

export interface Against {
  kind: 'file' | 'window'
  /** --compare: the file; --compare-window: the window. */
  source: string
  window: {first_ts: string | null; last_ts: string | null}
}

export interface Changes {
  against: Against
  new_too_tight: Array<{scope: string; unit: string; rate: number; previous_band: string | null}>
  band_changes: Array<{scope: string; unit: string; from: string; to: string; rate_from: number; rate_to: number}>
  verdict_changes: Array<{scope: string; unit: string; from: string; to: string}>
  suggested_changes: Array<{scope: string; unit: string; from: number | null; to: number | null}>
  new_rows: Array<{scope: string; unit: string; band: string}>
  gone_rows: Array<{scope: string; unit: string; band: string}>
  new_loops: Array<ComparableLoop & {scope_looped_before: boolean}>
}

export class CompareError extends Error {}

const key = (r: {scope: string; unit: string}) => `${r.scope}\u0000${r.unit}`
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A shadow report (JSON shape) as comparable rows. */
export function fromShadowReport(r: {filters: {by: string}; window: {first_ts: string | null; last_ts: string | null}; scopes: Array<{scope: string; unit: string; band: string; verdict: string; denial_rate: number}>; loops: ComparableLoop[]}): Comparable {
  return {
    kind: 'shadow-report',
    by: r.filters.by,
    window: {first_ts: r.window.first_ts, last_ts: r.window.last_ts},
    rows: r.scopes.map((s) => ({scope: s.scope, unit: s.unit, band: s.band, verdict: s.verdict, rate: s.denial_rate})),
    loops: r.loops.map((l) => ({run_id: l.run_id, scope: l.scope, count: l.count})),
  }
}

/** A calibration result (JSON shape) as comparable rows. */
export function fromCalibration(r: {window: {from: string | null; to: string | null}; budgets: Array<{scope: string; unit: string; band: string; verdict: string; current_denial_rate: number; suggested_allocated: number | null}>}): Comparable {
  return {
    kind: 'calibrate',
    by: 'budget',
    window: {first_ts: r.window.from, last_ts: r.window.to},
    rows: r.budgets.map((b) => ({scope: b.scope, unit: b.unit, band: b.band, verdict: b.verdict, rate: b.current_denial_rate, suggested: b.suggested_allocated})),
    loops: [],
  }
}

/** Read a saved `--format json` report of the same command; a clear error for anything else. */
export function loadSavedReport(file: string, kind: Comparable['kind']): Comparable {
  let value: unknown
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    throw new CompareError(`--compare: cannot read ${file} as JSON (${(error as Error).message})`)
  }
  const command = kind === 'calibrate' ? 'cycles calibrate --format json' : 'cycles shadow report --format json'
  const rowsKey = kind === 'calibrate' ? 'budgets' : 'scopes'
  const ok =
    isObject(value) &&
    Array.isArray(value[rowsKey]) &&
    isObject(value.window) &&
    (value[rowsKey] as unknown[]).every((r) => isObject(r) && typeof r.scope === 'string' && typeof r.unit === 'string' && typeof r.band === 'string') &&
    (kind === 'calibrate' || (isObject(value.filters) && Array.isArray(value.loops)))
  if (!ok) throw new CompareError(`--compare: ${file} is not a saved report of this command (write one with ${command} --output FILE)`)
  return kind === 'calibrate' ? fromCalibration(value as never) : fromShadowReport(value as never)
}

export function compareReports(current: Comparable, previous: Comparable, against: Omit<Against, 'window'>): Changes {
  if (current.kind !== previous.kind) throw new CompareError(`--compare: a ${previous.kind} report cannot be compared with a ${current.kind} report`)
  if (current.by !== previous.by) throw new CompareError(`--compare: the earlier report is grouped --by ${previous.by}, this one --by ${current.by}; compare reports with the same grouping`)
  const before = new Map(previous.rows.map((r) => [key(r), r]))
  const now = new Set(current.rows.map(key))
  const changes: Changes = {
    against: {...against, window: previous.window},
    new_too_tight: [],
    band_changes: [],
    verdict_changes: [],
    suggested_changes: [],
    new_rows: [],
    gone_rows: previous.rows.filter((r) => !now.has(key(r))).map((r) => ({scope: r.scope, unit: r.unit, band: r.band})),
    new_loops: [],
  }
  for (const r of current.rows) {
    const p = before.get(key(r))
    if (r.band === 'too_tight' && p?.band !== 'too_tight') changes.new_too_tight.push({scope: r.scope, unit: r.unit, rate: r.rate, previous_band: p?.band ?? null})
    if (!p) {
      changes.new_rows.push({scope: r.scope, unit: r.unit, band: r.band})
      continue
    }
    if (p.band !== r.band) changes.band_changes.push({scope: r.scope, unit: r.unit, from: p.band, to: r.band, rate_from: p.rate, rate_to: r.rate})
    if (p.verdict !== r.verdict) changes.verdict_changes.push({scope: r.scope, unit: r.unit, from: p.verdict, to: r.verdict})
    if (r.suggested !== undefined && (p.suggested ?? null) !== (r.suggested ?? null)) changes.suggested_changes.push({scope: r.scope, unit: r.unit, from: p.suggested ?? null, to: r.suggested ?? null})
  }
  const loopedRuns = new Set(previous.loops.map((l) => l.run_id))
  const loopedScopes = new Set(previous.loops.map((l) => l.scope))
  changes.new_loops = current.loops.filter((l) => !loopedRuns.has(l.run_id)).map((l) => ({...l, scope_looped_before: loopedScopes.has(l.scope)}))
  return changes
}

/** The earlier window for --compare-window: records up to the last one minus `ms` (and before --until). */
export function earlierUntil(lastTs: string | null, ms: number, until?: string): string | null {
  if (!lastTs) return null
  const cut = Date.parse(lastTs) + 1 - ms
  const bound = until ? Math.min(cut, Date.parse(until)) : cut
  return new Date(bound).toISOString()
}

export const changeCount = (c: Changes) =>
  c.new_too_tight.length + c.band_changes.length + c.verdict_changes.length + c.suggested_changes.length + c.new_rows.length + c.gone_rows.length + c.new_loops.length

export function againstWords(c: Changes): string {
  const w = c.against.window
  const span = w.first_ts ? `${w.first_ts} → ${w.last_ts}` : 'no records'
  return c.against.kind === 'file' ? `${c.against.source} (${span})` : `the data as it stood ${c.against.source} earlier (${span})`
}

const fmt = (n: number | null) => (n === null ? '–' : n.toLocaleString('en-US'))
const words = (s: string) => s.replaceAll('_', ' ')

/** Lines of the "changed since" section (plain; Markdown adds code spans). */
export function changeLines(c: Changes, code: (s: string) => string = (s) => s): string[] {
  const out: string[] = []
  for (const r of c.new_too_tight) out.push(`new too tight: ${code(r.scope)} (${r.unit}) at ${pct(r.rate, 2)}${r.previous_band ? `, was ${words(r.previous_band)}` : ', not in the earlier report'}`)
  for (const r of c.band_changes) if (r.to !== 'too_tight') out.push(`band moved: ${code(r.scope)} (${r.unit}) ${words(r.from)} → ${words(r.to)} (${pct(r.rate_from, 2)} → ${pct(r.rate_to, 2)})`)
  for (const r of c.verdict_changes) out.push(`verdict: ${code(r.scope)} (${r.unit}) ${words(r.from)} → ${words(r.to)}`)
  for (const r of c.suggested_changes) out.push(`suggested limit: ${code(r.scope)} (${r.unit}) ${fmt(r.from)} → ${fmt(r.to)}`)
  for (const l of c.new_loops) out.push(`new loop: run ${code(l.run_id)} in ${code(l.scope)} (${l.count} reservations)${l.scope_looped_before ? '' : ' — first loop in this scope'}`)
  for (const r of c.new_rows) if (r.band !== 'too_tight') out.push(`new: ${code(r.scope)} (${r.unit}), ${words(r.band)}`)
  for (const r of c.gone_rows) out.push(`gone: ${code(r.scope)} (${r.unit}), was ${words(r.band)}`)
  return out
}

/** The Markdown "Changed since" section a PR comment shows. */
export function renderChangesMarkdown(c: Changes): string {
  const lines = changeLines(c, (s) => `\`${s}\``)
  const head = `### Changed since ${againstWords(c)}`
  if (lines.length === 0) return `${head}\n\nNothing changed: the same rows, bands and verdicts, and no new loops.\n`
  return `${head}\n\n${lines.map((l) => `- ${l}`).join('\n')}\n`
}

export function renderChangesText(c: Changes): string {
  const lines = changeLines(c)
  return `\nChanged since ${againstWords(c)}\n${lines.length === 0 ? '  nothing changed\n' : lines.map((l) => `  ${l}\n`).join('')}`
}
