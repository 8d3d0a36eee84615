import {Flags} from '@oclif/core'

import {auditRows} from '../../src/cli/render.js'
import {sinceFlag} from '../../src/cli/flags.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {AUDIT_RESOURCE_TYPES} from '../../src/admin/audit.js'
import {auditQuery} from '../../src/runbook/audit-query.js'

export const auditFilterFlags = {
  tenant: Flags.string({description: 'Tenant id (__admin__ / __unauth__ for admin and unauthenticated rows)'}),
  'resource-type': Flags.string({description: `${AUDIT_RESOURCE_TYPES.join(', ')} (comma-separated)`}),
  'resource-id': Flags.string({description: 'Resource id (fund rows: <scope>:<unit>; freeze rows: ledger id)'}),
  operation: Flags.string({description: 'e.g. fundBudget,revokeApiKey or POST:/v1/admin/budgets for failed requests (comma-separated; an unknown name is an error listing the valid ones)'}),
  status: Flags.integer({description: 'Exact HTTP status'}),
  'status-min': Flags.integer({description: 'Lowest HTTP status'}),
  'status-max': Flags.integer({description: 'Highest HTTP status'}),
  'error-code': Flags.string({description: 'Error codes (comma-separated)'}),
  'trace-id': Flags.string({description: 'Trace id (32 hex) of one operation'}),
  'request-id': Flags.string({description: 'Request id'}),
  'key-id': Flags.string({description: 'Key id'}),
}

export default class AuditList extends RunbookCommand {
  static override description = 'Query the admin audit log (newest first): who (actor), what (operation, resource, amount), why (reason)'
  static override examples = [
    '<%= config.bin %> audit list --resource-type api_key --since 1h',
    '<%= config.bin %> audit list --tenant __unauth__ --status 401 --since 1d',
    '<%= config.bin %> audit list --trace-id 0af7651916cd43dd8448eb211c80319c',
    '<%= config.bin %> audit list --operation fundBudget --since 7d',
  ]
  static override flags = {
    ...auditFilterFlags,
    since: sinceFlag('Only entries since then'),
    from: Flags.string({description: 'From date-time'}),
    to: Flags.string({description: 'To date-time'}),
    limit: Flags.integer({default: 50, min: 1, max: 100, description: 'Page size'}),
    cursor: Flags.string({description: 'Continue from a next_cursor'}),
    all: Flags.boolean({default: false, description: 'Follow next_cursor to the end'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(AuditList)
    const query = auditQuery(flags)
    const admin = this.admin()
    let logs
    let next: string | undefined
    if (flags.all) {
      const seen = new Set<string>()
      logs = (await admin.all((cursor) => admin.listAudit({...query, cursor}))).filter((l) => !seen.has(l.log_id) && seen.add(l.log_id))
    } else {
      const page = await admin.listAudit({...query, cursor: flags.cursor})
      logs = page.items
      next = page.has_more ? page.next_cursor : undefined
    }
    if (this.jsonMode) this.printJson({logs, ...(next ? {next_cursor: next} : {})})
    else {
      this.out(logs.length === 0 ? 'no audit entries match' : auditRows(logs))
      if (next) this.note(`more: --cursor ${next} (or --all)`)
    }
  }
}
