import {Args, Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {EXIT} from '../../src/cli/errors.js'
import {RolloutClient} from '../../src/client/rollout-client.js'
import {describeOutcome, runRolloutApply} from '../../src/rollout/apply-run.js'
import {yesFlag} from '../../src/cli/flags.js'

export default class RolloutApply extends RunbookCommand {
  static override description = `Apply the next step of a rollout plan whose gate passes, through the admin API (limits as funding RESET, modes as rollout steps; audited). A failing gate refuses with the figures and exit ${EXIT.GATE_FAILED}; re-running an applied step changes nothing`

  static override examples = [
    '<%= config.bin %> rollout apply plan.yaml',
    '<%= config.bin %> rollout apply plan.yaml --dry-run --calibration calib.json',
    '<%= config.bin %> rollout apply plan.yaml --step 3 --force --reason "INC-42: enforce low now"',
  ]

  static override args = {plan: Args.string({description: 'The plan file of `cycles rollout plan`', required: true})}

  static override flags = {
    step: Flags.integer({description: 'Apply this step (default: the first not yet applied)', min: 1}),
    'dry-run': Flags.boolean({description: `Evaluate the gate and show what would change; change nothing (exit ${EXIT.GATE_FAILED} when the gate fails)`, default: false}),
    force: Flags.boolean({description: 'Apply even when the gate fails (needs --reason; recorded as forced)', default: false}),
    reason: Flags.string({description: 'Why (kept in the audit log); required with --force'}),
    calibration: Flags.string({description: 'A fresher `cycles calibrate --format json`: judge budget readiness with it instead of the plan\'s'}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(RolloutApply)
    const admin = this.admin()
    const outcome = await runRolloutApply(
      {planFile: args.plan, step: flags.step, dryRun: flags['dry-run'], force: flags.force, reason: flags.reason, actor: this.actor, calibration: flags.calibration},
      {admin, rollout: new RolloutClient(admin.http)},
    )
    if (this.jsonMode) this.printJson(outcome)
    else for (const line of describeOutcome(outcome)) this.out(line)
    if (outcome.status === 'dry_run' && outcome.gate && !outcome.gate.passed) process.exitCode = EXIT.GATE_FAILED
  }
}
