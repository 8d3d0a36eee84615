// Calibration: per-budget accounting, the limit search with joint validation, estimate corrections
// and one verdict per budget (README "Calibration"). Pure over an in-memory replay log: the same
// log, budgets and options give the same result.
import {type Band, pct} from '../analytics/bands.js'
import type {Tier} from '../protocol/types.js'
import {KIND, REASONS, type ReplayLog, TIER_CODES} from './replay-log.js'
import {type BookLayout, type BudgetSpec, type ReplayOutcome, type TenantSpec, bookLayout, components, replay} from './replay.js'
import {roundReadable, searchLimit} from './search.js'
import {type Action, type Verdict, VERDICT_SEVERITY, decideVerdict, estimateFindings, tierReadiness} from './verdict.js'

export interface CalibrationOptions {
  target: number
  band: [number, number]
  minRequests: number
  /** Scale suggestions to a period of this many days (default: the observed window). */
  periodDays?: number
  /** Joint-validation rounds (default 6). */
  maxRounds?: number
  /** Overage share above which estimates are the problem (default 0.05). */
  overageThreshold?: number
}

export const CALIBRATION_DEFAULTS = {target: 0.02, band: [0.01, 0.03] as [number, number], minRequests: 30, maxRounds: 6, overageThreshold: 0.05}

export type BudgetStatusKind = 'calibrated' | 'insufficient_data' | 'config_error' | 'no_traffic'

export interface BudgetRow {
  scope: string
  unit: string
  tiers: Tier[]
  requests: number
  would_denials: number
  current_allocated: number | null
  current_denial_rate: number
  suggested_allocated: number | null
  /** The joint replay's rate with every suggestion applied. */
  suggested_denial_rate: number | null
  binding_denials: number
  suggested_binding_denials: number | null
  suggested_overdraft_limit: number | null
  /** replay_inversion | replay_best_effort (other budgets deny more than the target) | none. */
  method: string
  status: BudgetStatusKind
  /** Band of the current denial rate (shadow-analytics.md §1.3). */
  band: Band
  verdict: Verdict
  message: string
  action: Action
  findings: string[]
  /** Below the sample floor: the small-sample rule as a labelled hint, never applied. */
  hint?: {rule: string; allocated: number}
  /** The limit once estimates are corrected by the suggested multipliers (replayed), when estimates are off. */
  suggested_allocated_after_estimates?: number | null
  /** The suggestion for the observed window, before --period scaling. */
  suggested_allocated_window?: number | null
  top_reasons: Array<{reason: string; count: number}>
}

export interface EstimateRow {
  scope: string
  unit: string
  action_kind: string
  action_name: string
  commits: number
  reserve_commit_ratio: number | null
  overage_rate: number | null
  mape: number | null
  suggested_multiplier: number | null
  findings: string[]
}

export interface TierRow {
  tier: Tier
  ready: boolean
  budgets: number
  blockers: string[]
  action: Action
}

export interface CalibrationResult {
  window: {from: string | null; to: string | null; days: number}
  target: number
  band: [number, number]
  min_requests: number
  period: {days: number; scaled: boolean; factor: number}
  records: number
  replay: {replays: number; rounds: number; records_replayed: number}
  budgets: BudgetRow[]
  estimates: EstimateRow[]
  tiers: TierRow[]
}

const BIG = 2 ** 50

interface Accounts {
  requests: Float64Array
  denials: Float64Array
  binding: Float64Array
  reasons: Array<Map<number, number>>
}

function isAttempt(kind: number): boolean {
  return kind === KIND.reserve || kind === KIND.dryRun || kind === KIND.decide
}

