// `cycles rollout apply` without the flag parsing: pick the step, evaluate its gate against the
// daemon's rollout state, and apply it through the admin API — limits as funding RESET with
// idempotency keys derived from plan_id + step, modes through POST /v1/admin/rollout/steps (which
// records the step, so re-running is a no-op). A failing gate refuses with exit 8 unless forced.
import fs from 'node:fs'

import type {AdminClient} from '../client/admin-client.js'
import type {RolloutClient, RolloutWire} from '../client/rollout-client.js'
import {CliError, EXIT} from '../cli/errors.js'
import {sha256Hex} from '../protocol/canonical-json.js'
import {type LedgerNow, type StepGateResult, appliedOf, evaluateStepGate, nextStep, windowStart} from './apply-gates.js'
import {type PlanStep, type RolloutPlan, type TierReadiness, readinessAsIs} from './plan.js'
import {readCalibration} from './plan-run.js'
import {PlanFileError, parsePlanYaml, planIdProblem} from './plan-yaml.js'

export interface ApplyInput {
  planFile: string
  step?: number
  dryRun: boolean
  force: boolean
  reason?: string
  actor?: string
  /** A calibration of the limits in force (e.g. nightly): judge budget readiness by its verdicts instead of the plan's. */
  calibration?: string
}

export interface ApplyOutcome {
  plan_id: string
  /** 'complete': every step applied; 'already_applied': the asked step was applied before; 'dry_run': gate evaluated, nothing changed. */
  status: 'applied' | 'forced' | 'already_applied' | 'complete' | 'dry_run'
  step?: PlanStep
  gate?: StepGateResult
  fundings?: Array<{scope: string; unit: string; to: number; idempotency_key: string; previous_allocated: number; new_allocated: number}>
  tiers?: RolloutWire['tiers']
}

/** One key per budget of a limits step: retries replay, another plan or step never collides. */
export function fundingKey(planId: string, step: number, scope: string, unit: string): string {
  return `${planId}-s${step}-${sha256Hex(`${scope}\u0000${unit}`).slice(0, 12)}`
}

