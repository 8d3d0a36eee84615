import {budgetDetail} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {budgetAddress} from '../../src/runbook/budget-flows.js'
import {budgetFlags} from '../../src/runbook/fund-command.js'

export default class BudgetShow extends RunbookCommand {
  static override description = 'Show one budget (exact scope and unit)'
  static override examples = ['<%= config.bin %> budget show --scope tenant:acme/workspace:prod --unit USD_MICROCENTS']
  static override flags = {...budgetFlags}

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(BudgetShow)
    const {scope, unit} = budgetAddress(flags, (l) => this.note(l))
    const ledger = await this.admin().lookupBudget(scope, unit)
    if (this.jsonMode) this.printJson(ledger)
    else this.out(budgetDetail(ledger))
  }
}
