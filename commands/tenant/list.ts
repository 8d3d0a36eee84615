import {Flags} from '@oclif/core'

import {statusText, table} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {enumFlag, listFlags} from '../../src/cli/flags.js'

export default class TenantList extends RunbookCommand {
  static override description = 'List tenants'
  static override examples = ['<%= config.bin %> tenant list --status suspended', '<%= config.bin %> tenant list --all --json']
  static override flags = {
    status: enumFlag({options: ['ACTIVE', 'SUSPENDED', 'CLOSED'], description: 'Status'}),
    search: Flags.string({description: 'Substring of tenant id or name'}),
    ...listFlags,
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(TenantList)
    const admin = this.admin()
    const query = {status: flags.status, search: flags.search, limit: flags.limit, sort_by: 'tenant_id', sort_dir: 'asc'}
    const page = flags.all ? {items: await admin.all((cursor) => admin.listTenants({...query, cursor}))} : await admin.listTenants({...query, cursor: flags.cursor})
    const tenants = page.items
    if (this.jsonMode) this.printJson({tenants, ...('next_cursor' in page && page.next_cursor ? {next_cursor: page.next_cursor} : {})})
    else {
      if ('has_more' in page && page.has_more) this.note(`more: --cursor ${page.next_cursor} (or --all)`)
      this.out(tenants.length === 0 ? 'no tenants match' : table(['tenant', 'name', 'status', 'created'], tenants.map((t) => [t.tenant_id, t.name, statusText(t.status), t.created_at])))
    }
  }
}
