import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {writeOutput} from '../../src/output/write.js'
import {PLAN_DEFAULTS} from '../../src/rollout/plan.js'
import {describeStep} from '../../src/rollout/plan-yaml.js'
import {runRolloutPlan} from '../../src/rollout/plan-run.js'

export default class RolloutPlan extends BaseCommand {
  static override description =
    'An ordered rollout plan from a calibration: each tier\'s calibrated limits, then each tier low → medium → high through the ramp, every step with its gate and minimum wait (YAML with comments)'

  static override examples = [
    '<%= config.bin %> rollout plan --calibration calib.json --output plan.yaml',
    '<%= config.bin %> rollout plan --calibration calib.json --tiers low,medium --ramp 1,10,50,100 --dwell 48h',
  ]

  static override flags = {
    calibration: Flags.string({description: 'The JSON of `cycles calibrate --format json`', required: true}),
    tiers: Flags.string({description: 'Tiers to roll out, lowest risk first', default: PLAN_DEFAULTS.tiers.join(',')}),
    ramp: Flags.string({description: 'Enforcement percentages of each tier, rising, ending at 100', default: PLAN_DEFAULTS.ramp.join(',')}),
    dwell: Flags.string({description: 'Minimum time between steps (e.g. 24h, 2d)', default: '24h'}),
    'min-requests': Flags.integer({description: 'Requests of the tier a step\'s gate needs since the previous step', default: PLAN_DEFAULTS.minRequests, min: 0}),
    output: Flags.string({char: 'o', description: 'Write the plan here instead of stdout'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(RolloutPlan)
    const {plan, yaml} = runRolloutPlan({calibration: flags.calibration, tiers: flags.tiers, ramp: flags.ramp, dwell: flags.dwell, minRequests: flags['min-requests']})
    if (this.jsonMode) {
      if (flags.output) writeOutput(yaml, flags.output)
      this.printJson(plan)
      return
    }
    writeOutput(yaml, flags.output)
    if (flags.output) {
      this.note(`plan ${plan.plan_id}: ${plan.steps.length} steps written to ${flags.output}`)
      for (const s of plan.steps) this.note(`  ${describeStep(plan, s)}`)
    }
  }
}
