import {Flags} from '@oclif/core'

import {sinceFlag} from '../../src/cli/flags.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {RolloutClient} from '../../src/client/rollout-client.js'
import {runRolloutApply} from '../../src/rollout/apply-run.js'
import {fetchRolloutStatus, renderRolloutStatus} from '../../src/rollout/status.js'

export default class RolloutStatus extends RunbookCommand {
  static override description =
    "Show the rollout: per tier its mode and enforce percent, since when, the live denial rate against its baseline, the auto-rollback guard's state, and the steps applied so far."
  static override examples = ['<%= config.bin %> rollout status', '<%= config.bin %> rollout status --plan plan.yaml', '<%= config.bin %> rollout status --since 1h --json']
  static override flags = {
    since: sinceFlag("Span of the live figures (default: the guard's window)"),
    plan: Flags.string({description: 'The rollout plan: also show its next step and whether its gate passes now (as `rollout apply --dry-run`)'}),
    calibration: Flags.string({description: 'With --plan: judge budget readiness by this fresher calibration JSON'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(RolloutStatus)
    const sinceMs = flags.since === undefined ? undefined : Date.parse(flags.since)
    const admin = this.admin()
    const rollout = new RolloutClient(admin.http)
    const plan = flags.plan
    const next = plan ? () => runRolloutApply({planFile: plan, dryRun: true, force: false, calibration: flags.calibration}, {admin, rollout}) : undefined
    const status = await fetchRolloutStatus(rollout, sinceMs, next)
    if (this.jsonMode) this.printJson(status)
    else for (const line of renderRolloutStatus(status)) this.out(line)
  }
}