export function readPlan(file: string): RolloutPlan {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    throw new CliError('NOT_FOUND', `cannot read plan file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {exit: EXIT.NOT_FOUND, suggestions: ['write one with: cycles rollout plan --calibration calib.json --output plan.yaml']})
  }
  let plan: RolloutPlan
  try {
    plan = parsePlanYaml(text, file)
  } catch (error) {
    if (error instanceof PlanFileError) throw new CliError('PLAN_INVALID', error.message, {exit: EXIT.USAGE})
    throw error
  }
  const problem = planIdProblem(plan)
  if (problem) throw new CliError('PLAN_EDITED', `${file}: ${problem}`, {exit: EXIT.USAGE})
  return plan
}

export async function runRolloutApply(input: ApplyInput, deps: {admin: AdminClient; rollout: RolloutClient}): Promise<ApplyOutcome> {
  if (input.force && !input.reason) throw new CliError('USAGE', '--force needs --reason (kept in the audit log with the step)', {exit: EXIT.USAGE})
  const plan = readPlan(input.planFile)
  const readiness: TierReadiness[] = input.calibration ? readinessAsIs(readCalibration(input.calibration)) : plan.readiness
  const first = await deps.rollout.status()
  let step: PlanStep | undefined
  if (input.step !== undefined) {
    step = plan.steps.find((s) => s.step === input.step)
    if (!step) throw new CliError('USAGE', `--step ${input.step}: the plan has steps 1–${plan.steps.length}`, {exit: EXIT.USAGE})
    if (appliedOf(plan, first).has(step.step)) return {plan_id: plan.plan_id, status: 'already_applied', step}
  } else {
    step = nextStep(plan, first)
    if (!step) return {plan_id: plan.plan_id, status: 'complete'}
  }
  // The figures since the previous step (bounded by what the daemon keeps).
  const since = windowStart(plan, first, step)
  const state = since === null ? first : await deps.rollout.status(since)
  const ledgers: LedgerNow[] = []
  if (step.kind === 'limits') {
    for (const b of step.budgets) {
      const l = await deps.admin.lookupBudget(b.scope, b.unit).catch((error: unknown) => {
        if (error instanceof CliError && error.exit === EXIT.NOT_FOUND) return undefined
        throw error
      })
      if (l) ledgers.push({scope: b.scope, unit: b.unit, spent: l.spent?.amount ?? 0, reserved: l.reserved?.amount ?? 0, debt: l.debt?.amount ?? 0})
    }
  }
  const gate = evaluateStepGate(plan, step, state, readiness, ledgers)
  if (input.dryRun) return {plan_id: plan.plan_id, status: 'dry_run', step, gate, tiers: state.tiers}
  if (!gate.passed && !input.force) {
    const failed = gate.checks.filter((c) => !c.passed)
    throw new CliError('GATE_FAILED', `step ${step.step} (${stepWords(step)}) refused: ${failed.map((c) => `${c.gate}: ${c.actual}, needs ${c.required}`).join('; ')}`, {
      exit: EXIT.GATE_FAILED,
      suggestions: ['wait and re-run; or override with --force --reason "…" (audited)'],
      details: {plan_id: plan.plan_id, step: step.step, gate},
    })
  }
  const reason = input.reason ?? `cycles rollout apply ${plan.plan_id} step ${step.step}: ${stepWords(step)}`
  const forced = !gate.passed
  const fundings: NonNullable<ApplyOutcome['fundings']> = []
  let mode = step.kind === 'enforce' ? ('enforce' as const) : state.tiers[step.tier].mode
  let percent = step.kind === 'enforce' ? step.enforce_percent : state.tiers[step.tier].enforce_percent
  if (step.kind === 'limits') {
    for (const b of step.budgets) {
      const key = fundingKey(plan.plan_id, step.step, b.scope, b.unit)
      const tenant = /^tenant:([^/]+)/.exec(b.scope)?.[1] ?? ''
      const r = await deps.admin.fundBudget(tenant, b.scope, b.unit, {operation: 'RESET', amount: {unit: b.unit, amount: b.to}, idempotency_key: key, reason})
      fundings.push({scope: b.scope, unit: b.unit, to: b.to, idempotency_key: key, previous_allocated: r.previous_allocated.amount, new_allocated: r.new_allocated.amount})
    }
    // Recorded as a step with the tier's mode and percent unchanged, so the next step's dwell counts from here.
    mode = state.tiers[step.tier].mode
    percent = state.tiers[step.tier].enforce_percent
  }
  const after = await deps.rollout.applyStep({plan_id: plan.plan_id, step: step.step, tier: step.tier, mode, enforce_percent: percent, reason, ...(input.actor ? {actor: input.actor} : {}), ...(forced ? {forced} : {})})
  return {plan_id: plan.plan_id, status: after.already_applied ? 'already_applied' : forced ? 'forced' : 'applied', step, gate, ...(fundings.length > 0 ? {fundings} : {}), tiers: after.tiers}
}

export function stepWords(step: PlanStep): string {
  return step.kind === 'limits' ? `calibrated limits of ${step.budgets.length} budget(s) for tier ${step.tier}` : `tier ${step.tier} enforce ${step.enforce_percent} %`
}

/** Human lines for an outcome: the step, every gate check with its figure, and what changed. */
export function describeOutcome(o: ApplyOutcome): string[] {
  const lines: string[] = []
  if (o.status === 'complete') return [`plan ${o.plan_id}: every step is applied; nothing to do`]
  if (o.status === 'already_applied' && !o.gate) return [`plan ${o.plan_id} step ${o.step!.step} (${stepWords(o.step!)}) was applied before; nothing changed`]
  lines.push(`plan ${o.plan_id} step ${o.step!.step}: ${stepWords(o.step!)}`)
  if (o.gate) {
    for (const c of o.gate.checks) lines.push(`  ${c.passed ? 'pass' : 'FAIL'}  ${c.gate.padEnd(20)} ${c.actual} (needs ${c.required})`)
    const from = o.gate.figures_since_ms
    if (from !== undefined) {
      const late = o.gate.since_ms !== null && from > o.gate.since_ms + 60_000
      lines.push(`  live figures of tier ${o.gate.tier} since ${new Date(from).toISOString()}${late ? ` (this daemon instance started after step ${o.step!.step - 1}; its counters start at its start)` : ''}`)
    }
  }
  for (const f of o.fundings ?? []) lines.push(`  RESET ${f.scope} ${f.unit}: ${f.previous_allocated} → ${f.new_allocated} (idempotency key ${f.idempotency_key})`)
  const verdict = {
    applied: 'applied',
    forced: 'applied with --force (gate failed; audited as forced)',
    already_applied: 'was applied before; nothing changed',
    dry_run: o.gate?.passed ? 'dry run: the gate passes; nothing changed' : 'dry run: the gate fails; nothing changed',
    complete: '',
  }[o.status]
  lines.push(verdict)
  return lines
}
