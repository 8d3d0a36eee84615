// One class per funding operation (budget credit | debit | reset | reset-spent | repay-debt).
import {Flags} from '@oclif/core'

import {fundingDetail} from '../cli/render.js'
import {yesFlag} from '../cli/flags.js'
import {RunbookCommand} from '../cli/runbook-command.js'
import {DISRUPTIVE, type FundingOperation, fundBudget} from './budget-flows.js'

export const budgetFlags = {
  scope: Flags.string({description: 'Budget scope, e.g. tenant:acme/workspace:prod/agent:bot', required: true}),
  unit: Flags.string({description: 'USD_MICROCENTS | TOKENS | CREDITS | RISK_POINTS', required: true}),
}

export function fundCommand(operation: FundingOperation, description: string) {
  return class extends RunbookCommand {
    static override description = description
    static override examples = [
      `<%= config.bin %> <%= command.id %> --scope tenant:acme/agent:bot --unit USD_MICROCENTS --usd 10 --reason "incident 42"`,
      `<%= config.bin %> <%= command.id %> --scope tenant:acme --unit TOKENS --amount 500000 --idempotency-key inc-42-topup`,
    ]
    static override flags = {
      ...budgetFlags,
      amount: Flags.string({description: 'Amount as an integer in the unit'}),
      usd: Flags.string({description: 'Amount in dollars (USD_MICROCENTS only; 1 USD = 100,000,000)'}),
      ...(operation === 'RESET_SPENT' ? {spent: Flags.string({description: 'Spent to start the period with (integer in the unit; default 0)'})} : {}),
      reason: Flags.string({description: 'Why (recorded in the audit log)'}),
      'idempotency-key': Flags.string({description: 'Reuse to retry safely (generated and printed when omitted)'}),
      yes: yesFlag(DISRUPTIVE.has(operation) ? undefined : 'Do not ask for confirmation (asked only for a credit under one cent)'),
    }

    async run(): Promise<void> {
      const {flags} = await this.parseRunbook(this.constructor as typeof RunbookCommand)
      const f = flags as Record<string, string | boolean | undefined>
      const outcome = await fundBudget(
        () => this.admin(),
        {
          operation,
          scope: f.scope as string,
          unit: f.unit as string,
          amount: f.amount as string | undefined,
          usd: f.usd as string | undefined,
          spent: f.spent as string | undefined,
          reason: f.reason as string | undefined,
          idempotencyKey: f['idempotency-key'] as string | undefined,
        },
        {note: (l) => this.note(l), confirm: (a) => this.confirm(a, f.yes as boolean | undefined), json: this.jsonMode},
      )
      if (this.jsonMode) this.printJson({operation, scope: outcome.scope, unit: outcome.unit, idempotency_key: outcome.idempotency_key, result: outcome.result})
      else this.out(fundingDetail(outcome.result, outcome.unit))
    }
  }
}
