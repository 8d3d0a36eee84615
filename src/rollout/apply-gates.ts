// The gate of one rollout step, evaluated from the plan, the tier readiness (calibration verdicts)
// and the daemon's rollout state (`GET /v1/admin/rollout?since_ms=…`). Pure: the same inputs give
// the same checks, each with the figure it saw and the bound it needed (shadow-analytics.md §1.3,
// the cutover scorecard; §2.5, the ramp).
import {pct} from '../analytics/bands.js'
import type {Tier} from '../protocol/types.js'
import type {PlanStep, RolloutPlan, TierReadiness} from './plan.js'
import {formatDuration} from './plan-yaml.js'

/** The part of the daemon's rollout state a gate reads (RolloutWire in src/client/rollout-client.ts). */
export interface RolloutState {
  now_ms: number
  killswitch: {engaged: boolean; reason?: string}
  applied_steps: Array<{plan_id: string; step: number; at_ms: number}>
  tiers: Record<
    Tier,
    {
      mode: 'shadow' | 'enforce'
      enforce_percent: number
      stats: {
        since_ms: number
        requests: number
        enforced_requests: number
        enforced_denials: number
        enforced_denial_rate: number
        would_denial_rate: number
        commits: number
        reserve_commit_ratio: number
        overage_rate: number
      }
    }
  >
}

export type GateName = 'order' | 'killswitch' | 'tier_state' | 'headroom' | 'budgets_ready' | 'dwell' | 'min_requests' | 'denial_rate' | 'reserve_commit_ratio' | 'overage'

export interface GateCheck {
  gate: GateName
  passed: boolean
  /** What was measured, in words with the figure. */
  actual: string
  /** What the gate needs. */
  required: string
}

export interface StepGateResult {
  step: number
  tier: Tier
  passed: boolean
  checks: GateCheck[]
  /** The start of the window the live figures should cover (the previous step's time). */
  since_ms: number | null
  /** What the daemon's figures actually cover from (later when the instance started after the previous step). */
  figures_since_ms?: number
}

/** The tier's mode and percent each applied step of this plan left it in. */
function expectedTierState(plan: RolloutPlan, applied: Set<number>, tier: Tier): {mode: 'shadow' | 'enforce'; percent: number; step: number} | undefined {
  let out: {mode: 'shadow' | 'enforce'; percent: number; step: number} | undefined
  for (const s of plan.steps) if (applied.has(s.step) && s.tier === tier && s.kind === 'enforce') out = {mode: 'enforce', percent: s.enforce_percent, step: s.step}
  return out
}

/** Applied steps of this plan, by step number. */
export function appliedOf(plan: RolloutPlan, state: Pick<RolloutState, 'applied_steps'>): Map<number, number> {
  const out = new Map<number, number>()
  for (const s of state.applied_steps) if (s.plan_id === plan.plan_id) out.set(s.step, s.at_ms)
  return out
}

/** The first step not applied yet (undefined: the plan is complete). */
export function nextStep(plan: RolloutPlan, state: Pick<RolloutState, 'applied_steps'>): PlanStep | undefined {
  const applied = appliedOf(plan, state)
  return plan.steps.find((s) => !applied.has(s.step))
}

/** When the step's figures start: the previous step's time, else the latest applied step of the plan. */
export function windowStart(plan: RolloutPlan, state: Pick<RolloutState, 'applied_steps'>, step: PlanStep): number | null {
  const applied = appliedOf(plan, state)
  const prev = applied.get(step.step - 1)
  if (prev !== undefined) return prev
  const earlier = [...applied].filter(([n]) => n < step.step).map(([, at]) => at)
  return earlier.length > 0 ? Math.max(...earlier) : null
}

/** The live denial rate of a tier: its enforced decisions when some were enforced, else what shadow would have denied. */
export function liveDenialRate(t: RolloutState['tiers'][Tier]): {rate: number; kind: 'enforced' | 'would-be'} {
  return t.mode === 'enforce' && t.stats.enforced_requests > 0 ? {rate: t.stats.enforced_denial_rate, kind: 'enforced'} : {rate: t.stats.would_denial_rate, kind: 'would-be'}
}

/** A budget's counters as the admin API reports them (the real book). */
export interface LedgerNow {
  scope: string
  unit: string
  spent: number
  reserved: number
  debt: number
}

/**
 * A calibrated limit is an allocation for a period; RESET keeps what was spent. A new allocation at
 * or below what the budget already holds (spent + reserved + debt) would exhaust it at once.
 */
export function headroomCheck(step: Extract<PlanStep, {kind: 'limits'}>, ledgers: LedgerNow[]): GateCheck {
  const short: string[] = []
  for (const b of step.budgets) {
    const l = ledgers.find((x) => x.scope === b.scope && x.unit === b.unit)
    if (!l) {
      short.push(`${b.scope} ${b.unit}: no such budget`)
      continue
    }
    const held = l.spent + l.reserved + l.debt
    if (b.to <= held) short.push(`${b.scope} ${b.unit}: new allocation ${b.to.toLocaleString('en-US')} ≤ ${held.toLocaleString('en-US')} already spent or held`)
  }
  return {
    gate: 'headroom',
    passed: short.length === 0,
    actual: short.length === 0 ? `${step.budgets.length} budget(s) keep headroom` : short.join('; '),
    required: 'new allocation > spent + reserved + debt (RESET keeps spent; reset spent at a period start first)',
  }
}

