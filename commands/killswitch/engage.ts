import {Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {ControlClient, describeControl} from '../../src/client/control-client.js'
import {yesFlag} from '../../src/cli/flags.js'

export default class KillswitchEngage extends RunbookCommand {
  static override description =
    'Engage the kill switch: every tier answers in shadow mode (admit and log) on every daemon instance sharing the store, within 1 s. Audited with the reason.'
  static override examples = ['<%= config.bin %> killswitch engage --reason "enforcement misfiring on payments, INC-142"']
  static override flags = {
    reason: Flags.string({description: 'Why (kept in the audit log)', required: true}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(KillswitchEngage)
    const control = await new ControlClient(this.admin().http).engage(flags.reason, this.actor)
    if (this.jsonMode) this.printJson(control)
    else for (const line of describeControl(control)) this.out(line)
  }
}
