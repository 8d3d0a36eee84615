import {Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {ControlClient} from '../../src/client/control-client.js'
import {describeDifference, diffConfig} from '../../src/config/diff.js'
import {loadConfig} from '../../src/config/load.js'
import {storedStateFromAdmin} from '../../src/config/state.js'

export default class ConfigDiff extends RunbookCommand {
  static override description = 'Compare a config file with a running daemon\'s stored state (tiers, budgets\' allocations and statuses, tenants, keys): what `config apply` would change and what it only reports'
  static override examples = ['<%= config.bin %> config diff --config cycles.yaml', '<%= config.bin %> config diff --config cycles.yaml --json --exit-code']
  static override flags = {
    config: Flags.string({description: 'Config file (YAML or JSON)', env: 'CYCLES_CONFIG', default: './cycles.yaml'}),
    'exit-code': Flags.boolean({description: 'Exit 1 when there are differences', default: false}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(ConfigDiff)
    const config = loadConfig(flags.config)
    const admin = this.admin()
    const state = await storedStateFromAdmin(admin, new ControlClient(admin.http))
    const differences = diffConfig(config, state)
    if (this.jsonMode) this.printJson({file: flags.config, killswitch_engaged: state.killswitch_engaged, differences})
    else {
      if (differences.length === 0) this.out(`${flags.config} matches the daemon's stored state`)
      for (const d of differences) this.out(describeDifference(d))
      if (state.killswitch_engaged) this.note('note: the kill switch is engaged: every tier runs in shadow whatever its mode')
    }
    if (flags['exit-code'] && differences.length > 0) process.exitCode = 1
  }
}