export function evaluateStepGate(plan: RolloutPlan, step: PlanStep, state: RolloutState, readiness: TierReadiness[], ledgers: LedgerNow[] = []): StepGateResult {
  const checks: GateCheck[] = []
  const applied = appliedOf(plan, state)
  const appliedSet = new Set(applied.keys())
  const missing = plan.steps.filter((s) => s.step < step.step && !applied.has(s.step)).map((s) => s.step)
  checks.push({
    gate: 'order',
    passed: missing.length === 0,
    actual: missing.length === 0 ? (step.step === 1 ? 'first step' : `steps 1–${step.step - 1} applied`) : `step(s) ${missing.join(', ')} not applied`,
    required: 'every earlier step applied',
  })
  // A tier the plan moved must still be where the plan left it: a guard trip or a manual rollback stops the ramp.
  const moved: string[] = []
  for (const tier of plan.tiers) {
    const want = expectedTierState(plan, appliedSet, tier)
    const have = state.tiers[tier]
    if (want && (have.mode !== want.mode || have.enforce_percent !== want.percent)) moved.push(`${tier} is ${have.mode}${have.mode === 'enforce' ? ` ${have.enforce_percent} %` : ''}, step ${want.step} set enforce ${want.percent} %`)
  }
  checks.push({gate: 'tier_state', passed: moved.length === 0, actual: moved.length === 0 ? 'every tier where the plan left it' : `${moved.join('; ')} (rolled back?)`, required: 'tiers as the applied steps left them'})
  const since = windowStart(plan, state, step)
  if (step.kind === 'limits') {
    checks.push(headroomCheck(step, ledgers))
    return {step: step.step, tier: step.tier, passed: checks.every((c) => c.passed), checks, since_ms: since}
  }

  const g = step.gate
  const t = state.tiers[step.tier]
  const s = t.stats
  checks.push({
    gate: 'killswitch',
    passed: !state.killswitch.engaged,
    actual: state.killswitch.engaged ? `engaged${state.killswitch.reason ? ` (${state.killswitch.reason})` : ''}` : 'released',
    required: 'released',
  })
  if (g.budgets_ready) {
    const r = readiness.find((x) => x.tier === step.tier)
    const ready = r === undefined || r.ready
    checks.push({
      gate: 'budgets_ready',
      passed: ready,
      actual: r === undefined ? 'no budget carries this tier\'s traffic' : r.ready ? `${r.budgets} budget(s) ready` : `${r.blockers.length} blocker(s): ${r.blockers.slice(0, 3).join('; ')}${r.blockers.length > 3 ? '; …' : ''}`,
      required: 'every budget the tier touches ready (calibration)',
    })
  }
  const waited = since === null ? null : state.now_ms - since
  checks.push({
    gate: 'dwell',
    passed: waited === null || waited >= g.min_wait_ms,
    actual: waited === null ? 'no earlier step' : `${formatDuration(Math.max(0, Math.floor(waited / 1000)) * 1000)} since step ${step.step - 1}`,
    required: `≥ ${formatDuration(g.min_wait_ms)}`,
  })
  checks.push({gate: 'min_requests', passed: s.requests >= g.min_requests, actual: `${s.requests} request(s)`, required: `≥ ${g.min_requests}`})
  const live = liveDenialRate(t)
  checks.push({
    gate: 'denial_rate',
    passed: live.rate >= g.denial_rate.min && live.rate <= g.denial_rate.max,
    actual: `${pct(live.rate, 2)} ${live.kind} denials`,
    required: `${pct(g.denial_rate.min, 2)}–${pct(g.denial_rate.max, 2)}`,
  })
  const rc = g.reserve_commit_ratio
  checks.push({
    gate: 'reserve_commit_ratio',
    passed: s.commits > 0 && s.reserve_commit_ratio >= rc.min && s.reserve_commit_ratio <= rc.max,
    actual: s.commits > 0 ? `${s.reserve_commit_ratio.toFixed(2)} over ${s.commits} commit(s)` : 'no commits to measure',
    required: `${rc.min}–${rc.max}`,
  })
  checks.push({
    gate: 'overage',
    passed: s.commits > 0 && s.overage_rate < g.overage_rate_below,
    actual: s.commits > 0 ? `${pct(s.overage_rate, 2)} of commits over their estimate` : 'no commits to measure',
    required: `< ${pct(g.overage_rate_below, 2)}`,
  })
  return {step: step.step, tier: step.tier, passed: checks.every((c) => c.passed), checks, since_ms: since, figures_since_ms: s.since_ms}
}
