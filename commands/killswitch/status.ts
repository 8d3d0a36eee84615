import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {ControlClient, describeControl} from '../../src/client/control-client.js'

export default class KillswitchStatus extends RunbookCommand {
  static override description = 'Show the kill switch and each tier\'s configured and effective mode.'
  static override examples = ['<%= config.bin %> killswitch status', '<%= config.bin %> killswitch status --json']

  async run(): Promise<void> {
    await this.parseRunbook(KillswitchStatus)
    const control = await new ControlClient(this.admin().http).status()
    if (this.jsonMode) this.printJson(control)
    else for (const line of describeControl(control)) this.out(line)
  }
}
