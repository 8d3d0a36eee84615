import {Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {RolloutClient} from '../../src/client/rollout-client.js'
import {fetchRolloutStatus, renderRolloutStatus} from '../../src/rollout/status.js'
import {parseDuration} from '../../src/runbook/duration.js'

export default class RolloutStatus extends RunbookCommand {
  static override description =
    "Show the rollout: per tier its mode and enforce percent, since when, the live denial rate against its baseline, the auto-rollback guard's state, and the steps applied so far."
  static override examples = ['<%= config.bin %> rollout status', '<%= config.bin %> rollout status --since 1h --json']
  static override flags = {
    since: Flags.string({description: "Span of the live figures, e.g. 30m, 1h, 24h (default: the guard's window)"}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(RolloutStatus)
    const sinceMs = flags.since === undefined ? undefined : Date.now() - parseDuration(flags.since)
    const status = await fetchRolloutStatus(new RolloutClient(this.admin().http), sinceMs)
    if (this.jsonMode) this.printJson(status)
    else for (const line of renderRolloutStatus(status)) this.out(line)
  }
}
