import {Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {ControlClient, describeControl, enforcementSetWhileEngaged} from '../../src/client/control-client.js'
import {yesFlag} from '../../src/cli/flags.js'

export default class KillswitchRelease extends RunbookCommand {
  static override description =
    'Release the kill switch: every tier returns to its configured mode on every instance within 1 s. Warns (and asks; --yes in scripts) when that turns on enforcement set while the switch was engaged. Audited.'
  static override examples = ['<%= config.bin %> killswitch release --reason "fixed in 1.4.2"']
  static override flags = {
    reason: Flags.string({description: 'Why (kept in the audit log)'}),
    yes: yesFlag('Release without asking, even when it turns on enforcement set while engaged'),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(KillswitchRelease)
    const client = new ControlClient(this.admin().http)
    const newlyEnforced = enforcementSetWhileEngaged(await client.status())
    if (newlyEnforced.length > 0) {
      for (const t of newlyEnforced) {
        this.note(`warning: releasing turns on enforcement of tier ${t.tier} (${t.enforce_percent} % of runs), set at ${new Date(t.set_at_ms).toISOString()} while the switch was engaged; it has not enforced yet`)
      }
      await this.confirm(`release the kill switch and start enforcing ${newlyEnforced.map((t) => t.tier).join(', ')}`, flags.yes)
    }
    const control = await client.release(flags.reason, this.actor)
    if (this.jsonMode) this.printJson({...control, enforcement_turned_on: newlyEnforced})
    else for (const line of describeControl(control)) this.out(line)
  }
}