function account(log: ReplayLog, layout: BookLayout, outcome: ReplayOutcome, withReasons = false): Accounts {
  const nb = layout.budgets.length
  const a: Accounts = {requests: new Float64Array(nb), denials: new Float64Array(nb), binding: new Float64Array(nb), reasons: withReasons ? layout.budgets.map(() => new Map()) : []}
  for (let r = 0; r < log.n; r++) {
    if (!isAttempt(log.kind[r])) continue
    const slot = layout.slots[log.group[r]]
    const deny = outcome.deny[r]
    for (const b of slot) {
      if (b < 0) continue
      a.requests[b]++
      if (deny) {
        a.denials[b]++
        if (withReasons) a.reasons[b].set(outcome.reason[r], (a.reasons[b].get(outcome.reason[r]) ?? 0) + 1)
      }
      if (outcome.deniedBudget[r] === b) a.binding[b]++
    }
  }
  return a
}

/** Denial rate of budget b over `records` (attempts touching b). */
function rateOf(log: ReplayLog, layout: BookLayout, outcome: ReplayOutcome, records: Int32Array, b: number): number {
  let req = 0
  let den = 0
  for (const r of records) {
    if (!isAttempt(log.kind[r])) continue
    if (!layout.slots[log.group[r]].includes(b)) continue
    req++
    if (outcome.deny[r]) den++
  }
  return req > 0 ? den / req : 0
}

/** Records whose scopes hit budget b (in log order). */
function recordsOf(log: ReplayLog, layout: BookLayout, records: Int32Array, b: number): Int32Array {
  const groups = new Uint8Array(layout.slots.length)
  layout.slots.forEach((s, g) => {
    if (s.includes(b)) groups[g] = 1
  })
  let n = 0
  for (const r of records) if (groups[log.group[r]]) n++
  const out = new Int32Array(n)
  let i = 0
  for (const r of records) if (groups[log.group[r]]) out[i++] = r
  return out
}

/** What the traffic asks of budget b over the window: estimates held or charged, overruns, events. */
function demandOf(log: ReplayLog, records: Int32Array): number {
  let d = 0
  for (const r of records) {
    const k = log.kind[r]
    if (isAttempt(k)) d += log.estimate[r]
    else if (k === KIND.commit) d += Math.max(0, log.actual[r] - log.estimate[r])
    else if (k === KIND.event) d += log.actual[r]
  }
  return d
}

export interface CalibrationInput {
  log: ReplayLog
  budgets: BudgetSpec[]
  tenants: TenantSpec[]
}

