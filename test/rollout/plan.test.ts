import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {calibrate} from '../../src/calibration/calibrate.js'
import {renderCalibrationJson} from '../../src/calibration/render.js'
import {type CalibrationInput, PlanInputError, buildPlan, calibrationInput, checkPlanOptions, readinessAsIs, verdictAfterLimits} from '../../src/rollout/plan.js'
import {formatDuration, parsePlanYaml, planIdProblem, planToYaml} from '../../src/rollout/plan-yaml.js'
import {parseScenario} from '../../src/simulate/scenario.js'
import {type Simulated, cleanup, simulated} from '../calibration/helpers.js'

/** Estimates close to actuals (so limits, not estimates, decide), budgets below demand at three levels. */
const FLEET = parseScenario(`
name: rollout-plan
seed: 11
days: 3
tenants: [alpha, bravo]
default_headroom: 0.9
agents:
  - {name: searcher, unit: USD_MICROCENTS, action: {kind: search.web, name: search}, runs_per_day: 60, steps: [1, 3],
     estimate: {median: 100000, sigma: 0.3}, actual_ratio: {median: 0.95, sigma: 0.02}}
  - {name: writer, unit: USD_MICROCENTS, action: {kind: llm.completion, name: draft}, runs_per_day: 60, steps: [1, 4],
     estimate: {median: 300000, sigma: 0.4}, actual_ratio: {median: 0.95, sigma: 0.02}}
budgets:
  - {scope: "tenant:{tenant}", unit: USD_MICROCENTS, headroom: 0.95}
  - {scope: "tenant:{tenant}/workspace:prod/agent:writer", unit: USD_MICROCENTS, headroom: 0.8}
`)

type Row = CalibrationInput['budgets'][number]
const row = (over: Partial<Row> & Pick<Row, 'scope' | 'tiers' | 'verdict'>): Row => ({
  unit: 'USD_MICROCENTS',
  requests: 500,
  current_allocated: 1000,
  suggested_allocated: 2000,
  suggested_denial_rate: 0.02,
  status: 'calibrated',
  ...over,
})

