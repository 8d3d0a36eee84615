import {Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import type {TierName} from '../../src/client/control-client.js'
import {RolloutClient} from '../../src/client/rollout-client.js'
import {describeRollback, rollbackTiers} from '../../src/rollout/rollback.js'
import {renderRolloutStatus} from '../../src/rollout/status.js'
import {enumFlag, yesFlag} from '../../src/cli/flags.js'

export default class RolloutRollback extends RunbookCommand {
  static override description = 'Put one tier (or every tier) back in shadow mode, on every daemon instance sharing the store within 1 s. Audited with actor and reason.'
  static override examples = ['<%= config.bin %> rollout rollback --tier low --reason "denials tripled after step 2, INC-311"', '<%= config.bin %> rollout rollback --reason "all back to shadow"']
  static override flags = {
    tier: enumFlag({description: 'The tier (default: every tier)', options: ['low', 'medium', 'high']}),
    reason: Flags.string({description: 'Why (kept in the audit log)', required: true}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(RolloutRollback)
    const result = await rollbackTiers(new RolloutClient(this.admin().http), {tier: flags.tier as TierName | undefined, reason: flags.reason, actor: this.actor})
    if (this.jsonMode) this.printJson(result)
    else for (const line of [...describeRollback(result), ...renderRolloutStatus(result.status)]) this.out(line)
  }
}
