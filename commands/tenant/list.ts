import {Flags} from '@oclif/core'

import {statusText, table} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class TenantList extends RunbookCommand {
  static override description = 'List tenants'
  static override examples = ['<%= config.bin %> tenant list --status SUSPENDED']
  static override flags = {
    status: Flags.string({options: ['ACTIVE', 'SUSPENDED', 'CLOSED'], description: 'Status'}),
    search: Flags.string({description: 'Substring of tenant id or name'}),
    limit: Flags.integer({default: 50, min: 1, max: 100, description: 'Page size'}),
    all: Flags.boolean({default: false, description: 'Follow next_cursor to the end'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(TenantList)
    const admin = this.admin()
    const query = {status: flags.status, search: flags.search, limit: flags.limit, sort_by: 'tenant_id', sort_dir: 'asc'}
    const tenants = flags.all ? await admin.all((cursor) => admin.listTenants({...query, cursor})) : (await admin.listTenants(query)).items
    if (this.jsonMode) this.printJson({tenants})
    else this.out(tenants.length === 0 ? 'no tenants match' : table(['tenant', 'name', 'status', 'created'], tenants.map((t) => [t.tenant_id, t.name, statusText(t.status), t.created_at])))
  }
}