/** A tenant budget every tier shares, one agent budget per tier, and budgets calibration says are not ready. */
function calibration(): CalibrationInput {
  return {
    window: {from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z', days: 7},
    target: 0.02,
    band: [0.01, 0.03],
    min_requests: 30,
    budgets: [
      row({scope: 'tenant:acme', tiers: ['low', 'medium', 'high'], verdict: 'too_tight', current_allocated: 5000, suggested_allocated: 9000, suggested_denial_rate: 0.021}),
      row({scope: 'tenant:acme/agent:search', tiers: ['low'], verdict: 'ready', current_allocated: 300, suggested_allocated: 300, suggested_denial_rate: 0.02}),
      row({scope: 'tenant:acme/agent:writer', tiers: ['medium'], verdict: 'decorative', current_allocated: 8000, suggested_allocated: 2500, suggested_denial_rate: 0.018}),
      row({scope: 'tenant:acme/agent:mailer', tiers: ['high'], verdict: 'estimates', current_allocated: 100, suggested_allocated: 400, suggested_denial_rate: 0.02}),
      row({scope: 'tenant:acme/agent:payer', tiers: ['high'], verdict: 'warm', current_allocated: 100, suggested_allocated: 110, suggested_denial_rate: 0.045}),
      row({scope: 'tenant:globex', tiers: ['medium'], verdict: 'insufficient_data', status: 'insufficient_data', requests: 4, suggested_allocated: null, suggested_denial_rate: null}),
    ],
  }
}

describe('rollout plan: order and content', () => {
  const plan = buildPlan(calibration())

  it('sets each budget\'s calibrated limit once, before the first tier its traffic touches, then ramps the tier', () => {
    const outline = plan.steps.map((s) => (s.kind === 'limits' ? `${s.step}:limits:${s.tier}:${s.budgets.map((b) => b.scope).join('+')}` : `${s.step}:${s.tier}@${s.enforce_percent}`))
    expect(outline).toEqual([
      '1:limits:low:tenant:acme',
      '2:low@10',
      '3:low@50',
      '4:low@100',
      '5:limits:medium:tenant:acme/agent:writer',
      '6:medium@10',
      '7:medium@50',
      '8:medium@100',
      '9:limits:high:tenant:acme/agent:payer',
      '10:high@10',
      '11:high@50',
      '12:high@100',
    ])
  })

  it('carries from → to and the replayed rate; never a limit for estimates, missing data or an unchanged suggestion', () => {
    const limits = plan.steps.filter((s) => s.kind === 'limits').flatMap((s) => s.budgets)
    expect(limits.find((b) => b.scope === 'tenant:acme')).toEqual({scope: 'tenant:acme', unit: 'USD_MICROCENTS', from: 5000, to: 9000, replayed_denial_rate: 0.021, verdict: 'too_tight'})
    const scopes = limits.map((b) => b.scope)
    expect(scopes).not.toContain('tenant:acme/agent:mailer') // estimates first
    expect(scopes).not.toContain('tenant:globex') // insufficient data
    expect(scopes).not.toContain('tenant:acme/agent:search') // suggestion equals the current limit
  })

  it('judges tier readiness with the plan\'s limits in: a too-tight budget fixed by its limit is ready, estimates and an out-of-band suggestion block', () => {
    expect(plan.readiness).toEqual([
      {tier: 'low', ready: true, budgets: 2, blockers: []},
      {tier: 'medium', ready: false, budgets: 3, blockers: ['tenant:globex (USD_MICROCENTS): insufficient_data']},
      {tier: 'high', ready: false, budgets: 3, blockers: ['tenant:acme/agent:mailer (USD_MICROCENTS): estimates', 'tenant:acme/agent:payer (USD_MICROCENTS): warm']},
    ])
  })

  it('a calibration of the limits in force is judged as it is: a too-tight budget blocks until a new limit is live', () => {
    expect(readinessAsIs(calibration()).map((r) => [r.tier, r.ready, r.blockers.length])).toEqual([
      ['low', false, 1],
      ['medium', false, 3],
      ['high', false, 3],
    ])
    expect(readinessAsIs(calibration())[0].blockers).toEqual(['tenant:acme (USD_MICROCENTS): too_tight'])
  })

  it('a verdict a newer calibrate invented is read, never applied as a limit, and blocks its tier', () => {
    const cal = calibrationInput.parse({...calibration(), budgets: [{...row({scope: 'tenant:x', tiers: ['low'], verdict: 'ready'}), verdict: 'drifting'}]})
    const p = buildPlan(cal)
    expect(p.steps.filter((s) => s.kind === 'limits')).toEqual([])
    expect(p.readiness).toEqual([{tier: 'low', ready: false, budgets: 1, blockers: ['tenant:x (USD_MICROCENTS): drifting']}])
  })

  it('verdictAfterLimits: the band edges of the calibration count as in band', () => {
    const band: [number, number] = [0.01, 0.03]
    expect(verdictAfterLimits(row({scope: 's', tiers: ['low'], verdict: 'too_tight', suggested_denial_rate: 0.03}), band)).toBe('ready')
    expect(verdictAfterLimits(row({scope: 's', tiers: ['low'], verdict: 'too_tight', suggested_denial_rate: 0.0301}), band)).toBe('too_tight')
    expect(verdictAfterLimits(row({scope: 's', tiers: ['low'], verdict: 'loose', suggested_denial_rate: 0.01}), band)).toBe('ready')
    expect(verdictAfterLimits(row({scope: 's', tiers: ['low'], verdict: 'loose', suggested_denial_rate: 0.0099}), band)).toBe('loose')
    expect(verdictAfterLimits(row({scope: 's', tiers: ['low'], verdict: 'config_error', suggested_denial_rate: 0.02}), band)).toBe('config_error')
  })

  it('every enforce step has the scorecard gate and waits the dwell since the previous step', () => {
    const enforce = plan.steps.filter((s) => s.kind === 'enforce')
    expect(enforce).toHaveLength(9)
    for (const s of enforce) {
      expect(s.gate).toEqual({
        budgets_ready: true,
        denial_rate: {min: 0, max: 0.03},
        reserve_commit_ratio: {min: 0.8, max: 1.2},
        overage_rate_below: 0.01,
        min_requests: 100,
        min_wait_ms: 86_400_000,
      })
    }
  })

  it('--tiers, --ramp and --dwell shape the plan', () => {
    const p = buildPlan(calibration(), {tiers: ['medium', 'high'], ramp: [1, 100], dwellMs: 3_600_000, minRequests: 20})
    // tenant:acme is now first touched by medium, so it moves into medium's limits step.
    const first = p.steps[0]
    expect(first.kind === 'limits' && first.tier === 'medium' && first.budgets.map((b) => b.scope)).toEqual(['tenant:acme', 'tenant:acme/agent:writer'])
    expect(p.steps.filter((s) => s.kind === 'enforce').map((s) => s.kind === 'enforce' && `${s.tier}@${s.enforce_percent}/${s.gate.min_wait_ms}/${s.gate.min_requests}`)).toEqual([
      'medium@1/3600000/20',
      'medium@100/3600000/20',
      'high@1/3600000/20',
      'high@100/3600000/20',
    ])
    expect(p.readiness.map((r) => r.tier)).toEqual(['medium', 'high'])
  })

  it('refuses ramps and tier lists that are not a safe order', () => {
    expect(() => checkPlanOptions({ramp: [10, 50]})).toThrow(/last step must be 100/)
    expect(() => checkPlanOptions({ramp: [50, 10, 100]})).toThrow(/must rise/)
    expect(() => checkPlanOptions({ramp: [0, 100]})).toThrow(PlanInputError)
    expect(() => checkPlanOptions({tiers: ['high', 'low']})).toThrow(/lowest risk first/)
    expect(() => checkPlanOptions({tiers: ['low', 'low']})).toThrow(/lowest risk first/)
    expect(() => checkPlanOptions({ramp: [100]})).not.toThrow()
  })
})

describe('rollout plan: plan_id and the YAML file', () => {
  it('plan_id is a hash of the content: same input same id, any change a new id', () => {
    const a = buildPlan(calibration())
    const shuffled = calibration()
    shuffled.budgets.reverse()
    expect(buildPlan(shuffled).plan_id).toBe(a.plan_id)
    expect(a.plan_id).toMatch(/^rp_[0-9a-f]{16}$/)
    expect(buildPlan(calibration(), {dwellMs: 3_600_000}).plan_id).not.toBe(a.plan_id)
    const changed = calibration()
    changed.budgets[0].suggested_allocated = 9100
    expect(buildPlan(changed).plan_id).not.toBe(a.plan_id)
  })

  it('round-trips through YAML with comments, byte-identical for the same input', () => {
    const plan = buildPlan(calibration())
    const text = planToYaml(plan, 'calib.json')
    expect(planToYaml(buildPlan(calibration()), 'calib.json')).toBe(text)
    expect(text).toContain('# Step 2: tier low — enforce 10 % of runs (calibration: ready).')
    expect(text).toContain('# Step 10: tier high — enforce 10 % of runs (calibration: NOT ready: 2 blocker(s)).')
    expect(text).toMatch(/min_wait: 1d # since step 1 was applied/)
    expect(text).toMatch(/replayed with every calibrated limit in: 2\.1 % denied/)
    const back = parsePlanYaml(text)
    expect(back).toEqual(plan)
    expect(planIdProblem(back)).toBeUndefined()
  })

  it('an edited gate is noticed, with the id that would adopt it', () => {
    const plan = buildPlan(calibration())
    const edited = planToYaml(plan).replace('min_requests: 100', 'min_requests: 5')
    const back = parsePlanYaml(edited)
    const problem = planIdProblem(back)
    expect(problem).toMatch(/the plan was edited/)
    const newId = /set plan_id: (rp_[0-9a-f]{16})/.exec(problem!)![1]
    expect(newId).not.toBe(plan.plan_id)
    expect(planIdProblem(parsePlanYaml(edited.replace(`plan_id: ${plan.plan_id}`, `plan_id: ${newId}`)))).toBeUndefined()
  })

  it('a malformed plan file names the bad field', () => {
    const text = planToYaml(buildPlan(calibration())).replace('enforce_percent: 50', 'enforce_percent: 150')
    expect(() => parsePlanYaml(text, 'plan.yaml')).toThrow(/plan\.yaml: not a rollout plan[\s\S]*steps\.2\.enforce_percent/)
  })

  it('formats durations with the largest unit that divides them', () => {
    expect([0, 90_000, 3_600_000, 86_400_000, 172_800_000, 604_800_000].map(formatDuration)).toEqual(['0s', '90s', '1h', '1d', '2d', '1w'])
  })
})

describe('rollout plan from a real calibration', () => {
  let h: Simulated | undefined
  beforeAll(async () => {
    h = await simulated(FLEET)
  }, 120_000)
  afterAll(() => cleanup(h?.dir))

  it('reads the calibrate --format json contract and plans every calibrated change once', () => {
    const result = calibrate({log: h!.log, budgets: h!.budgets, tenants: h!.tenants})
    const json = JSON.parse(renderCalibrationJson(result, {fail_on: [], violations: [], passed: true}))
    const cal = calibrationInput.parse(json)
    const plan = buildPlan(cal)
    const planned = plan.steps.flatMap((s) => (s.kind === 'limits' ? s.budgets.map((b) => `${b.scope}|${b.unit}|${b.to}`) : []))
    const expected = result.budgets
      .filter((b) => b.status === 'calibrated' && b.suggested_allocated !== b.current_allocated && b.tiers.length > 0 && !['config_error', 'estimates', 'insufficient_data'].includes(b.verdict))
      .map((b) => `${b.scope}|${b.unit}|${b.suggested_allocated}`)
    expect(planned.length).toBeGreaterThan(0)
    expect([...planned].sort()).toEqual([...expected].sort())
    expect(new Set(planned).size).toBe(planned.length)
    expect(plan.readiness.map((r) => r.tier)).toEqual(result.tiers.map((t) => t.tier))
  })
})