export function calibrate(input: CalibrationInput, opts: Partial<CalibrationOptions> = {}): CalibrationResult {
  const o = {...CALIBRATION_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined))} as typeof CALIBRATION_DEFAULTS & CalibrationOptions
  const {log, budgets} = input
  const layout = bookLayout(log, budgets, input.tenants)
  const nb = budgets.length
  const stats = {replays: 0, rounds: 0, records_replayed: 0}
  const run = (allocated: Float64Array, records?: Int32Array) => {
    stats.replays++
    stats.records_replayed += records ? records.length : log.n
    return replay(log, layout, {allocated, records})
  }

  const current = Float64Array.from(budgets, (b) => b.allocated)
  const baseline = run(current)
  const base = account(log, layout, baseline, true)
  const eligible = (b: number) => budgets[b].status === 'ACTIVE' && base.requests[b] >= o.minRequests
  const suggested = Float64Array.from(current)
  const method: string[] = budgets.map(() => 'none')
  const inBand = (x: number) => x >= o.band[0] && x <= o.band[1]

  for (const comp of components(log, layout)) {
    const targets = comp.budgets.filter(eligible)
    if (targets.length === 0) continue
    // Shallow budgets first: a tenant budget is searched before the budgets below it.
    targets.sort((x, y) => budgets[x].scope.split('/').length - budgets[y].scope.split('/').length || x - y)
    const own = new Map(targets.map((b) => [b, recordsOf(log, layout, comp.records, b)]))
    // 1. Each budget alone (every other budget unlimited): the limit its own traffic needs.
    for (const b of targets) {
      const records = own.get(b)!
      const alloc = Float64Array.from(current)
      for (const x of comp.budgets) alloc[x] = BIG
      const ceiling = 2 * demandOf(log, records) + 1
      const found = searchLimit(
        (L) => {
          alloc[b] = L
          return rateOf(log, layout, run(alloc, records), records, b)
        },
        o.target,
        ceiling,
      )
      suggested[b] = found.allocated
      method[b] = found.method === 'target' ? 'replay_inversion' : 'replay_best_effort'
    }
    // 2. Jointly: replay with every suggestion and re-search the budgets outside the band, each with
    //    the others at their suggestions, until all land in the band (bounded rounds).
    for (let round = 0; round < o.maxRounds; round++) {
      const joint = run(suggested, comp.records)
      const off = targets.filter((b) => !inBand(rateOf(log, layout, joint, own.get(b)!, b)))
      if (off.length === 0) break
      stats.rounds = Math.max(stats.rounds, round + 1)
      for (const b of off) {
        const records = comp.records
        const alloc = Float64Array.from(suggested)
        const ceiling = 2 * demandOf(log, own.get(b)!) + 1
        const found = searchLimit(
          (L) => {
            alloc[b] = L
            return rateOf(log, layout, run(alloc, records), own.get(b)!, b)
          },
          o.target,
          ceiling,
        )
        suggested[b] = found.allocated
        method[b] = found.method === 'target' ? 'replay_inversion' : 'replay_best_effort'
      }
    }
  }

  const final = run(suggested)
  const after = account(log, layout, final)
  const windowDays = log.window.from && log.window.to ? Math.max(1 / 1440, (Date.parse(log.window.to) - Date.parse(log.window.from)) / 86_400_000) : 0
  const factor = o.periodDays && windowDays > 0 ? o.periodDays / windowDays : 1

  // Tiers, demand and commit overruns per budget, from the log.
  const tierMask = new Uint8Array(nb)
  const overrun = new Float64Array(nb)
  const overruns = new Float64Array(nb)
  for (let r = 0; r < log.n; r++) {
    const k = log.kind[r]
    const slot = layout.slots[log.group[r]]
    for (const b of slot) {
      if (b < 0) continue
      if (isAttempt(k)) tierMask[b] |= 1 << log.tier[r]
      else if (k === KIND.commit && log.ok[r] && log.actual[r] > log.estimate[r]) {
        overrun[b] += log.actual[r] - log.estimate[r]
        overruns[b]++
      }
    }
  }
  const tiersOf = (mask: number): Tier[] => TIER_CODES.filter((_, i) => mask & (1 << i))

  const est = estimates(log, layout, o.minRequests)
  const budgetEst = new Map(est.perBudget.map((e) => [`${e.scope}\u0000${e.unit}`, e]))
  const verdictOptions = {minRequests: o.minRequests, overageThreshold: o.overageThreshold}

  const rows: BudgetRow[] = budgets.map((spec, b) => {
    const requests = base.requests[b]
    const calibrated = method[b] !== 'none'
    const e = budgetEst.get(`${spec.scope}\u0000${spec.unit}`)
    const reasons: Record<string, number> = {}
    for (const [code, count] of base.reasons[b]) reasons[REASONS[code] ?? 'OTHER'] = count
    const status: BudgetStatusKind = spec.status !== 'ACTIVE' ? 'config_error' : requests === 0 ? 'no_traffic' : calibrated ? 'calibrated' : 'insufficient_data'
    const windowSuggestion = calibrated ? suggested[b] : null
    const scaled = windowSuggestion === null ? null : factor === 1 ? windowSuggestion : roundReadable(windowSuggestion * factor)
    const v = decideVerdict(
      {
        scope: spec.scope,
        unit: spec.unit,
        requests,
        would_denials: base.denials[b],
        reasons,
        budget_status: spec.status,
        commits: e?.commits ?? 0,
        reserve_commit_ratio: e?.reserve_commit_ratio ?? null,
        overage_rate: e?.overage_rate ?? null,
        tiers: tiersOf(tierMask[b]),
        suggested_allocated: scaled,
        suggested_denial_rate: calibrated ? after.denials[b] / Math.max(1, after.requests[b]) : null,
      },
      verdictOptions,
    )
    const overdraft = calibrated && overruns[b] > 0 && scaled !== null ? roundReadable(scaled * Math.min(0.2, Math.max(0.1, (overrun[b] * factor) / scaled))) : null
    return {
      scope: spec.scope,
      unit: spec.unit,
      tiers: tiersOf(tierMask[b]),
      requests,
      would_denials: base.denials[b],
      current_allocated: spec.allocated,
      current_denial_rate: requests > 0 ? base.denials[b] / requests : 0,
      suggested_allocated: scaled,
      suggested_denial_rate: calibrated ? after.denials[b] / Math.max(1, after.requests[b]) : null,
      binding_denials: base.binding[b],
      suggested_binding_denials: calibrated ? after.binding[b] : null,
      suggested_overdraft_limit: overdraft,
      method: method[b],
      status,
      band: v.band,
      verdict: v.verdict,
      message: v.message,
      action: v.action,
      findings: v.findings,
      ...(factor !== 1 ? {suggested_allocated_window: windowSuggestion} : {}),
      top_reasons: [...base.reasons[b]].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, 3).map(([code, count]) => ({reason: REASONS[code] ?? 'OTHER', count})),
    }
  })
  // Below the sample floor: the small-sample rule of §2.1 (c), as a labelled hint only.
  rows.forEach((row, b) => {
    if (b >= nb || row.status !== 'insufficient_data') return
    const hint = smallSampleHint(log, recordsOf(log, layout, allRecords(log), b))
    if (hint) row.hint = {rule: `3 × the largest spend of one run over ${hint.runs} run(s) (shadow-analytics.md §2.1 c; small sample, not replayed, not applied)`, allocated: roundReadable(hint.max * 3)}
  })
  // Fix estimates, not budgets: where estimates are the problem, the limit once they are corrected.
  const corrected = correctedLog(log, o.minRequests)
  rows.forEach((row, b) => {
    if (b >= nb || row.verdict !== 'estimates' || !corrected || method[b] === 'none') return
    const records = recordsOf(corrected, layout, allRecords(corrected), b)
    const alloc = Float64Array.from(current)
    for (let x = 0; x < nb; x++) if (x !== b) alloc[x] = BIG
    const found = searchLimit(
      (L) => {
        alloc[b] = L
        stats.replays++
        stats.records_replayed += records.length
        return rateOf(corrected, layout, replay(corrected, layout, {allocated: alloc, records}), records, b)
      },
      o.target,
      2 * demandOf(corrected, records) + 1,
    )
    const value = factor === 1 ? found.allocated : roundReadable(found.allocated * factor)
    row.suggested_allocated_after_estimates = value
    row.findings.push(`once estimates are corrected by the suggested multipliers, the limit would be ${value.toLocaleString('en-US')} (replayed alone: ${pct(found.rate, 1)} denied)`)
  })
  rows.push(...unbudgetedRows(log, layout, baseline, verdictOptions))
  rows.sort((x, y) => VERDICT_SEVERITY[x.verdict] - VERDICT_SEVERITY[y.verdict] || y.current_denial_rate - x.current_denial_rate || y.requests - x.requests || x.scope.localeCompare(y.scope) || x.unit.localeCompare(y.unit))

  return {
    window: {from: log.window.from, to: log.window.to, days: Math.round(windowDays * 1000) / 1000},
    target: o.target,
    band: o.band,
    min_requests: o.minRequests,
    period: {days: Math.round((o.periodDays ?? windowDays) * 1000) / 1000, scaled: factor !== 1, factor: Math.round(factor * 10_000) / 10_000},
    records: log.n,
    replay: stats,
    budgets: rows,
    estimates: est.rows,
    tiers: tierReadiness(rows),
  }
}

