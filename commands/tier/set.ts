import {Args, Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {ControlClient, describeControl} from '../../src/client/control-client.js'

export default class TierSet extends RunbookCommand {
  static override description = 'Set a risk tier\'s mode (shadow or enforce) at run time, on every daemon instance sharing the store within 1 s. Audited.'
  static override examples = ['<%= config.bin %> tier set low enforce', '<%= config.bin %> tier set high shadow --reason "rollback"']
  static override args = {
    tier: Args.string({description: 'Risk tier', required: true, options: ['low', 'medium', 'high']}),
    mode: Args.string({description: 'Mode', required: true, options: ['shadow', 'enforce']}),
  }
  static override flags = {
    reason: Flags.string({description: 'Why (kept in the audit log)'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(TierSet)
    const control = await new ControlClient(this.admin().http).setTier(args.tier as 'low', args.mode as 'shadow', flags.reason)
    if (this.jsonMode) this.printJson(control)
    else for (const line of describeControl(control)) this.out(line)
  }
}
