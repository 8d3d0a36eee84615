import {Args, Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {checkTenantId} from '../../src/cli/scope-input.js'
import {reasonFlag, yesFlag} from '../../src/cli/flags.js'

export default class TenantCreate extends RunbookCommand {
  static override description = 'Create a tenant (idempotent: an identical definition is not an error)'
  static override examples = ['<%= config.bin %> tenant create acme-corp --name "Acme Corporation"']
  static override args = {id: Args.string({description: 'Tenant id (3–64 of a-z, 0-9, -)', required: true})}
  static override flags = {
    name: Flags.string({description: 'Display name', required: true}),
    parent: Flags.string({description: 'Parent tenant id'}),
    reason: reasonFlag(),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(TenantCreate)
    const t = await this.admin().createTenant({tenant_id: checkTenantId(args.id), name: flags.name, ...(flags.parent ? {parent_tenant_id: flags.parent} : {})})
    if (this.jsonMode) this.printJson(t)
    else this.out(`tenant ${t.tenant_id} (${t.name}) is ${t.status}`)
  }
}
