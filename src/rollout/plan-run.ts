// `cycles rollout plan` without the flag parsing: read the calibration JSON, build the plan, render it.
import fs from 'node:fs'

import {CliError, EXIT} from '../cli/errors.js'
import {TIERS, type Tier} from '../protocol/types.js'
import {parseDuration} from '../runbook/duration.js'
import {PlanInputError, type RolloutPlan, buildPlan, calibrationInput} from './plan.js'
import {planToYaml} from './plan-yaml.js'

export interface PlanRunInput {
  calibration: string
  tiers?: string
  ramp?: string
  dwell?: string
  minRequests?: number
}

export function readCalibration(file: string) {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    throw new CliError('NOT_FOUND', `cannot read calibration file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      exit: EXIT.NOT_FOUND,
      suggestions: ['write one with: cycles calibrate --config cycles.yaml --format json --output calib.json'],
    })
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new CliError('USAGE', `${file}: not JSON (${(error as Error).message}); expected the output of cycles calibrate --format json`, {exit: EXIT.USAGE})
  }
  const parsed = calibrationInput.safeParse(raw)
  if (!parsed.success) {
    const where = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`)
    throw new CliError('USAGE', `${file}: not a calibration result (${where.join('; ')}); expected the output of cycles calibrate --format json`, {exit: EXIT.USAGE})
  }
  return parsed.data
}

export function runRolloutPlan(input: PlanRunInput): {plan: RolloutPlan; yaml: string} {
  const cal = readCalibration(input.calibration)
  const tiers = input.tiers === undefined ? undefined : (input.tiers.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean) as Tier[])
  const ramp = input.ramp === undefined ? undefined : input.ramp.split(',').map((p) => Number(p.trim().replace(/%$/, '')))
  const dwellMs = input.dwell === undefined ? undefined : parseDuration(input.dwell)
  let plan: RolloutPlan
  try {
    plan = buildPlan(cal, {tiers, ramp, dwellMs, minRequests: input.minRequests})
  } catch (error) {
    if (error instanceof PlanInputError) throw new CliError('USAGE', error.message, {exit: EXIT.USAGE, suggestions: [`tiers: ${TIERS.join(',')}; ramp e.g. 10,50,100`]})
    throw error
  }
  return {plan, yaml: planToYaml(plan, input.calibration)}
}
