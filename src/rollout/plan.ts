// `cycles rollout plan`: the calibration JSON (issue 10's contract) → an ordered rollout plan. Pure:
// the same calibration and options give the same plan and the same plan_id (a hash of the content).
//
// Order (shadow-analytics.md §1.4, §2.5): for each tier low → medium → high, first the calibrated
// limits of the budgets that tier's traffic touches (each budget once, before the first tier that
// touches it), then the tier through the ramp percentages. Every enforce step carries its gate (the
// cutover scorecard, §1.3) and the minimum time since the previous step.
import {z} from 'zod'

import {canonicalJson, sha256Hex} from '../protocol/canonical-json.js'
import {TIERS, type Tier} from '../protocol/types.js'
import {type Verdict, tierReadiness} from '../calibration/verdict.js'

/** The calibration JSON fields a plan reads (more keys are fine). */
export const calibrationInput = z.looseObject({
  window: z.looseObject({from: z.string().nullable(), to: z.string().nullable(), days: z.number()}),
  target: z.number(),
  band: z.tuple([z.number(), z.number()]),
  min_requests: z.number().optional(),
  budgets: z.array(
    z.looseObject({
      scope: z.string(),
      unit: z.string(),
      tiers: z.array(z.enum(TIERS as [Tier, ...Tier[]])),
      requests: z.number(),
      current_allocated: z.number().nullable(),
      suggested_allocated: z.number().nullable(),
      suggested_denial_rate: z.number().nullable(),
      status: z.string(),
      // A verdict this version does not know (a newer calibrate) is kept and counts as not ready.
      verdict: z.string().transform((v) => v as Verdict),
    }),
  ),
})
export type CalibrationInput = z.infer<typeof calibrationInput>
type CalibrationBudget = CalibrationInput['budgets'][number]

export interface StepGate {
  /** Every budget the tier's traffic touches is ready (calibration verdicts, once this plan's limits are in). */
  budgets_ready: boolean
  /** The tier's live denial rate since the previous step must lie in [min, max]. */
  denial_rate: {min: number; max: number}
  reserve_commit_ratio: {min: number; max: number}
  /** Commit overage must stay below this share of commits. */
  overage_rate_below: number
  /** At least this many requests of the tier since the previous step. */
  min_requests: number
  /** Minimum time since the previous step, ms. */
  min_wait_ms: number
}

export interface LimitChange {
  scope: string
  unit: string
  from: number | null
  to: number
  /** The joint replay's denial rate with every suggestion applied. */
  replayed_denial_rate: number | null
  verdict: Verdict
}

export type PlanStep =
  | {step: number; kind: 'limits'; tier: Tier; budgets: LimitChange[]}
  | {step: number; kind: 'enforce'; tier: Tier; enforce_percent: number; gate: StepGate}

export interface TierReadiness {
  tier: Tier
  ready: boolean
  budgets: number
  blockers: string[]
}

export interface RolloutPlan {
  plan_version: 1
  plan_id: string
  calibration: {window: {from: string | null; to: string | null; days: number}; target: number; band: [number, number]}
  tiers: Tier[]
  ramp: number[]
  dwell_ms: number
  readiness: TierReadiness[]
  steps: PlanStep[]
}

export interface PlanOptions {
  tiers?: Tier[]
  ramp?: number[]
  dwellMs?: number
  minRequests?: number
}

export const PLAN_DEFAULTS = {tiers: [...TIERS] as Tier[], ramp: [10, 50, 100], dwellMs: 24 * 3_600_000, minRequests: 100}

/** R:C target band and overage ceiling of the cutover scorecard (shadow-analytics.md §1.3). */
export const SCORECARD = {reserveCommit: {min: 0.8, max: 1.2}, overageBelow: 0.01}

const LIMIT_VERDICTS = new Set<Verdict>(['too_tight', 'warm', 'decorative', 'loose', 'ready'])

export class PlanInputError extends Error {}

/** Check --tiers/--ramp: known tiers in risk order without repeats; percentages rising within 1–100 and ending at 100. */
export function checkPlanOptions(o: PlanOptions): void {
  const tiers = o.tiers ?? PLAN_DEFAULTS.tiers
  if (tiers.length === 0) throw new PlanInputError('--tiers: give at least one tier')
  for (const t of tiers) if (!TIERS.includes(t)) throw new PlanInputError(`--tiers: unknown tier '${t}'; tiers are ${TIERS.join(', ')}`)
  const order = tiers.map((t) => TIERS.indexOf(t))
  if (order.some((x, i) => i > 0 && x <= order[i - 1])) throw new PlanInputError(`--tiers: list tiers once each, lowest risk first (${TIERS.join(' → ')}); got ${tiers.join(',')}`)
  const ramp = o.ramp ?? PLAN_DEFAULTS.ramp
  if (ramp.length === 0 || ramp.some((p) => !Number.isInteger(p) || p < 1 || p > 100)) throw new PlanInputError('--ramp: expected whole percentages from 1 to 100, e.g. 10,50,100')
  if (ramp.some((p, i) => i > 0 && p <= ramp[i - 1])) throw new PlanInputError(`--ramp: percentages must rise; got ${ramp.join(',')}`)
  if (ramp.at(-1) !== 100) throw new PlanInputError(`--ramp: the last step must be 100 (full enforcement); got ${ramp.join(',')}`)
  if (o.dwellMs !== undefined && (!Number.isFinite(o.dwellMs) || o.dwellMs < 0)) throw new PlanInputError('--dwell: expected a duration ≥ 0')
}

