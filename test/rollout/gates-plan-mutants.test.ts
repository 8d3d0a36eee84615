// The rollout gate checks (src/rollout/apply-gates.ts) and the plan builder (src/rollout/plan.ts) at
// their edges: every check's exact figure and bound, the window start of an applied step, option
// validation with its messages, and which budgets get a limit (issue 17 survivors).
import {describe, expect, it} from 'vitest'

import {type RolloutState, evaluateStepGate, headroomCheck, liveDenialRate, windowStart} from '../../src/rollout/apply-gates.js'
import {type CalibrationInput, type PlanStep, type RolloutPlan, buildPlan, checkPlanOptions, previousStep, readinessAfterLimits, verdictAfterLimits} from '../../src/rollout/plan.js'

const HOUR = 3_600_000
const T0 = Date.parse('2026-11-20T00:00:00.000Z')
const U = 'USD_MICROCENTS'

type Row = CalibrationInput['budgets'][number]
const row = (over: Partial<Row> & Pick<Row, 'scope'>): Row => ({unit: U, tiers: ['low'], requests: 500, current_allocated: 100, suggested_allocated: 200, suggested_denial_rate: 0.02, status: 'calibrated', verdict: 'too_tight', ...over})
const cal = (budgets: Row[]): CalibrationInput => ({window: {from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z', days: 7}, target: 0.02, band: [0.01, 0.03], budgets})

// Steps: 1 limits(low) 2 low@10 3 low@100 4 limits(medium) 5 medium@10 6 medium@100
const plan = buildPlan(cal([row({scope: 'tenant:acme', tiers: ['low', 'medium'], verdict: 'ready'}), row({scope: 'tenant:acme/agent:w', tiers: ['medium'], current_allocated: 50, suggested_allocated: 60})]), {
  tiers: ['low', 'medium'],
  ramp: [10, 100],
  dwellMs: 24 * HOUR,
  minRequests: 100,
})
const step = (n: number): PlanStep => plan.steps[n - 1]

type Stats = RolloutState['tiers']['low']['stats']
type TierOver = {mode?: 'shadow' | 'enforce'; enforce_percent?: number; stats?: Partial<Stats>}
function state(over: {applied?: Array<[number, number]>; low?: TierOver; now?: number; killswitch?: RolloutState['killswitch']} = {}): RolloutState {
  const tier = (o: TierOver = {}) => ({
    mode: o.mode ?? 'shadow',
    enforce_percent: o.enforce_percent ?? 100,
    stats: {since_ms: T0 + 7, requests: 500, enforced_requests: 0, enforced_denials: 0, enforced_denial_rate: 0, would_denial_rate: 0.02, commits: 400, reserve_commit_ratio: 1.05, overage_rate: 0.004, ...o.stats},
  })
  return {
    now_ms: over.now ?? T0 + 25 * HOUR,
    killswitch: over.killswitch ?? {engaged: false},
    applied_steps: (over.applied ?? [[1, T0]]).map(([s, at]) => ({plan_id: plan.plan_id, step: s, at_ms: at})),
    tiers: {low: tier(over.low), medium: tier(), high: tier()},
  }
}
const check = (r: ReturnType<typeof evaluateStepGate>, gate: string) => r.checks.find((c) => c.gate === gate)

describe('evaluateStepGate: each check\'s figure and bound', () => {
  it('a healthy step 2 reports every figure it saw', () => {
    const r = evaluateStepGate(plan, step(2), state(), plan.readiness)
    expect(r).toEqual({
      step: 2,
      tier: 'low',
      passed: true,
      since_ms: T0,
      figures_since_ms: T0 + 7,
      checks: [
        {gate: 'order', passed: true, actual: 'steps 1–1 applied', required: 'every earlier step applied'},
        {gate: 'tier_state', passed: true, actual: 'every tier where the plan left it', required: 'tiers as the applied steps left them'},
        {gate: 'killswitch', passed: true, actual: 'released', required: 'released'},
        {gate: 'budgets_ready', passed: true, actual: '1 budget(s) ready', required: 'every budget the tier touches ready (calibration)'},
        {gate: 'dwell', passed: true, actual: '25h since step 1', required: '≥ 1d'},
        {gate: 'min_requests', passed: true, actual: '500 request(s)', required: '≥ 100'},
        {gate: 'denial_rate', passed: true, actual: '2.00 % would-be denials', required: '0.00 %–3.00 %'},
        {gate: 'reserve_commit_ratio', passed: true, actual: '1.05 over 400 commit(s)', required: '0.8–1.2'},
        {gate: 'overage', passed: true, actual: '0.40 % of commits over their estimate', required: '< 1.00 %'},
      ],
    })
  })

  it('the first step of a plan without limits: no earlier step to wait for', () => {
    const bare = buildPlan(cal([row({scope: 'tenant:acme', verdict: 'ready', suggested_allocated: 100})]), {tiers: ['low'], ramp: [100]})
    expect(bare.steps.map((s) => s.kind)).toEqual(['enforce'])
    const r = evaluateStepGate(bare, bare.steps[0], {...state({applied: []}), applied_steps: []}, bare.readiness)
    expect(r.passed).toBe(true)
    expect(r.since_ms).toBeNull()
    expect(check(r, 'order')!.actual).toBe('first step')
    expect(check(r, 'dwell')).toMatchObject({passed: true, actual: 'no earlier step'})
  })

  it('a limits step that fails its order does not pass, whatever its headroom', () => {
    const r = evaluateStepGate(plan, step(4), state({applied: [[1, T0]]}), plan.readiness, [{scope: 'tenant:acme/agent:w', unit: U, spent: 0, reserved: 0, debt: 0}])
    expect(r).toMatchObject({step: 4, tier: 'medium', passed: false, since_ms: T0})
    expect(r.checks.map((c) => [c.gate, c.passed])).toEqual([['order', false], ['tier_state', true], ['headroom', true]])
    expect(r.checks[2].actual).toBe('1 budget(s) keep headroom')
  })

  it('tier state: the same mode at another percent is moved too', () => {
    const r = evaluateStepGate(plan, step(3), state({applied: [[1, T0 - 48 * HOUR], [2, T0]], low: {mode: 'enforce', enforce_percent: 50}}), plan.readiness)
    expect(check(r, 'tier_state')).toMatchObject({passed: false, actual: 'low is enforce 50 %, step 2 set enforce 10 % (rolled back?)'})
  })

  it('the kill switch shows its reason', () => {
    const applied: Array<[number, number]> = [[1, T0 - 48 * HOUR], [2, T0]]
    const low = {mode: 'enforce' as const, enforce_percent: 10}
    expect(check(evaluateStepGate(plan, step(3), state({applied, low, killswitch: {engaged: true, reason: 'incident 42'}}), plan.readiness), 'killswitch')).toMatchObject({passed: false, actual: 'engaged (incident 42)'})
    expect(check(evaluateStepGate(plan, step(3), state({applied, low, killswitch: {engaged: true}}), plan.readiness), 'killswitch')!.actual).toBe('engaged')
  })

  it('budgets ready: a tier no budget touches passes; more than 3 blockers are cut; a gate without it skips the check', () => {
    const none = evaluateStepGate(plan, step(2), state(), [])
    expect(check(none, 'budgets_ready')).toMatchObject({passed: true, actual: "no budget carries this tier's traffic"})
    const blockers = ['a: warm', 'b: warm', 'c: estimates', 'd: too_tight']
    const many = evaluateStepGate(plan, step(2), state(), [{tier: 'low', ready: false, budgets: 4, blockers}])
    expect(check(many, 'budgets_ready')).toMatchObject({passed: false, actual: '4 blocker(s): a: warm; b: warm; c: estimates; …'})
    expect(check(evaluateStepGate(plan, step(2), state(), [{tier: 'low', ready: false, budgets: 3, blockers: blockers.slice(0, 3)}]), 'budgets_ready')!.actual).toBe('3 blocker(s): a: warm; b: warm; c: estimates')
    const lax = structuredClone(step(2)) as Extract<PlanStep, {kind: 'enforce'}>
    lax.gate.budgets_ready = false
    expect(evaluateStepGate(plan, lax, state(), [{tier: 'low', ready: false, budgets: 4, blockers}]).checks.map((c) => c.gate)).not.toContain('budgets_ready')
  })

  it('dwell: a clock behind the previous step shows 0 s and fails', () => {
    expect(check(evaluateStepGate(plan, step(2), state({now: T0 - 5000}), plan.readiness), 'dwell')).toMatchObject({passed: false, actual: '0s since step 1'})
  })

  it('denial rate: a raised lower bound binds at exactly its value', () => {
    const strict = structuredClone(step(2)) as Extract<PlanStep, {kind: 'enforce'}>
    strict.gate.denial_rate.min = 0.01
    expect(check(evaluateStepGate(plan, strict, state({low: {stats: {would_denial_rate: 0.01}}}), plan.readiness), 'denial_rate')).toMatchObject({passed: true, required: '1.00 %–3.00 %'})
    expect(check(evaluateStepGate(plan, strict, state({low: {stats: {would_denial_rate: 0.0099}}}), plan.readiness), 'denial_rate')!.passed).toBe(false)
  })

  it('R:C needs commits even when the ratio field looks fine', () => {
    const r = evaluateStepGate(plan, step(2), state({low: {stats: {commits: 0, reserve_commit_ratio: 1, overage_rate: 0}}}), plan.readiness)
    expect(check(r, 'reserve_commit_ratio')).toMatchObject({passed: false, actual: 'no commits to measure'})
    expect(check(r, 'overage')!.passed).toBe(false)
  })

  it('a tier in enforce with no enforced decision yet is judged by its would-be rate', () => {
    expect(liveDenialRate(state({low: {mode: 'enforce', stats: {enforced_requests: 0, enforced_denial_rate: 0.5, would_denial_rate: 0.07}}}).tiers.low)).toEqual({rate: 0.07, kind: 'would-be'})
  })
})

describe('window start and headroom', () => {
  it('an applied step\'s window starts at its predecessor, not at itself or a later step', () => {
    const s = state({applied: [[1, T0], [2, T0 + HOUR], [3, T0 + 2 * HOUR]]})
    expect(windowStart(plan, s, step(2))).toBe(T0)
    expect(windowStart(plan, state({applied: [[2, T0 + HOUR]]}), step(2))).toBeNull()
  })

  it('headroom reads the ledger of the same scope and unit', () => {
    const limits = step(1) as Extract<PlanStep, {kind: 'limits'}>
    const ledgers = [
      {scope: 'tenant:acme', unit: 'TOKENS', spent: 5000, reserved: 0, debt: 0},
      {scope: 'tenant:other', unit: U, spent: 5000, reserved: 0, debt: 0},
      {scope: 'tenant:acme', unit: U, spent: 10, reserved: 0, debt: 0},
    ]
    expect(headroomCheck(limits, ledgers)).toMatchObject({passed: true, actual: '1 budget(s) keep headroom'})
  })
})

describe('plan options and limits', () => {
  it('refuses each bad option with its message, accepts the edges', () => {
    expect(() => checkPlanOptions({tiers: []})).toThrow('--tiers: give at least one tier')
    expect(() => checkPlanOptions({tiers: ['low', 'urgent' as 'low']})).toThrow("--tiers: unknown tier 'urgent'; tiers are low, medium, high")
    expect(() => checkPlanOptions({tiers: ['medium', 'low']})).toThrow('--tiers: list tiers once each, lowest risk first (low → medium → high); got medium,low')
    expect(() => checkPlanOptions({tiers: ['high']})).not.toThrow()
    for (const ramp of [[], [10.5, 100], [0, 100], [101]]) expect(() => checkPlanOptions({ramp})).toThrow('--ramp: expected whole percentages from 1 to 100, e.g. 10,50,100')
    expect(() => checkPlanOptions({ramp: [1, 100]})).not.toThrow()
    expect(() => checkPlanOptions({ramp: [50, 50, 100]})).toThrow('--ramp: percentages must rise; got 50,50,100')
    expect(() => checkPlanOptions({ramp: [10, 50]})).toThrow('--ramp: the last step must be 100 (full enforcement); got 10,50')
    for (const dwellMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => checkPlanOptions({dwellMs})).toThrow('--dwell: expected a duration ≥ 0')
    expect(() => checkPlanOptions({dwellMs: 0})).not.toThrow()
  })

  it('a limit only for a calibrated budget with a suggestion; readiness keeps the verdict otherwise', () => {
    const budgets = [
      row({scope: 'a', status: 'calibrated', suggested_allocated: null}),
      row({scope: 'b', status: 'config_error', suggested_allocated: 500}),
      row({scope: 'c', status: 'calibrated', suggested_denial_rate: null}),
      row({scope: 'd', status: 'calibrated'}),
    ]
    const p = buildPlan(cal(budgets), {tiers: ['low']})
    expect(p.steps[0]).toEqual({step: 1, kind: 'limits', tier: 'low', budgets: [{scope: 'c', unit: U, from: 100, to: 200, replayed_denial_rate: null, verdict: 'too_tight'}, {scope: 'd', unit: U, from: 100, to: 200, replayed_denial_rate: 0.02, verdict: 'too_tight'}]})
    expect(budgets.map((b) => verdictAfterLimits(b, [0.01, 0.03]))).toEqual(['too_tight', 'too_tight', 'too_tight', 'ready'])
    // no replayed rate is not in band, even one starting at 0
    expect(verdictAfterLimits(budgets[2], [0, 0.03])).toBe('too_tight')
    expect(readinessAfterLimits(cal(budgets))).toEqual([{tier: 'low', ready: false, budgets: 4, blockers: ['a (USD_MICROCENTS): too_tight', 'b (USD_MICROCENTS): too_tight', 'c (USD_MICROCENTS): too_tight']}])
  })

  it('budgets of one scope are ordered by unit; defaults apply when options are not given', () => {
    const p: RolloutPlan = buildPlan(cal([row({scope: 'tenant:a', unit: 'TOKENS'}), row({scope: 'tenant:a', unit: 'CREDITS'})]))
    const first = p.steps[0]
    expect(first.kind === 'limits' && first.budgets.map((b) => b.unit)).toEqual(['CREDITS', 'TOKENS'])
    expect(p).toMatchObject({tiers: ['low', 'medium', 'high'], ramp: [10, 50, 100], dwell_ms: 86_400_000})
    expect(p.steps.map((s) => (s.kind === 'enforce' ? s.gate.min_requests : 'limits'))).toEqual(['limits', ...Array.from({length: 9}, () => 100)])
  })

  it('previousStep is the step numbered one less', () => {
    expect(previousStep(plan, 3)?.step).toBe(2)
    expect(previousStep(plan, 1)).toBeUndefined()
  })
})

// Survivors of the full mutation run of 2026-11-28 in plan.ts, killed here (pure, no fleet).
describe('plan: boundaries the full mutation run found unpinned', () => {
  it('a tier listed twice is refused (risk order is strict)', () => {
    expect(() => checkPlanOptions({tiers: ['low', 'low']})).toThrow('--tiers: list tiers once each')
    expect(() => checkPlanOptions({ramp: [50, 50, 100]})).toThrow('--ramp: percentages must rise')
  })
  it('a suggestion lands in the band at both edges inclusive; outside it the verdict stays; a non-limit verdict never becomes ready', () => {
    const at = (rate: number, verdict: Row['verdict'] = 'too_tight') => verdictAfterLimits(row({scope: 'tenant:a', suggested_denial_rate: rate, verdict}), [0.01, 0.03])
    expect([at(0.01), at(0.03), at(0.0099), at(0.0301), at(0.02)]).toEqual(['ready', 'ready', 'too_tight', 'too_tight', 'ready'])
    expect(at(0.02, 'estimates')).toBe('estimates')
  })
  it('every enforce step gates on budgets being ready; the id is rp_ and 16 hex', () => {
    const p = buildPlan(cal([row({scope: 'tenant:acme'})]), {tiers: ['low'], ramp: [100]})
    expect(p.steps.filter((s) => s.kind === 'enforce').map((s) => s.gate!.budgets_ready)).toEqual([true])
    expect(p.plan_id).toMatch(/^rp_[0-9a-f]{16}$/)
  })
  it('a budget shared by two tiers gets its limit in the first only; a budget of a later tier waits for it; readiness lists only the plan\'s tiers', () => {
    const p = buildPlan(cal([row({scope: 'tenant:acme', tiers: ['low', 'medium']}), row({scope: 'tenant:acme/agent:m', tiers: ['medium']})]), {tiers: ['low', 'medium'], ramp: [100]})
    const limits = p.steps.filter((s) => s.kind === 'limits').map((s) => [s.tier, s.budgets!.map((b) => b.scope)])
    expect(limits).toEqual([
      ['low', ['tenant:acme']],
      ['medium', ['tenant:acme/agent:m']],
    ])
    const lowOnly = buildPlan(cal([row({scope: 'tenant:acme', tiers: ['low', 'medium']})]), {tiers: ['low'], ramp: [100]})
    expect(lowOnly.readiness.map((r) => r.tier)).toEqual(['low'])
  })
})

describe('a gate passes only when every check passes', () => {
  it('one failing check (the kill switch) fails the whole gate; the others still pass', () => {
    const r = evaluateStepGate(plan, step(2), state({killswitch: {engaged: true, reason: 'incident'}}), plan.readiness)
    expect(r.checks.filter((c) => !c.passed).map((c) => c.gate)).toEqual(['killswitch'])
    expect(r.passed).toBe(false)
  })
  it('the live denial rate is the enforced one only when the tier enforces and has enforced requests', () => {
    const t = state({low: {mode: 'enforce', stats: {enforced_requests: 0, enforced_denial_rate: 0.5, would_denial_rate: 0.02}}}).tiers.low
    expect(liveDenialRate(t)).toEqual({rate: 0.02, kind: 'would-be'})
    const s = state({low: {mode: 'shadow', stats: {enforced_requests: 10, enforced_denial_rate: 0.5, would_denial_rate: 0.02}}}).tiers.low
    expect(liveDenialRate(s)).toEqual({rate: 0.02, kind: 'would-be'})
    const e = state({low: {mode: 'enforce', stats: {enforced_requests: 10, enforced_denial_rate: 0.5, would_denial_rate: 0.02}}}).tiers.low
    expect(liveDenialRate(e)).toEqual({rate: 0.5, kind: 'enforced'})
  })
})
