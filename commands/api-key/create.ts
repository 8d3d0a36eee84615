import {Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {checkTenantId} from '../../src/cli/scope-input.js'
import {showSecretOnce} from '../../src/runbook/key-flows.js'
import {reasonFlag, yesFlag} from '../../src/cli/flags.js'

export default class ApiKeyCreate extends RunbookCommand {
  static override description = 'Create a tenant API key; its secret is printed once on stdout and never again'
  static override examples = ['<%= config.bin %> api-key create --tenant acme --name "support bot" --permissions reservations:create,reservations:commit,balances:read']
  static override flags = {
    tenant: Flags.string({description: 'Tenant id', required: true}),
    name: Flags.string({description: 'Key name', required: true}),
    permissions: Flags.string({description: 'Comma-separated permissions (default: the spec default set)'}),
    'scope-filter': Flags.string({description: 'Comma-separated scope filters, e.g. workspace:eng,agent:*'}),
    'expires-at': Flags.string({description: 'Expiry (date-time); default 90 days'}),
    reason: reasonFlag(),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(ApiKeyCreate)
    const body: Record<string, unknown> = {tenant_id: checkTenantId(flags.tenant), name: flags.name}
    if (flags.permissions) body.permissions = flags.permissions.split(',').map((p) => p.trim()).filter(Boolean)
    if (flags['scope-filter']) body.scope_filter = flags['scope-filter'].split(',').map((p) => p.trim()).filter(Boolean)
    if (flags['expires-at']) body.expires_at = new Date(flags['expires-at']).toISOString()
    const created = await this.admin().createApiKey(body)
    showSecretOnce(created, this.jsonMode, (l) => this.out(l), (l) => this.note(l))
  }
}