/**
 * A budget's verdict once the plan's calibrated limit is in: a limit verdict (or ready) whose
 * replayed rate with the suggestion lands in the calibration band counts as ready; a suggestion
 * outside the band keeps the verdict. Configuration errors, missing data and wrong estimates
 * stay what calibration said — the plan never applies a limit to them.
 */
export function verdictAfterLimits(b: CalibrationBudget, band: [number, number]): Verdict {
  if (!LIMIT_VERDICTS.has(b.verdict)) return b.verdict
  if (b.status !== 'calibrated' || b.suggested_allocated === null || b.suggested_denial_rate === null) return b.verdict
  const r = b.suggested_denial_rate
  return r >= band[0] && r <= band[1] ? 'ready' : b.verdict
}

/** The limit this plan sets for a budget, when it sets one. */
function limitChange(b: CalibrationBudget): LimitChange | undefined {
  if (b.status !== 'calibrated' || b.suggested_allocated === null || !LIMIT_VERDICTS.has(b.verdict)) return undefined
  if (b.current_allocated === b.suggested_allocated) return undefined
  return {scope: b.scope, unit: b.unit, from: b.current_allocated, to: b.suggested_allocated, replayed_denial_rate: b.suggested_denial_rate, verdict: b.verdict}
}

/** Per tier, from the calibration verdicts with this plan's limits in (the one verdict engine's tier rule). */
export function readinessAfterLimits(cal: CalibrationInput): TierReadiness[] {
  const rows = cal.budgets.map((b) => ({scope: b.scope, unit: b.unit, tiers: b.tiers, verdict: verdictAfterLimits(b, cal.band)}))
  return tierReadiness(rows).map(({tier, ready, budgets, blockers}) => ({tier, ready, budgets, blockers}))
}

/**
 * Per tier, from a calibration of the limits in force (`rollout apply --calibration`): the verdicts as
 * they are. An enforce step comes after its tier's limits step, so the limits it judges are live.
 */
export function readinessAsIs(cal: CalibrationInput): TierReadiness[] {
  return tierReadiness(cal.budgets.map((b) => ({scope: b.scope, unit: b.unit, tiers: b.tiers, verdict: b.verdict}))).map(({tier, ready, budgets, blockers}) => ({tier, ready, budgets, blockers}))
}

export function buildPlan(cal: CalibrationInput, options: PlanOptions = {}): RolloutPlan {
  checkPlanOptions(options)
  const tiers = options.tiers ?? PLAN_DEFAULTS.tiers
  const ramp = options.ramp ?? PLAN_DEFAULTS.ramp
  const dwellMs = options.dwellMs ?? PLAN_DEFAULTS.dwellMs
  const gate: StepGate = {
    budgets_ready: true,
    // A quiet day is not a failure: budget denials cluster late in a period, so only the top of the band binds by default.
    denial_rate: {min: 0, max: cal.band[1]},
    reserve_commit_ratio: {...SCORECARD.reserveCommit},
    overage_rate_below: SCORECARD.overageBelow,
    min_requests: options.minRequests ?? PLAN_DEFAULTS.minRequests,
    min_wait_ms: dwellMs,
  }
  const steps: PlanStep[] = []
  const applied = new Set<string>()
  const key = (b: {scope: string; unit: string}) => `${b.scope}\u0000${b.unit}`
  const sorted = [...cal.budgets].sort((x, y) => x.scope.localeCompare(y.scope) || x.unit.localeCompare(y.unit))
  for (const tier of tiers) {
    const changes: LimitChange[] = []
    for (const b of sorted) {
      if (!b.tiers.includes(tier) || applied.has(key(b))) continue
      applied.add(key(b))
      const change = limitChange(b)
      if (change) changes.push(change)
    }
    if (changes.length > 0) steps.push({step: steps.length + 1, kind: 'limits', tier, budgets: changes})
    for (const percent of ramp) steps.push({step: steps.length + 1, kind: 'enforce', tier, enforce_percent: percent, gate: {...gate, denial_rate: {...gate.denial_rate}, reserve_commit_ratio: {...gate.reserve_commit_ratio}}})
  }
  const body: Omit<RolloutPlan, 'plan_id'> = {
    plan_version: 1,
    calibration: {window: {from: cal.window.from, to: cal.window.to, days: cal.window.days}, target: cal.target, band: [cal.band[0], cal.band[1]]},
    tiers: [...tiers],
    ramp: [...ramp],
    dwell_ms: dwellMs,
    readiness: readinessAfterLimits(cal).filter((r) => tiers.includes(r.tier)),
    steps,
  }
  const {plan_version, ...rest} = body
  return {plan_version, plan_id: planIdOf(body), ...rest}
}

/** `rp_` + the first 16 hex of sha256 over the canonical JSON of everything but the id. */
export function planIdOf(plan: Omit<RolloutPlan, 'plan_id'> & {plan_id?: string}): string {
  const {plan_id: _omit, ...body} = plan
  return `rp_${sha256Hex(canonicalJson(body)).slice(0, 16)}`
}

/** The step before `step` (undefined for the first). */
export function previousStep(plan: RolloutPlan, step: number): PlanStep | undefined {
  return plan.steps.find((s) => s.step === step - 1)
}
