import {Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {ControlClient, describeControl} from '../../src/client/control-client.js'

export default class KillswitchRelease extends RunbookCommand {
  static override description = 'Release the kill switch: every tier returns to its configured mode on every instance within 1 s. Audited.'
  static override examples = ['<%= config.bin %> killswitch release --reason "fixed in 1.4.2"']
  static override flags = {
    reason: Flags.string({description: 'Why (kept in the audit log)'}),
    actor: Flags.string({description: 'Who is releasing it (kept in the audit log)', env: 'USER'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(KillswitchRelease)
    const control = await new ControlClient(this.admin().http).release(flags.reason, flags.actor)
    if (this.jsonMode) this.printJson(control)
    else for (const line of describeControl(control)) this.out(line)
  }
}
