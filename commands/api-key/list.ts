import {Flags} from '@oclif/core'

import {statusText, table} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class ApiKeyList extends RunbookCommand {
  static override description = 'List API keys (never their secrets)'
  static override examples = ['<%= config.bin %> api-key list --tenant acme --status ACTIVE']
  static override flags = {
    tenant: Flags.string({description: 'Tenant id (omit for every tenant)'}),
    status: Flags.string({options: ['ACTIVE', 'REVOKED', 'EXPIRED'], description: 'Status'}),
    limit: Flags.integer({default: 50, min: 1, max: 100, description: 'Page size'}),
    all: Flags.boolean({default: false, description: 'Follow next_cursor to the end'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(ApiKeyList)
    const admin = this.admin()
    const query = {tenant_id: flags.tenant, status: flags.status, limit: flags.limit}
    const keys = flags.all ? await admin.all((cursor) => admin.listApiKeys({...query, cursor})) : (await admin.listApiKeys(query)).items
    if (this.jsonMode) this.printJson({keys})
    else {
      this.out(
        keys.length === 0
          ? 'no keys match'
          : table(['key_id', 'tenant', 'name', 'prefix', 'status', 'expires'], keys.map((k) => [k.key_id, k.tenant_id, k.name ?? '', k.key_prefix, statusText(k.status), k.expires_at])),
      )
    }
  }
}
