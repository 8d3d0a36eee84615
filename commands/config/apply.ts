import {Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {CliError, EXIT} from '../../src/cli/errors.js'
import {ControlClient} from '../../src/client/control-client.js'
import {adminApiTarget, applyConfigDifferences} from '../../src/config/apply.js'
import {describeDifference, diffConfig} from '../../src/config/diff.js'
import {loadConfig} from '../../src/config/load.js'
import {storedStateFromAdmin} from '../../src/config/state.js'
import {yesFlag} from '../../src/cli/flags.js'

export default class ConfigApply extends RunbookCommand {
  static override description =
    'Make a config file take effect on a running daemon through the admin API: tier modes and percents, allocations (funding RESET), overdraft limits, freeze/unfreeze — each audited with a reason. Tenants and keys are reported, not changed'
  static override examples = ['<%= config.bin %> config apply --config cycles.yaml', '<%= config.bin %> config apply --config cycles.yaml --yes --reason "roll back low to shadow"']
  static override flags = {
    config: Flags.string({description: 'Config file (YAML or JSON)', env: 'CYCLES_CONFIG', default: './cycles.yaml'}),
    reason: Flags.string({description: 'Why (kept in the audit log); default: cycles config apply FILE'}),
    yes: yesFlag('Do not ask for confirmation'),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(ConfigApply)
    const config = loadConfig(flags.config)
    const admin = this.admin()
    const control = new ControlClient(admin.http)
    const differences = diffConfig(config, await storedStateFromAdmin(admin, control))
    const applicable = differences.filter((d) => d.apply !== 'none')
    if (!this.jsonMode) for (const d of differences) this.note(describeDifference(d))
    if (applicable.length === 0) {
      if (this.jsonMode) this.printJson({file: flags.config, differences, applied: []})
      else this.out(`nothing to apply: ${flags.config} ${differences.length === 0 ? 'matches the stored state' : 'differs only in what config apply reports'}`)
      return
    }
    await this.confirm(`apply ${applicable.length} change(s) from ${flags.config}`, flags.yes)
    const applied = await applyConfigDifferences(differences, config, adminApiTarget(admin, control), flags.reason ?? `cycles config apply ${flags.config}`)
    if (this.jsonMode) this.printJson({file: flags.config, differences, applied})
    else for (const a of applied) this.out(`${a.outcome === 'applied' ? 'applied' : 'FAILED '} ${a.subject}: ${a.change}${a.error ? ` — ${a.error}` : ''}`)
    const failed = applied.filter((a) => a.outcome === 'failed')
    if (failed.length > 0) throw new CliError('APPLY_INCOMPLETE', `${failed.length} of ${applied.length} change(s) failed; the rest were applied. Re-run to retry (allocations are idempotent)`, {exit: EXIT.ERROR})
  }
}
