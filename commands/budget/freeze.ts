import {Flags} from '@oclif/core'

import {budgetDetail} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {setFrozen} from '../../src/runbook/budget-flows.js'
import {budgetFlags} from '../../src/runbook/fund-command.js'
import {yesFlag} from '../../src/cli/flags.js'

export default class BudgetFreeze extends RunbookCommand {
  static override description = 'Freeze a budget: new reservations get BUDGET_FROZEN until unfrozen (both books; asks first)'
  static override examples = [
    '<%= config.bin %> budget freeze --scope tenant:acme/agent:bot --unit RISK_POINTS --reason "runaway agent"',
    '<%= config.bin %> budget freeze --scope tenant:acme/agent:no-budget --unit RISK_POINTS --ancestor --yes --reason "runaway agent without its own budget"',
  ]
  static override flags = {
    ...budgetFlags,
    reason: Flags.string({description: 'Why (recorded in the audit log)'}),
    yes: yesFlag('Do not ask for confirmation'),
    ancestor: Flags.boolean({description: 'When the scope has no budget of its own (a runaway agent): freeze its nearest budgeted ancestor instead', default: false}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(BudgetFreeze)
    const {after} = await setFrozen(() => this.admin(), flags, true, {note: (l) => this.note(l), confirm: (a) => this.confirm(a, flags.yes), json: this.jsonMode, interactive: Boolean(process.stdin.isTTY) && !flags.yes})
    if (this.jsonMode) this.printJson(after)
    else {
      this.out(budgetDetail(after))
      this.note(`to undo: cycles budget unfreeze --scope ${after.scope} --unit ${after.unit}`)
    }
  }
}
