// Estimate corrections (§2.2): the ln(actual/estimate) histogram per budget and action, the estimate
// rows with suggested multipliers, and the log with those multipliers applied.
import {pct} from '../analytics/bands.js'
import {KIND, type ReplayLog} from './replay-log.js'
import type {BookLayout} from './replay.js'
import type {EstimateRow} from './types.js'
import {estimateFindings} from './verdict.js'

/** ln(actual/estimate) histogram: 0.005 wide bins over [-8, 8] (quantiles to about ±0.25 %). */
const BIN = 0.005
const LOW = -8
const BINS = Math.round(16 / BIN)

interface EstAcc {
  commits: number
  se: number
  sa: number
  overs: number
  apeSum: number
  apeN: number
  hist: Uint32Array
  ratios: number
}

function newAcc(): EstAcc {
  return {commits: 0, se: 0, sa: 0, overs: 0, apeSum: 0, apeN: 0, hist: new Uint32Array(BINS), ratios: 0}
}

function addCommit(a: EstAcc, estimate: number, actual: number): void {
  a.commits++
  a.se += estimate
  a.sa += actual
  if (actual > estimate) a.overs++
  if (actual > 0) {
    a.apeSum += Math.abs(estimate - actual) / actual
    a.apeN++
  }
  if (estimate > 0 && actual > 0) {
    const bin = Math.min(BINS - 1, Math.max(0, Math.floor((Math.log(actual / estimate) - LOW) / BIN)))
    a.hist[bin]++
    a.ratios++
  }
}

function quantile(a: EstAcc, p: number): number | null {
  if (a.ratios === 0) return null
  const rank = Math.ceil(p * a.ratios)
  let seen = 0
  for (let i = 0; i < BINS; i++) {
    seen += a.hist[i]
    if (seen >= rank) return Math.exp(LOW + (i + 0.5) * BIN)
  }
  return null
}

function estimateRow(scope: string, unit: string, kind: string, name: string, a: EstAcc, minCommits: number): EstimateRow {
  const rc = a.sa > 0 ? a.se / a.sa : null
  const overage = a.commits > 0 ? a.overs / a.commits : null
  let multiplier: number | null = null
  // §2.2: new_buffer = current × Q_0.95(A/E) when overage > 1 %; the median ratio when estimates run above 1.2×.
  if (a.commits >= minCommits) {
    if (overage !== null && overage > 0.01) multiplier = quantile(a, 0.95)
    else if (rc !== null && rc > 1.2) multiplier = quantile(a, 0.5)
  }
  const row: EstimateRow = {
    scope,
    unit,
    action_kind: kind,
    action_name: name,
    commits: a.commits,
    reserve_commit_ratio: rc === null ? null : Math.round(rc * 10_000) / 10_000,
    overage_rate: overage === null ? null : Math.round(overage * 10_000) / 10_000,
    mape: a.apeN > 0 ? Math.round((a.apeSum / a.apeN) * 10_000) / 10_000 : null,
    suggested_multiplier: multiplier === null ? null : Math.round(multiplier * 100) / 100,
    findings: [],
  }
  row.findings = estimateFindings({commits: a.commits, reserve_commit_ratio: rc, overage_rate: overage}, {minRequests: minCommits, overageThreshold: 0.05})
  if (row.findings.length === 0 && overage !== null && overage > 0.01 && a.commits >= minCommits) row.findings.push(`${pct(overage)} of commits exceed their estimate (amber: 1–5 %)`)
  return row
}

/** Per budget and per (budget, action kind, action name): reserve:commit ratio, overage, MAPE, multiplier. */
export function estimates(log: ReplayLog, layout: BookLayout, minCommits: number): {rows: EstimateRow[]; perBudget: EstimateRow[]} {
  const perBudget = layout.budgets.map(() => newAcc())
  const perAction = new Map<string, EstAcc>()
  for (let r = 0; r < log.n; r++) {
    if (log.kind[r] !== KIND.commit || !log.ok[r]) continue
    const e = log.estimate[r]
    const a = log.actual[r]
    for (const b of layout.slots[log.group[r]]) {
      if (b < 0) continue
      addCommit(perBudget[b], e, a)
      const key = `${b}\u0000${log.action[r]}`
      let acc = perAction.get(key)
      if (!acc) perAction.set(key, (acc = newAcc()))
      addCommit(acc, e, a)
    }
  }
  const budgetRows = layout.budgets.map((b, i) => estimateRow(b.scope, b.unit, '*', '*', perBudget[i], minCommits))
  const rows: EstimateRow[] = []
  for (const [key, acc] of perAction) {
    const [b, action] = key.split('\u0000').map(Number)
    const spec = layout.budgets[b]
    const act = log.actions[action]
    rows.push(estimateRow(spec.scope, spec.unit, act.kind, act.name, acc, minCommits))
  }
  rows.sort((x, y) => x.scope.localeCompare(y.scope) || x.unit.localeCompare(y.unit) || x.action_kind.localeCompare(y.action_kind) || x.action_name.localeCompare(y.action_name))
  return {rows, perBudget: budgetRows}
}

/** The log with each action's estimates multiplied by its suggested multiplier (§2.2), or undefined when none applies. */
export function correctedLog(log: ReplayLog, minCommits: number): ReplayLog | undefined {
  const acc = new Map<number, EstAcc>()
  for (let r = 0; r < log.n; r++) {
    if (log.kind[r] !== KIND.commit || !log.ok[r]) continue
    let a = acc.get(log.action[r])
    if (!a) acc.set(log.action[r], (a = newAcc()))
    addCommit(a, log.estimate[r], log.actual[r])
  }
  const multiplier = new Map<number, number>()
  for (const [action, a] of acc) {
    const m = estimateRow('', '', '', '', a, minCommits).suggested_multiplier
    if (m !== null && m !== 1) multiplier.set(action, m)
  }
  if (multiplier.size === 0) return undefined
  const estimate = Float64Array.from(log.estimate)
  for (let r = 0; r < log.n; r++) {
    const m = multiplier.get(log.action[r])
    if (m !== undefined) estimate[r] = Math.max(1, Math.round(estimate[r] * m))
  }
  return {...log, estimate}
}
