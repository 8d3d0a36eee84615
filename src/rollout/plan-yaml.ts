// The rollout plan as a commented YAML file (the `yaml` library's document API), and back. The file
// carries durations as text (`24h`); plan_id is recomputed on read, so an edited plan is noticed.
import YAML, {type YAMLMap, type YAMLSeq} from 'yaml'
import {z} from 'zod'

import {pct} from '../analytics/bands.js'
import type {Verdict} from '../calibration/verdict.js'
import {TIERS, type Tier} from '../protocol/types.js'
import {DURATION_UNITS, durationMs} from '../runbook/duration.js'
import {type PlanStep, type RolloutPlan, type StepGate, planIdOf} from './plan.js'


/** 86400000 → "1d": the largest unit that divides the duration evenly. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  for (const [u, size] of DURATION_UNITS) if (ms % size === 0) return `${ms / size}${u}`
  return `${Math.ceil(ms / 1000)}s`
}

export function parseDurationText(text: string): number {
  const ms = durationMs(text)
  if (ms === undefined) throw new PlanFileError(`expected a duration such as 30m, 24h, 2d; got '${text}'`)
  return ms
}

export class PlanFileError extends Error {}

const tier = z.enum(TIERS as [Tier, ...Tier[]])
const range = z.strictObject({min: z.number(), max: z.number()})
const duration = z.string().transform((s, ctx) => {
  try {
    return parseDurationText(s)
  } catch (error) {
    ctx.addIssue({code: 'custom', message: (error as Error).message})
    return z.NEVER
  }
})
const gateFile = z.strictObject({
  budgets_ready: z.boolean(),
  denial_rate: range,
  reserve_commit_ratio: range,
  overage_rate_below: z.number(),
  min_requests: z.int().min(0),
  min_wait: duration,
})
const stepFile = z.discriminatedUnion('kind', [
  z.strictObject({
    step: z.int().min(1),
    kind: z.literal('limits'),
    tier,
    budgets: z.array(
      z.strictObject({
        scope: z.string(),
        unit: z.string(),
        from: z.number().nullable(),
        to: z.int().min(0),
        replayed_denial_rate: z.number().nullable(),
        verdict: z.string().transform((v) => v as Verdict),
      }),
    ),
  }),
  z.strictObject({step: z.int().min(1), kind: z.literal('enforce'), tier, enforce_percent: z.int().min(0).max(100), gate: gateFile}),
])
const planFile = z.strictObject({
  plan_version: z.literal(1),
  plan_id: z.string(),
  calibration: z.strictObject({
    window: z.strictObject({from: z.string().nullable(), to: z.string().nullable(), days: z.number()}),
    target: z.number(),
    band: z.tuple([z.number(), z.number()]),
  }),
  tiers: z.array(tier),
  ramp: z.array(z.int()),
  dwell: duration,
  readiness: z.array(z.strictObject({tier, ready: z.boolean(), budgets: z.int(), blockers: z.array(z.string())})),
  steps: z.array(stepFile).min(1),
})

function gateToFile(g: StepGate) {
  const {min_wait_ms, ...rest} = g
  return {...rest, min_wait: formatDuration(min_wait_ms)}
}

function stepToFile(s: PlanStep) {
  return s.kind === 'limits' ? s : {...s, gate: gateToFile(s.gate)}
}

/** The plan as YAML with comments that say what each step does and what its gate checks. */
export function planToYaml(plan: RolloutPlan, source?: string): string {
  const {dwell_ms, ...rest} = plan
  const file = {
    plan_version: rest.plan_version,
    plan_id: rest.plan_id,
    calibration: rest.calibration,
    tiers: rest.tiers,
    ramp: rest.ramp,
    dwell: formatDuration(dwell_ms),
    readiness: rest.readiness,
    steps: rest.steps.map((s) => stepToFile(s)),
  }
  const doc = new YAML.Document(file)
  const w = plan.calibration.window
  doc.commentBefore = [
    ` Rollout plan ${plan.plan_id}${source ? ` from ${source}` : ''}: calibration of ${w.from ?? '?'} → ${w.to ?? '?'} (${w.days} days),`,
    ` target ${pct(plan.calibration.target)} denied, band ${pct(plan.calibration.band[0])}–${pct(plan.calibration.band[1])}.`,
    ' Apply one step at a time: `cycles rollout apply plan.yaml` applies the next step whose gate passes and',
    ' exits 8 with the figures while it fails; re-running an applied step changes nothing.',
    ' plan_id is a hash of this content: after editing a gate, `rollout apply` refuses and prints the new id.',
  ].join('\n')
  const top = doc.contents as YAMLMap
  const pairComment = (key: string, text: string) => {
    const pair = top.items.find((p) => (p.key as {value?: unknown}).value === key)
    if (pair) (pair.key as {commentBefore?: string}).commentBefore = text
  }
  const flow = (path: Array<string | number>) => {
    const node = doc.getIn(path) as {flow?: boolean} | undefined
    if (node && typeof node === 'object') node.flow = true
  }
  for (const path of [['calibration', 'window'], ['calibration', 'band'], ['tiers'], ['ramp']]) flow(path)
  plan.readiness.forEach((r, i) => r.blockers.length === 0 && flow(['readiness', i, 'blockers']))
  pairComment('readiness', ' Per tier, from the calibration verdicts once this plan\'s limits are in (the first gate of every enforce step).')
  pairComment('steps', ' In order: each tier\'s calibrated limits, then the tier through the ramp.')
  const seq = doc.getIn(['steps']) as YAMLSeq
  plan.steps.forEach((s, i) => {
    const node = seq.items[i] as YAMLMap
    node.commentBefore = ` ${describeStep(plan, s)}`
    if (s.kind === 'limits') {
      const budgets = (node.get('budgets') as YAMLSeq).items as YAMLMap[]
      s.budgets.forEach((b, j) => {
        const to = budgets[j].items.find((p) => (p.key as {value?: unknown}).value === 'to')
        if (to && b.replayed_denial_rate !== null) (to.value as {comment?: string}).comment = ` replayed with every calibrated limit in: ${pct(b.replayed_denial_rate, 1)} denied (at the current limit: ${b.verdict})`
      })
    } else {
      const gate = node.get('gate') as YAMLMap
      for (const key of ['denial_rate', 'reserve_commit_ratio']) (gate.get(key) as {flow?: boolean}).flow = true
      const prev = plan.steps[i - 1]
      const wait = gate.items.find((p) => (p.key as {value?: unknown}).value === 'min_wait')
      if (wait) (wait.value as {comment?: string}).comment = prev ? ` since step ${prev.step} was applied` : ' (first step: nothing to wait for)'
    }
  })
  return doc.toString({lineWidth: 0})
}

