import fs from 'node:fs'
import path from 'node:path'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {type ReplayLog, loadReplayLog} from '../../src/calibration/replay-log.js'
import type {BudgetSpec, TenantSpec} from '../../src/calibration/replay.js'
import type {CyclesConfig} from '../../src/config/schema.js'
import {scenarioConfig} from '../../src/simulate/fleet.js'
import {simulateOffline} from '../../src/simulate/offline.js'
import {type Scenario, parseScenario} from '../../src/simulate/scenario.js'
import {buildTimeline} from '../../src/simulate/timeline.js'
import {tempDir} from '../support/daemon.js'

export const START = Date.parse('2026-11-02T00:00:00.000Z')

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

export interface Simulated {
  dir: string
  log: ReplayLog
  budgets: BudgetSpec[]
  tenants: TenantSpec[]
  config: CyclesConfig
  records: number
}

export async function simulated(s: Scenario, adjust?: (c: CyclesConfig) => CyclesConfig, rateFactor?: number): Promise<Simulated> {
  const dir = tempDir('cycles-calibrate-')
  const options = {start_ms: START, ...(rateFactor ? {rate_factor: rateFactor} : {})}
  const file = path.join(dir, 'decisions.jsonl')
  const stats = await simulateOffline(s, file, options, adjust)
  const sized = scenarioConfig(s, buildTimeline(s, options)).config
  const config = adjust ? adjust(sized) : sized
  const db = await openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
  try {
    await ingest(db, [file])
    const log = await loadReplayLog(db)
    return {dir, log, config, records: stats.records, ...specsOf(config)}
  } finally {
    db.close()
  }
}

export function specsOf(config: CyclesConfig): {budgets: BudgetSpec[]; tenants: TenantSpec[]} {
  return {
    budgets: config.budgets.map((b) => ({scope: b.scope, unit: b.unit, allocated: b.allocated, overdraft_limit: b.overdraft_limit, status: b.status})),
    tenants: config.tenants.map((t) => ({tenant_id: t.id, status: t.status, ...(t.default_commit_overage_policy ? {default_commit_overage_policy: t.default_commit_overage_policy} : {})})),
  }
}

export function cleanup(dir: string | undefined): void {
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
}
