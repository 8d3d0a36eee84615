import {Flags} from '@oclif/core'

import {budgetDetail} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {setFrozen} from '../../src/runbook/budget-flows.js'
import {budgetFlags} from '../../src/runbook/fund-command.js'
import {yesFlag} from '../../src/cli/flags.js'

export default class BudgetUnfreeze extends RunbookCommand {
  static override description = 'Unfreeze a budget (both books)'
  static override examples = ['<%= config.bin %> budget unfreeze --scope tenant:acme/agent:bot --unit RISK_POINTS --reason "fixed"']
  static override flags = {
    ...budgetFlags,
    reason: Flags.string({description: 'Why (recorded in the audit log)'}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(BudgetUnfreeze)
    const {after} = await setFrozen(() => this.admin(), flags, false, {note: (l) => this.note(l), confirm: async () => {}, json: this.jsonMode})
    if (this.jsonMode) this.printJson(after)
    else this.out(budgetDetail(after))
  }
}
