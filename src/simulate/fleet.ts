// The daemon config a scenario implies: its tenants, API keys, tiers, and its budgets sized against
// the traffic (allocation = headroom × what the traffic spends in the scope over the run).
import {createHash} from 'node:crypto'

import {type CyclesConfig, configSchema} from '../config/schema.js'
import {parseScope} from '../protocol/scope.js'
import type {Unit} from '../protocol/types.js'
import {type Scenario, tenantIds} from './scenario.js'
import type {Run, Timeline} from './timeline.js'

export function scopesOfRun(run: Run): string[] {
  const parts = [`tenant:${run.tenant}`, `workspace:${run.workspace}`, ...(run.workflow ? [`workflow:${run.workflow}`] : []), `agent:${run.agent}`]
  return parts.map((_, i) => parts.slice(0, i + 1).join('/').toLowerCase())
}

/** What the traffic would spend per `scope unit` if nothing were denied. */
export function spendByScope(timeline: Timeline): Map<string, number> {
  const spend = new Map<string, number>()
  for (const run of timeline.runs) {
    let total = 0
    for (const step of run.steps) {
      if (step.kind === 'reserve') total += step.release ? 0 : step.actual ?? 0
      else total += step.estimate
    }
    for (const scope of scopesOfRun(run)) spend.set(`${scope} ${run.unit}`, (spend.get(`${scope} ${run.unit}`) ?? 0) + total)
  }
  return spend
}

export function apiKeyFor(s: Scenario, tenant: string): string {
  return s.api_keys?.[tenant] ?? `cyc_sim_${tenant}_${createHash('sha256').update(`${s.name}/${tenant}`).digest('hex').slice(0, 16)}`
}

export interface SizedBudget {
  scope: string
  unit: Unit
  allocated: number
  headroom?: number
  spend: number
}

export function sizeBudgets(s: Scenario, timeline: Timeline): SizedBudget[] {
  const spend = spendByScope(timeline)
  const tenants = tenantIds(s)
  const out = new Map<string, SizedBudget>()
  const overrides = s.incidents.filter((i) => i.type === 'tight_budget' || i.type === 'decorative_budget') as Array<{scope: string; unit: Unit; headroom: number}>
  for (const b of s.budgets) {
    const targets = b.scope.includes('{tenant}') ? (b.tenants ?? tenants) : [b.scope]
    for (const t of targets) {
      const scope = parseScope(b.scope.replaceAll('{tenant}', t))
      const used = spend.get(`${scope} ${b.unit}`) ?? 0
      const headroom = b.allocated === undefined ? (b.headroom ?? s.default_headroom) : undefined
      out.set(`${scope} ${b.unit}`, {scope, unit: b.unit, spend: used, ...(headroom === undefined ? {} : {headroom}), allocated: b.allocated ?? Math.max(1, Math.round(used * headroom!))})
    }
  }
  for (const o of overrides) {
    const scope = parseScope(o.scope)
    const used = spend.get(`${scope} ${o.unit}`) ?? 0
    out.set(`${scope} ${o.unit}`, {scope, unit: o.unit, spend: used, headroom: o.headroom, allocated: Math.max(1, Math.round(used * o.headroom))})
  }
  return [...out.values()]
}

export function scenarioConfig(s: Scenario, timeline: Timeline): {config: CyclesConfig; budgets: SizedBudget[]} {
  const tenants = tenantIds(s)
  const budgets = sizeBudgets(s, timeline)
  const config = configSchema.parse({
    tenants: tenants.map((id) => ({id})),
    api_keys: tenants.map((tenant) => ({tenant, secret: apiKeyFor(s, tenant)})),
    budgets: budgets.map((b) => ({scope: b.scope, unit: b.unit, allocated: b.allocated})),
    ...(s.tiers ? {tiers: s.tiers} : {}),
  })
  return {config, budgets}
}
