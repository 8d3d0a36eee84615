import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {KIND, REASONS, policyOf} from '../../src/calibration/replay-log.js'
import {bookLayout, components, mismatches, replay} from '../../src/calibration/replay.js'
import {loadScenario} from '../../src/simulate/scenario.js'
import {HIERARCHY, type Simulated, cleanup, simulated, withPolicies} from './helpers.js'

describe('replay faithfulness: the logged would-be decisions, reproduced through the one evaluator', () => {
  let h: Simulated
  let demo: Simulated
  beforeAll(async () => {
    h = await simulated(HIERARCHY, withPolicies)
    demo = await simulated(loadScenario('fixtures/scenarios/demo-fleet.yaml'))
  }, 600_000)
  afterAll(() => {
    cleanup(h?.dir)
    cleanup(demo?.dir)
  })

  it('0 mismatches on the demo fleet', () => {
    const outcome = replay(demo.log, bookLayout(demo.log, demo.budgets, demo.tenants))
    const m = mismatches(demo.log, outcome)
    expect(m.sample).toEqual([])
    expect(m.count).toBe(0)
    expect(m.compared).toBe(demo.records)
    // not vacuous: the fleet's tight budgets deny
    let denials = 0
    for (let r = 0; r < demo.log.n; r++) denials += demo.log.loggedDeny[r]
    expect(denials).toBeGreaterThan(100)
  })

  it('0 mismatches with hierarchical budgets, overdraft and the three overage policies — and the log exercises all of them', () => {
    const outcome = replay(h.log, bookLayout(h.log, h.budgets, h.tenants))
    const m = mismatches(h.log, outcome)
    expect(m.sample).toEqual([])
    expect(m.count).toBe(0)
    expect(m.compared).toBe(h.records)
    // What the log holds: denials at tenant (level 0), workspace (1) and agent (3) scopes, commit-time
    // denials (REJECT overage, overdraft exhausted), and UNIT_MISMATCH for the CREDITS agent.
    const levels = new Set<number>()
    const commitReasons = new Set<string>()
    const reasons = new Set<string>()
    for (let r = 0; r < h.log.n; r++) {
      if (!h.log.loggedDeny[r]) continue
      reasons.add(REASONS[h.log.loggedReason[r]])
      if (h.log.kind[r] === KIND.reserve) levels.add(h.log.loggedDeniedLevel[r])
      if (h.log.kind[r] === KIND.commit && h.log.loggedDeniedLevel[r] >= 0) commitReasons.add(REASONS[h.log.loggedReason[r]])
    }
    expect([...levels].sort()).toEqual(expect.arrayContaining([0, 1, 3]))
    expect(reasons).toContain('UNIT_MISMATCH')
    expect(reasons).toContain('BUDGET_EXCEEDED')
    // REJECT (alpha): an actual above the estimate fails the commit
    expect(commitReasons).toContain('BUDGET_EXCEEDED')
    // ALLOW_IF_AVAILABLE (charlie): a capped overrun marks the ledger over limit, later reserves are refused
    expect(reasons).toContain('OVERDRAFT_LIMIT_EXCEEDED')
    // ALLOW_WITH_OVERDRAFT (bravo, budgets with an overdraft): commits overrunning their estimate settle through the overdraft branch
    let overdraftOverruns = 0
    for (let r = 0; r < h.log.n; r++) {
      if (h.log.kind[r] === KIND.commit && policyOf(h.log.policy[r]) === 'ALLOW_WITH_OVERDRAFT' && h.log.actual[r] > h.log.estimate[r]) overdraftOverruns++
    }
    expect(overdraftOverruns).toBeGreaterThan(100)
    expect(h.budgets.filter((b) => b.overdraft_limit > 0).length).toBe(4)
  })

  it('can fail: a budget 5 % smaller, or commits settled under the wrong overage policy, give mismatches', () => {
    const layout = bookLayout(h.log, h.budgets, h.tenants)
    // the budget that denies most, 5 % smaller
    const logged = replay(h.log, layout)
    const binding = new Map<number, number>()
    for (let r = 0; r < h.log.n; r++) {
      const b = logged.deniedBudget[r]
      if (b >= 0 && h.log.kind[r] === KIND.reserve) binding.set(b, (binding.get(b) ?? 0) + 1)
    }
    const most = [...binding].sort((x, y) => y[1] - x[1])[0][0]
    const smaller = Float64Array.from(h.budgets, (b, i) => (i === most ? Math.round(b.allocated * 0.95) : b.allocated))
    expect(mismatches(h.log, replay(h.log, layout, {allocated: smaller})).count).toBeGreaterThan(0)
    // Older logs do not say the policy; replaying this one as if they were (tenant default dropped too) diverges.
    const blind = {...h.log, policy: new Uint8Array(h.log.n)}
    const noDefaults = bookLayout(blind, h.budgets, h.tenants.map((t) => ({tenant_id: t.tenant_id, status: t.status})))
    expect(mismatches(blind, replay(blind, noDefaults)).count).toBeGreaterThan(0)
  })

  it('replaying one independent component gives the same answers for its records as replaying everything', () => {
    const layout = bookLayout(h.log, h.budgets, h.tenants)
    const all = replay(h.log, layout)
    const comps = components(h.log, layout)
    // one component per tenant and unit with budgets: 3 tenants × (USD, TOKENS)
    expect(comps.length).toBe(6)
    for (const c of comps) {
      const part = replay(h.log, layout, {records: c.records})
      for (const r of c.records) expect([part.deny[r], part.reason[r], part.deniedBudget[r]]).toEqual([all.deny[r], all.reason[r], all.deniedBudget[r]])
    }
  })
})
