import {Args} from '@oclif/core'

import {statusText} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {checkTenantId} from '../../src/cli/scope-input.js'
import {reasonFlag, yesFlag} from '../../src/cli/flags.js'

export default class TenantSuspend extends RunbookCommand {
  static override description = 'Suspend a tenant: its keys can no longer make runtime calls until reactivated (asks first)'
  static override examples = ['<%= config.bin %> tenant suspend acme --yes']
  static override args = {id: Args.string({description: 'Tenant id', required: true})}
  static override flags = {
    reason: reasonFlag(),
    yes: yesFlag('Do not ask for confirmation'),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(TenantSuspend)
    const id = checkTenantId(args.id)
    const admin = this.admin()
    const before = await admin.getTenant(id)
    if (!this.jsonMode) this.note(`tenant ${id} (${before.name}) is ${before.status}`)
    await this.confirm(`suspend tenant ${id} (its agents can no longer reserve)`, flags.yes)
    const after = await admin.updateTenant(id, {status: 'SUSPENDED'})
    if (this.jsonMode) this.printJson(after)
    else {
      this.out(`tenant ${id} is now ${statusText(after.status)}`)
      this.note(`to undo: cycles tenant reactivate ${id}`)
    }
  }
}
