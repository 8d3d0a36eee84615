// Per-budget accounting over the replay log and a replay outcome: attempts, denials, binding denials,
// demand, per-run spend, and the rows for traffic no budget covers.
import {KIND, REASONS, type ReplayLog, TIER_CODES} from './replay-log.js'
import type {BookLayout, ReplayOutcome} from './replay.js'
import {roundReadable} from './search.js'
import type {BudgetRow} from './types.js'
import {decideVerdict} from './verdict.js'

export const BIG = 2 ** 50

export interface Accounts {
  requests: Float64Array
  denials: Float64Array
  binding: Float64Array
  reasons: Array<Map<number, number>>
}

export function isAttempt(kind: number): boolean {
  return kind === KIND.reserve || kind === KIND.dryRun || kind === KIND.decide
}

export function account(log: ReplayLog, layout: BookLayout, outcome: ReplayOutcome, withReasons = false): Accounts {
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
export function rateOf(log: ReplayLog, layout: BookLayout, outcome: ReplayOutcome, records: Int32Array, b: number): number {
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

/** Per budget: the records whose scopes hit it, in log order (two passes over the log, no per-budget scan). */
export function budgetRecords(log: ReplayLog, layout: BookLayout): Int32Array[] {
  const counts = new Int32Array(layout.budgets.length)
  for (let r = 0; r < log.n; r++) for (const b of layout.slots[log.group[r]]) if (b >= 0) counts[b]++
  const lists = Array.from(counts, (c) => new Int32Array(c))
  const fill = new Int32Array(layout.budgets.length)
  for (let r = 0; r < log.n; r++) for (const b of layout.slots[log.group[r]]) if (b >= 0) lists[b][fill[b]++] = r
  return lists
}

/** What the traffic asks of budget b over the window: estimates held or charged, overruns, events. */
export function demandOf(log: ReplayLog, records: Int32Array): number {
  let d = 0
  for (const r of records) {
    const k = log.kind[r]
    if (isAttempt(k)) d += log.estimate[r]
    else if (k === KIND.commit) d += Math.max(0, log.actual[r] - log.estimate[r])
    else if (k === KIND.event) d += log.actual[r]
  }
  return d
}

/** Spend per run (commits at actual, dry-runs and decides at estimate, events at actual): the largest, and how many runs. */
export function smallSampleHint(log: ReplayLog, records: Int32Array): {max: number; runs: number} | undefined {
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

/** Traffic no budget covers (BUDGET_NOT_FOUND, UNIT_MISMATCH): one config_error row per tenant scope and unit. */
export function unbudgetedRows(log: ReplayLog, layout: BookLayout, outcome: ReplayOutcome, o: {minRequests: number; overageThreshold: number}): BudgetRow[] {
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