export function describeStep(plan: RolloutPlan, s: PlanStep): string {
  if (s.kind === 'limits') return `Step ${s.step}: tier ${s.tier} — set the calibrated limits of ${s.budgets.length} budget(s) its traffic touches (funding RESET; every tier stays as it is).`
  const r = plan.readiness.find((x) => x.tier === s.tier)
  const ready = r ? (r.ready ? 'ready' : `NOT ready: ${r.blockers.length} blocker(s)`) : 'no budgets seen'
  return `Step ${s.step}: tier ${s.tier} — enforce ${s.enforce_percent} % of runs (calibration: ${ready}).`
}

/** Read a plan file back; throws PlanFileError with the path of every bad field. plan_id is checked separately (planIdProblem). */
export function parsePlanYaml(text: string, file = '<plan>'): RolloutPlan {
  let raw: unknown
  try {
    raw = YAML.parse(text, {prettyErrors: true})
  } catch (error) {
    throw new PlanFileError(`${file}: not valid YAML: ${(error as Error).message}`)
  }
  const result = planFile.safeParse(raw)
  if (!result.success) {
    const lines = result.error.issues.slice(0, 8).map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message}`)
    throw new PlanFileError(`${file}: not a rollout plan\n${lines.join('\n')}`)
  }
  const f = result.data
  const steps: PlanStep[] = f.steps.map((s) => {
    if (s.kind === 'limits') return s
    const {min_wait, ...g} = s.gate
    return {...s, gate: {...g, min_wait_ms: min_wait}}
  })
  steps.forEach((s, i) => {
    if (s.step !== i + 1) throw new PlanFileError(`${file}: steps must be numbered 1, 2, 3 … in order; steps[${i}] is step ${s.step}`)
  })
  return {
    plan_version: 1,
    plan_id: f.plan_id,
    calibration: f.calibration,
    tiers: f.tiers,
    ramp: f.ramp,
    dwell_ms: f.dwell,
    readiness: f.readiness,
    steps,
  }
}

/** When the content no longer hashes to its plan_id (an edit), what to say. */
export function planIdProblem(plan: RolloutPlan): string | undefined {
  const actual = planIdOf(plan)
  if (actual === plan.plan_id) return undefined
  return `the plan was edited: its content hashes to ${actual}, not to plan_id ${plan.plan_id}. To adopt the edit, set plan_id: ${actual} (steps applied under the old id are not carried over)`
}
