import {describe, expect, it} from 'vitest'

import {type LedgerNow, type RolloutState, evaluateStepGate, headroomCheck, liveDenialRate, nextStep, windowStart} from '../../src/rollout/apply-gates.js'
import {type CalibrationInput, type PlanStep, buildPlan} from '../../src/rollout/plan.js'

const HOUR = 3_600_000
const T0 = Date.parse('2026-11-20T00:00:00.000Z')

const calibration: CalibrationInput = {
  window: {from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z', days: 7},
  target: 0.02,
  band: [0.01, 0.03],
  budgets: [
    {scope: 'tenant:acme', unit: 'USD_MICROCENTS', tiers: ['low', 'medium'], requests: 900, current_allocated: 100, suggested_allocated: 200, suggested_denial_rate: 0.02, status: 'calibrated', verdict: 'too_tight'},
    {scope: 'tenant:acme/agent:w', unit: 'USD_MICROCENTS', tiers: ['medium'], requests: 900, current_allocated: 50, suggested_allocated: 60, suggested_denial_rate: 0.05, status: 'calibrated', verdict: 'too_tight'},
  ],
}
// Steps: 1 limits(low) 2 low@10 3 low@100 4 limits(medium) 5 medium@10 6 medium@100
const plan = buildPlan(calibration, {tiers: ['low', 'medium'], ramp: [10, 100], dwellMs: 24 * HOUR, minRequests: 100})
const step = (n: number): PlanStep => plan.steps[n - 1]

/** Healthy figures for every tier; tests change one figure at a time. */
type TierOver = {mode?: 'shadow' | 'enforce'; enforce_percent?: number; stats?: Partial<RolloutState['tiers']['low']['stats']>}
function state(over: {applied?: Array<[number, number]>; tiers?: Partial<Record<'low' | 'medium' | 'high', TierOver>>; now?: number; killswitch?: boolean} = {}): RolloutState {
  const tier = (t: 'low' | 'medium' | 'high') => {
    const o: TierOver = over.tiers?.[t] ?? {}
    return {
      mode: o.mode ?? 'shadow',
      enforce_percent: o.enforce_percent ?? 100,
      stats: {since_ms: T0, requests: 500, enforced_requests: 0, enforced_denials: 0, enforced_denial_rate: 0, would_denial_rate: 0.02, commits: 400, reserve_commit_ratio: 1.05, overage_rate: 0.004, ...o.stats},
    }
  }
  return {
    now_ms: over.now ?? T0 + 25 * HOUR,
    killswitch: {engaged: over.killswitch ?? false},
    applied_steps: (over.applied ?? [[1, T0]]).map(([s, at]) => ({plan_id: plan.plan_id, step: s, at_ms: at})),
    tiers: {low: tier('low'), medium: tier('medium'), high: tier('high')},
  }
}

const failing = (r: ReturnType<typeof evaluateStepGate>) => r.checks.filter((c) => !c.passed).map((c) => c.gate)

describe('rollout apply gates', () => {
  it('plan order: limits of low, low 10/100, limits of medium, medium 10/100', () => {
    expect(plan.steps.map((s) => (s.kind === 'limits' ? `limits:${s.tier}` : `${s.tier}@${s.enforce_percent}`))).toEqual(['limits:low', 'low@10', 'low@100', 'limits:medium', 'medium@10', 'medium@100'])
  })

  it('a healthy tier after the dwell passes every check', () => {
    const r = evaluateStepGate(plan, step(2), state(), plan.readiness)
    expect(failing(r)).toEqual([])
    expect(r.passed).toBe(true)
    expect(r.since_ms).toBe(T0)
    expect(r.figures_since_ms).toBe(T0)
    expect(r.checks.map((c) => c.gate)).toEqual(['order', 'tier_state', 'killswitch', 'budgets_ready', 'dwell', 'min_requests', 'denial_rate', 'reserve_commit_ratio', 'overage'])
  })

  it('dwell: exactly the minimum passes, one millisecond less fails', () => {
    expect(failing(evaluateStepGate(plan, step(2), state({now: T0 + 24 * HOUR}), plan.readiness))).toEqual([])
    const r = evaluateStepGate(plan, step(2), state({now: T0 + 24 * HOUR - 1}), plan.readiness)
    expect(failing(r)).toEqual(['dwell'])
    expect(r.checks.find((c) => c.gate === 'dwell')).toMatchObject({actual: '86399s since step 1', required: '≥ 1d'})
  })

  it('min_requests: exactly the minimum passes, one less fails', () => {
    expect(failing(evaluateStepGate(plan, step(2), state({tiers: {low: {stats: {requests: 100}}}}), plan.readiness))).toEqual([])
    expect(failing(evaluateStepGate(plan, step(2), state({tiers: {low: {stats: {requests: 99}}}}), plan.readiness))).toEqual(['min_requests'])
  })

  it('denial rate: the band edge passes, above it fails; a tier in enforce is judged by its enforced denials', () => {
    expect(failing(evaluateStepGate(plan, step(2), state({tiers: {low: {stats: {would_denial_rate: 0.03}}}}), plan.readiness))).toEqual([])
    expect(failing(evaluateStepGate(plan, step(2), state({tiers: {low: {stats: {would_denial_rate: 0.0301}}}}), plan.readiness))).toEqual(['denial_rate'])
    // Step 3 (low 10 → 100): low is enforcing 10 %; its enforced rate decides, not the shadow one.
    const enforcing = (enforced: number, would: number) =>
      state({applied: [[1, T0 - 48 * HOUR], [2, T0]], tiers: {low: {mode: 'enforce', enforce_percent: 10, stats: {enforced_requests: 60, enforced_denial_rate: enforced, would_denial_rate: would}}}})
    expect(failing(evaluateStepGate(plan, step(3), enforcing(0.02, 0.2), plan.readiness))).toEqual([])
    const r = evaluateStepGate(plan, step(3), enforcing(0.05, 0.01), plan.readiness)
    expect(failing(r)).toEqual(['denial_rate'])
    expect(r.checks.find((c) => c.gate === 'denial_rate')!.actual).toBe('5.00 % enforced denials')
    expect(liveDenialRate(enforcing(0, 0.07).tiers.low)).toEqual({rate: 0, kind: 'enforced'})
  })

  it('R:C: 0.8 and 1.2 pass, just outside fails; no commits fails as unmeasurable', () => {
    for (const ok of [0.8, 1.2]) expect(failing(evaluateStepGate(plan, step(2), state({tiers: {low: {stats: {reserve_commit_ratio: ok}}}}), plan.readiness))).toEqual([])
    for (const bad of [0.79, 1.21]) expect(failing(evaluateStepGate(plan, step(2), state({tiers: {low: {stats: {reserve_commit_ratio: bad}}}}), plan.readiness))).toEqual(['reserve_commit_ratio'])
    const none = evaluateStepGate(plan, step(2), state({tiers: {low: {stats: {commits: 0, reserve_commit_ratio: 0, overage_rate: 0}}}}), plan.readiness)
    expect(failing(none)).toEqual(['reserve_commit_ratio', 'overage'])
    expect(none.checks.find((c) => c.gate === 'overage')!.actual).toBe('no commits to measure')
  })

  it('overage: under 1 % passes, exactly 1 % fails', () => {
    expect(failing(evaluateStepGate(plan, step(2), state({tiers: {low: {stats: {overage_rate: 0.0099}}}}), plan.readiness))).toEqual([])
    expect(failing(evaluateStepGate(plan, step(2), state({tiers: {low: {stats: {overage_rate: 0.01}}}}), plan.readiness))).toEqual(['overage'])
  })

  it('budgets ready comes from calibration: medium has an out-of-band budget and is blocked', () => {
    const applied: Array<[number, number]> = [[1, T0 - 96 * HOUR], [2, T0 - 72 * HOUR], [3, T0 - 48 * HOUR], [4, T0]]
    const s = state({applied, tiers: {low: {mode: 'enforce', enforce_percent: 100}}})
    const r = evaluateStepGate(plan, step(5), s, plan.readiness)
    expect(failing(r)).toEqual(['budgets_ready'])
    expect(r.checks.find((c) => c.gate === 'budgets_ready')!.actual).toBe('1 blocker(s): tenant:acme/agent:w (USD_MICROCENTS): too_tight')
    // A fresher calibration that finds medium ready lifts it.
    expect(failing(evaluateStepGate(plan, step(5), s, [{tier: 'medium', ready: true, budgets: 2, blockers: []}]))).toEqual([])
  })

  it('a tier rolled back after its step (guard or operator) stops the ramp; so does the kill switch', () => {
    const applied: Array<[number, number]> = [[1, T0 - 48 * HOUR], [2, T0]]
    const rolledBack = evaluateStepGate(plan, step(3), state({applied, tiers: {low: {mode: 'shadow', enforce_percent: 10}}}), plan.readiness)
    expect(failing(rolledBack)).toEqual(['tier_state'])
    expect(rolledBack.checks.find((c) => c.gate === 'tier_state')!.actual).toBe('low is shadow, step 2 set enforce 10 % (rolled back?)')
    const ks = evaluateStepGate(plan, step(3), state({applied, killswitch: true, tiers: {low: {mode: 'enforce', enforce_percent: 10}}}), plan.readiness)
    expect(failing(ks)).toEqual(['killswitch'])
  })

  const fresh = (scope: string, spent = 0): LedgerNow => ({scope, unit: 'USD_MICROCENTS', spent, reserved: 0, debt: 0})

  it('order: a step whose predecessors are not applied fails; limits steps check order, tier state and headroom', () => {
    const r = evaluateStepGate(plan, step(4), state({applied: [[1, T0]]}), plan.readiness, [fresh('tenant:acme/agent:w')])
    expect(failing(r)).toEqual(['order'])
    expect(r.checks.map((c) => c.gate)).toEqual(['order', 'tier_state', 'headroom'])
    expect(r.checks[0].actual).toBe('step(s) 2, 3 not applied')
    expect(evaluateStepGate(plan, step(1), state({applied: []}), plan.readiness, [fresh('tenant:acme')]).passed).toBe(true)
  })

  it('headroom: a new allocation must stay above what the budget already spent or holds (RESET keeps spent)', () => {
    const limits = step(1) as Extract<PlanStep, {kind: 'limits'}>
    expect(limits.budgets.map((b) => [b.scope, b.to])).toEqual([['tenant:acme', 200]])
    expect(headroomCheck(limits, [{scope: 'tenant:acme', unit: 'USD_MICROCENTS', spent: 150, reserved: 30, debt: 19}]).passed).toBe(true)
    const full = headroomCheck(limits, [{scope: 'tenant:acme', unit: 'USD_MICROCENTS', spent: 150, reserved: 30, debt: 20}])
    expect(full).toMatchObject({passed: false, actual: 'tenant:acme USD_MICROCENTS: new allocation 200 ≤ 200 already spent or held'})
    expect(headroomCheck(limits, []).actual).toBe('tenant:acme USD_MICROCENTS: no such budget')
    expect(failing(evaluateStepGate(plan, step(1), state({applied: []}), plan.readiness, [fresh('tenant:acme', 250)]))).toEqual(['headroom'])
  })

  it('next step and window start follow the applied steps of this plan only', () => {
    const s = state({applied: [[1, T0], [2, T0 + HOUR]]})
    expect(nextStep(plan, s)!.step).toBe(3)
    expect(windowStart(plan, s, step(3))).toBe(T0 + HOUR)
    expect(windowStart(plan, s, step(5))).toBe(T0 + HOUR)
    const other = {...s, applied_steps: s.applied_steps.map((a) => ({...a, plan_id: 'rp_other'}))}
    expect(nextStep(plan, other)!.step).toBe(1)
    expect(windowStart(plan, other, step(1))).toBeNull()
    expect(nextStep(plan, state({applied: plan.steps.map((x) => [x.step, T0] as [number, number])}))).toBeUndefined()
  })
})
