import {Flags} from '@oclif/core'

import {APPROVAL_STATUSES} from '../../src/approvals/requests.js'
import {humanAmount} from '../../src/cli/money.js'
import {scopeText, statusText, table} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {enumFlag, listFlags} from '../../src/cli/flags.js'
import {type ApprovalPage, ApprovalsClient} from '../../src/client/approvals-client.js'

export default class ApprovalsList extends RunbookCommand {
  static override description = 'List approval requests (a cycles extension): reservations for action kinds that need approval, newest first'
  static override examples = ['<%= config.bin %> approvals list --status PENDING', '<%= config.bin %> approvals list --tenant acme --all --json']
  static override flags = {
    tenant: Flags.string({description: 'Only this tenant'}),
    status: enumFlag({options: APPROVAL_STATUSES, description: 'Only this status'}),
    ...listFlags,
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(ApprovalsList)
    const client = new ApprovalsClient(this.admin().http)
    const query = {tenant_id: flags.tenant, status: flags.status, limit: flags.limit}
    let page: ApprovalPage = await client.list({...query, cursor: flags.cursor})
    if (flags.all) {
      const approvals = [...page.approvals]
      while (page.has_more && page.next_cursor) {
        page = await client.list({...query, cursor: page.next_cursor})
        approvals.push(...page.approvals)
      }
      page = {approvals, has_more: false}
    }
    if (this.jsonMode) this.printJson(page)
    else {
      const rows = page.approvals.map((a) => [a.request_id, statusText(a.status), scopeText(a.subject), a.action_kind, humanAmount(a.estimate.amount, a.estimate.unit), a.requested_at ?? ''])
      this.out(rows.length === 0 ? 'no approval requests match' : table(['request_id', 'status', 'subject', 'action', 'estimate', 'requested'], rows))
      if (page.has_more) this.note(`more: --cursor ${page.next_cursor}`)
    }
  }
}
