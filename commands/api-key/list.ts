import {Flags} from '@oclif/core'

import {statusText, table} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {enumFlag, listFlags} from '../../src/cli/flags.js'

export default class ApiKeyList extends RunbookCommand {
  static override description = 'List API keys (never their secrets)'
  static override examples = ['<%= config.bin %> api-key list --tenant acme --status active', '<%= config.bin %> api-key list --all --json']
  static override flags = {
    tenant: Flags.string({description: 'Tenant id (omit for every tenant)'}),
    status: enumFlag({options: ['ACTIVE', 'REVOKED', 'EXPIRED'], description: 'Status'}),
    ...listFlags,
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(ApiKeyList)
    const admin = this.admin()
    const query = {tenant_id: flags.tenant, status: flags.status, limit: flags.limit}
    const page = flags.all ? {items: await admin.all((cursor) => admin.listApiKeys({...query, cursor}))} : await admin.listApiKeys({...query, cursor: flags.cursor})
    const keys = page.items
    if (this.jsonMode) this.printJson({keys, ...('next_cursor' in page && page.next_cursor ? {next_cursor: page.next_cursor} : {})})
    else {
      if ('has_more' in page && page.has_more) this.note(`more: --cursor ${page.next_cursor} (or --all)`)
      this.out(
        keys.length === 0
          ? 'no keys match'
          : table(['key_id', 'tenant', 'name', 'prefix', 'status', 'expires'], keys.map((k) => [k.key_id, k.tenant_id, k.name ?? '', k.key_prefix, statusText(k.status), k.expires_at])),
      )
    }
  }
}
