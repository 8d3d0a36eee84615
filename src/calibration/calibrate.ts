// Calibration: the limit search with joint validation and one verdict per budget (README "Calibration"),
// built on accounting.ts (per-budget accounting) and estimates.ts (estimate corrections). Pure over an
// in-memory replay log: the same log, budgets and options give the same result.
import type {PolicyDenialRow} from '../analytics/policy-denials.js'
import type {QuotaSuggestions} from './quota-suggest.js'
import {pct} from '../analytics/bands.js'
import type {Tier} from '../protocol/types.js'
import {BIG, account, budgetRecords, demandOf, isAttempt, smallSampleHint, unbudgetedRows} from './accounting.js'
import {type ComponentResult, type ComponentTask, type SearchContext, searchBudget, searchComponent} from './component-search.js'
import {correctedLog, estimates} from './estimates.js'
import {KIND, REASONS, type ReplayLog, TIER_CODES} from './replay-log.js'
import {heldBudgets} from './book-replay.js'
import {type BudgetSpec, type ReplayOutcome, type TenantSpec, bookLayout, components, emptyOutcome, replay} from './replay.js'
import {roundReadable} from './search.js'
import type {BudgetRow, BudgetStatusKind, EstimateRow} from './types.js'
import {type Action, VERDICT_SEVERITY, decideVerdict, tierReadiness} from './verdict.js'

export type {BudgetRow, BudgetStatusKind, EstimateRow} from './types.js'
export {estimates}

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
  /** Worker threads for the limit search (calibrateParallel; default min(2, components, cores)). The result does not depend on it. */
  threads?: number
}

export const CALIBRATION_DEFAULTS = {target: 0.02, band: [0.01, 0.03] as [number, number], minRequests: 30, maxRounds: 6, overageThreshold: 0.05}

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
  /** Suggested action quotas per (scope, action kind), proven by replay (quota-suggest.ts; `cycles calibrate` fills it). */
  action_quotas?: QuotaSuggestions
  /** Would-be denials by policy rule (`cycles calibrate` fills it). */
  policy_denials?: PolicyDenialRow[]
}

export interface CalibrationInput {
  log: ReplayLog
  budgets: BudgetSpec[]
  tenants: TenantSpec[]
}

/** Everything the component searches need, and the tasks: one per component. */
export interface CalibrationPlan {
  input: CalibrationInput
  o: typeof CALIBRATION_DEFAULTS & CalibrationOptions
  ctx: SearchContext
  tasks: ComponentTask[]
  recordsOfBudget: Int32Array[]
  baseline: ReplayOutcome
  base: ReturnType<typeof account>
  stats: {replays: number; rounds: number; records_replayed: number}
}

export function planCalibration(input: CalibrationInput, opts: Partial<CalibrationOptions> = {}): CalibrationPlan {
  const o = {...CALIBRATION_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined))} as typeof CALIBRATION_DEFAULTS & CalibrationOptions
  const {log, budgets} = input
  const layout = bookLayout(log, budgets, input.tenants)
  const held = heldBudgets(layout)
  const current = Float64Array.from(budgets, (b) => b.allocated)
  const recordsOfBudget = budgetRecords(log, layout)
  const baseline = replay(log, layout, {allocated: current, held})
  const stats = {replays: 1, rounds: 0, records_replayed: log.n}
  const base = account(log, layout, baseline, true)
  const eligible = (b: number) => budgets[b].status === 'ACTIVE' && base.requests[b] >= o.minRequests
  const tasks = components(log, layout).map((comp) => {
    const targets = comp.budgets.filter(eligible)
    // Shallow budgets first: a tenant budget is searched before the budgets below it.
    // (then by scope and unit, so the result does not depend on the order the source lists budgets in)
    targets.sort((x, y) => budgets[x].scope.split('/').length - budgets[y].scope.split('/').length || budgets[x].scope.localeCompare(budgets[y].scope) || budgets[x].unit.localeCompare(budgets[y].unit))
    return {budgets: comp.budgets, records: comp.records, targets, own: targets.map((b) => recordsOfBudget[b])}
  })
  const ctx: SearchContext = {log, layout, held, current, target: o.target, band: o.band, maxRounds: o.maxRounds}
  return {input, o, ctx, tasks, recordsOfBudget, baseline, base, stats}
}

/** Single-threaded: every component in turn on this thread (calibrateParallel gives the same result on workers). */
export function calibrate(input: CalibrationInput, opts: Partial<CalibrationOptions> = {}): CalibrationResult {
  const plan = planCalibration(input, opts)
  // With every suggestion applied; components are independent, so each is replayed into it on its own.
  const final = emptyOutcome(input.log.n)
  return finishCalibration(plan, plan.tasks.map((task) => searchComponent(plan.ctx, task, final)), final)
}

/** The rows, verdicts and estimates from the component searches' results (`final`: the joint replay with every suggestion). */
export function finishCalibration(plan: CalibrationPlan, results: ComponentResult[], final: ReplayOutcome): CalibrationResult {
  const {input, o, ctx, recordsOfBudget, baseline, base, stats} = plan
  const {log, budgets} = input
  const {layout, current} = ctx
  const nb = budgets.length
  const suggested = Float64Array.from(current)
  const method: string[] = budgets.map(() => 'none')
  plan.tasks.forEach((task, t) => {
    const r = results[t]
    task.targets.forEach((b, i) => {
      suggested[b] = r.suggested[i]
      method[b] = r.method[i]
    })
    stats.replays += r.replays
    stats.records_replayed += r.records_replayed
    stats.rounds = Math.max(stats.rounds, r.rounds)
  })
  const search = (target: ReplayLog, b: number, records: Int32Array, allocated: Float64Array, ceiling: number) => {
    const found = searchBudget(ctx, target, b, records, allocated, ceiling)
    stats.replays += found.replays
    stats.records_replayed += found.stepped
    return found
  }

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
    const hint = smallSampleHint(log, recordsOfBudget[b])
    if (hint) row.hint = {rule: `3 × the largest spend of one run over ${hint.runs} run(s) (shadow-analytics.md §2.1 c; small sample, not replayed, not applied)`, allocated: roundReadable(hint.max * 3)}
  })
  // Fix estimates, not budgets: where estimates are the problem, the limit once they are corrected.
  const corrected = correctedLog(log, o.minRequests)
  rows.forEach((row, b) => {
    if (b >= nb || row.verdict !== 'estimates' || !corrected || method[b] === 'none') return
    // the corrected log has the same records and scopes: only estimates differ
    const records = recordsOfBudget[b]
    const alloc = Float64Array.from(current)
    for (let x = 0; x < nb; x++) if (x !== b) alloc[x] = BIG
    const found = search(corrected, b, records, alloc, 2 * demandOf(corrected, records) + 1)
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

export {bookLayout}
