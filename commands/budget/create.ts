import {Flags} from '@oclif/core'

import {resolveAmount} from '../../src/cli/money.js'
import {budgetDetail} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {tenantOfScope} from '../../src/cli/scope-input.js'
import {budgetAddress} from '../../src/runbook/budget-flows.js'
import {budgetFlags} from '../../src/runbook/fund-command.js'
import {enumFlag, reasonFlag, yesFlag} from '../../src/cli/flags.js'

export default class BudgetCreate extends RunbookCommand {
  static override description = 'Create a budget (in the real and the shadow book)'
  static override examples = [
    '<%= config.bin %> budget create --scope tenant:acme/agent:bot --unit USD_MICROCENTS --usd 25',
    '<%= config.bin %> budget create --scope tenant:acme/agent:bot --unit RISK_POINTS --amount 100 --overdraft-limit 10',
  ]
  static override flags = {
    ...budgetFlags,
    amount: Flags.string({description: 'Allocation as an integer in the unit'}),
    usd: Flags.string({description: 'Allocation in dollars (USD_MICROCENTS only)'}),
    'overdraft-limit': Flags.string({description: 'Overdraft limit (integer in the unit)'}),
    'commit-overage-policy': enumFlag({options: ['REJECT', 'ALLOW_IF_AVAILABLE', 'ALLOW_WITH_OVERDRAFT'], description: 'Commit overage policy'}),
    reason: reasonFlag(),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(BudgetCreate)
    const {scope, unit} = budgetAddress(flags, (l) => this.note(l))
    const amount = resolveAmount(unit, flags)!
    const body: Record<string, unknown> = {tenant_id: tenantOfScope(scope), scope, unit, allocated: {unit, amount}}
    if (flags['overdraft-limit'] !== undefined) body.overdraft_limit = {unit, amount: resolveAmount(unit, {amount: flags['overdraft-limit']})}
    if (flags['commit-overage-policy']) body.commit_overage_policy = flags['commit-overage-policy']
    const ledger = await this.admin().createBudget(body)
    if (this.jsonMode) this.printJson(ledger)
    else this.out(budgetDetail(ledger))
  }
}
