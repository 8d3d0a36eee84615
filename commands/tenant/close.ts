import {Args, Flags} from '@oclif/core'

import {statusText} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {closeTenant} from '../../src/runbook/tenant-flows.js'
import {reasonFlag, yesFlag} from '../../src/cli/flags.js'

export default class TenantClose extends RunbookCommand {
  static override description =
    'Close a tenant — irreversible: its budgets are closed, its API keys revoked and its open reservations released. Needs --confirm <tenant_id>.'
  static override examples = ['<%= config.bin %> tenant close acme --confirm acme']
  static override args = {id: Args.string({description: 'Tenant id', required: true})}
  static override flags = {
    confirm: Flags.string({description: 'Repeat the tenant id exactly to confirm'}),
    reason: reasonFlag(),
    yes: yesFlag('Accepted for scripts; closing is irreversible and still needs --confirm <tenant-id>'),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(TenantClose)
    const runtime = this.backend['admin-key'] ? () => this.runtime() : undefined
    const outcome = await closeTenant(() => this.admin(), runtime, args.id, flags.confirm, (l) => this.note(l))
    if (this.jsonMode) this.printJson({tenant: outcome.after, blast_radius: outcome.blast_radius})
    else this.out(`tenant ${outcome.after.tenant_id} is now ${statusText(outcome.after.status)}`)
  }
}
