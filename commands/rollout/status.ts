import {Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {RolloutClient} from '../../src/client/rollout-client.js'
import {runRolloutApply} from '../../src/rollout/apply-run.js'
import {fetchRolloutStatus, renderRolloutStatus} from '../../src/rollout/status.js'
import {parseDuration} from '../../src/runbook/duration.js'

export default class RolloutStatus extends RunbookCommand {
  static override description =
    "Show the rollout: per tier its mode and enforce percent, since when, the live denial rate against its baseline, the auto-rollback guard's state, and the steps applied so far."
  static override examples = ['<%= config.bin %> rollout status', '<%= config.bin %> rollout status --plan plan.yaml', '<%= config.bin %> rollout status --since 1h --json']
  static override flags = {
    since: Flags.string({description: "Span of the live figures, e.g. 30m, 1h, 24h (default: the guard's window)"}),
    plan: Flags.string({description: 'The rollout plan: also show its next step and whether its gate passes now (as `rollout apply --dry-run`)'}),
    calibration: Flags.string({description: 'With --plan: judge budget readiness by this fresher calibration JSON'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(RolloutStatus)
    const sinceMs = flags.since === undefined ? undefined : Date.now() - parseDuration(flags.since)
    const admin = this.admin()
    const rollout = new RolloutClient(admin.http)
    const plan = flags.plan
    const next = plan ? () => runRolloutApply({planFile: plan, dryRun: true, force: false, calibration: flags.calibration}, {admin, rollout}) : undefined
    const status = await fetchRolloutStatus(rollout, sinceMs, next)
    if (this.jsonMode) this.printJson(status)
    else for (const line of renderRolloutStatus(status)) this.out(line)
  }
}
