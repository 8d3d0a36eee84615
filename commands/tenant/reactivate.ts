import {Args} from '@oclif/core'

import {statusText} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {checkTenantId} from '../../src/cli/scope-input.js'
import {reasonFlag, yesFlag} from '../../src/cli/flags.js'

export default class TenantReactivate extends RunbookCommand {
  static override description = 'Reactivate a suspended tenant'
  static override examples = ['<%= config.bin %> tenant reactivate acme']
  static override flags = {
    reason: reasonFlag(),
    yes: yesFlag(),
  }
  static override args = {id: Args.string({description: 'Tenant id', required: true})}

  async run(): Promise<void> {
    const {args} = await this.parseRunbook(TenantReactivate)
    const after = await this.admin().updateTenant(checkTenantId(args.id), {status: 'ACTIVE'})
    if (this.jsonMode) this.printJson(after)
    else this.out(`tenant ${after.tenant_id} is now ${statusText(after.status)}`)
  }
}
