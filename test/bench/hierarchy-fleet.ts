// The hierarchical fleet of the replay-faithfulness checks (test/calibration at 8.7 k records,
// `npm run bench -- faithfulness` at 1 M): budgets at tenant, workspace and agent level, overdraft,
// the three overage policies (one per tenant) and a unit no budget covers.
import type {BudgetSpec, TenantSpec} from '../../src/calibration/replay.js'
import type {CyclesConfig} from '../../src/config/schema.js'
import {type Scenario, parseScenario} from '../../src/simulate/scenario.js'

/**
 * Three tenants with budgets at tenant, workspace and agent level (USD; a second workspace only the tenant budget covers), a TOKENS tenant budget, and
 * a CREDITS agent with no CREDITS budget anywhere (UNIT_MISMATCH). Budgets sized below the traffic
 * so every level denies; actuals overrun estimates (heavy tail) so commits exercise the policies.
 */
export const HIERARCHY: Scenario = parseScenario(`
name: hierarchy
seed: 5
days: 3
tenants: [alpha, bravo, charlie]
default_headroom: 0.93
agents:
  - {name: planner, workflow: plan, unit: USD_MICROCENTS, action: {kind: llm.completion, name: plan}, runs_per_day: 40, steps: [2, 6],
     estimate: {median: 300000, sigma: 0.5}, actual_ratio: {median: 0.9, sigma: 0.3, tail_share: 0.08, tail_factor: 3}, dry_run_share: 0.1, decide_share: 0.05}
  - {name: reviewer, workflow: plan, unit: USD_MICROCENTS, action: {kind: llm.completion, name: review}, runs_per_day: 80, steps: [1, 3],
     estimate: {median: 200000, sigma: 0.3}, actual_ratio: {median: 1.0, sigma: 0.2, tail_share: 0.1, tail_factor: 2}}
  - {name: coder, workspace: lab, workflow: build, unit: USD_MICROCENTS, action: {kind: llm.completion, name: code}, runs_per_day: 30, steps: [1, 5],
     estimate: {median: 500000, sigma: 0.4}, actual_ratio: {median: 1.0, sigma: 0.25, tail_share: 0.05, tail_factor: 2}}
  - {name: writer, unit: TOKENS, action: {kind: llm.completion, name: draft}, runs_per_day: 20, steps: [1, 4], estimate: {median: 4000, sigma: 0.5}}
  - {name: searcher, unit: CREDITS, action: {kind: search.web, name: search}, runs_per_day: 6, steps: [1, 3], estimate: {median: 10, sigma: 0.2}}
budgets:
  - {scope: "tenant:{tenant}", unit: USD_MICROCENTS, headroom: 0.96}
  - {scope: "tenant:{tenant}/workspace:prod", unit: USD_MICROCENTS, headroom: 0.85}
  - {scope: "tenant:{tenant}/workspace:prod/workflow:plan/agent:planner", unit: USD_MICROCENTS, headroom: 0.75}
  - {scope: "tenant:{tenant}", unit: TOKENS, headroom: 0.9}
`)

/** The three overage policies, one per tenant, and overdraft on bravo's budgets. */
export function withPolicies(config: CyclesConfig): CyclesConfig {
  const policy = {alpha: 'REJECT', bravo: 'ALLOW_WITH_OVERDRAFT', charlie: 'ALLOW_IF_AVAILABLE'} as const
  return {
    ...config,
    tenants: config.tenants.map((t) => ({...t, default_commit_overage_policy: policy[t.id as keyof typeof policy]})),
    budgets: config.budgets.map((b) => (b.scope.startsWith('tenant:bravo') ? {...b, overdraft_limit: Math.round(b.allocated * 0.01)} : b)),
  }
}

/** The allocations a daemon started with `config` runs with, as the replay takes them. */
export function specsOf(config: CyclesConfig): {budgets: BudgetSpec[]; tenants: TenantSpec[]} {
  return {
    budgets: config.budgets.map((b) => ({scope: b.scope, unit: b.unit, allocated: b.allocated, overdraft_limit: b.overdraft_limit, status: b.status})),
    tenants: config.tenants.map((t) => ({tenant_id: t.id, status: t.status, ...(t.default_commit_overage_policy ? {default_commit_overage_policy: t.default_commit_overage_policy} : {})})),
  }
}