function allRecords(log: ReplayLog): Int32Array {
  return Int32Array.from({length: log.n}, (_, i) => i)
}

/** Spend per run (commits at actual, dry-runs and decides at estimate, events at actual): the largest, and how many runs. */
function smallSampleHint(log: ReplayLog, records: Int32Array): {max: number; runs: number} | undefined {
  const spend = new Map<number, number>()
  for (const r of records) {
    const run = log.run[r]
    if (run < 0) continue
    const k = log.kind[r]
    const x = k === KIND.commit && log.ok[r] ? log.actual[r] : k === KIND.dryRun || k === KIND.decide ? log.estimate[r] : k === KIND.event ? log.actual[r] : 0
    spend.set(run, (spend.get(run) ?? 0) + x)
  }
  if (spend.size === 0) return undefined
  return {max: Math.max(...spend.values()), runs: spend.size}
}

/** The log with each action's estimates multiplied by its suggested multiplier (§2.2), or undefined when none applies. */
function correctedLog(log: ReplayLog, minCommits: number): ReplayLog | undefined {
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

/** Traffic no budget covers (BUDGET_NOT_FOUND, UNIT_MISMATCH): one config_error row per tenant scope and unit. */
function unbudgetedRows(log: ReplayLog, layout: BookLayout, outcome: ReplayOutcome, o: {minRequests: number; overageThreshold: number}): BudgetRow[] {
  const acc = new Map<string, {scope: string; unit: string; requests: number; denials: number; reasons: Map<number, number>; tiers: number; demand: number}>()
  for (let r = 0; r < log.n; r++) {
    if (!isAttempt(log.kind[r])) continue
    const g = log.group[r]
    if (layout.slots[g].some((b) => b >= 0)) continue
    const group = log.groups[g]
    const key = `${group.affected[0]}\u0000${group.unit}`
    let a = acc.get(key)
    if (!a) acc.set(key, (a = {scope: group.affected[0], unit: group.unit, requests: 0, denials: 0, reasons: new Map(), tiers: 0, demand: 0}))
    a.requests++
    a.tiers |= 1 << log.tier[r]
    a.demand += log.estimate[r]
    if (outcome.deny[r]) {
      a.denials++
      a.reasons.set(outcome.reason[r], (a.reasons.get(outcome.reason[r]) ?? 0) + 1)
    }
  }
  return [...acc.values()].map((a) => {
    const reasons: Record<string, number> = {}
    for (const [code, count] of a.reasons) reasons[REASONS[code] ?? 'OTHER'] = count
    const tiers = TIER_CODES.filter((_, i) => a.tiers & (1 << i))
    const v = decideVerdict(
      {scope: a.scope, unit: a.unit, requests: a.requests, would_denials: a.denials, reasons, unbudgeted: true, commits: 0, reserve_commit_ratio: null, overage_rate: null, tiers, demand: roundReadable(a.demand)},
      o,
    )
    return {
      scope: a.scope,
      unit: a.unit,
      tiers,
      requests: a.requests,
      would_denials: a.denials,
      current_allocated: null,
      current_denial_rate: a.requests > 0 ? a.denials / a.requests : 0,
      suggested_allocated: null,
      suggested_denial_rate: null,
      binding_denials: 0,
      suggested_binding_denials: null,
      suggested_overdraft_limit: null,
      method: 'none',
      status: 'config_error' as const,
      band: v.band,
      verdict: v.verdict,
      message: v.message,
      action: v.action,
      findings: v.findings,
      top_reasons: [...a.reasons].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, 3).map(([code, count]) => ({reason: REASONS[code] ?? 'OTHER', count})),
    }
  })
}

// ---------------------------------------------------------------- estimate corrections (§2.2)

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

export {bookLayout}
