import {Flags} from '@oclif/core'

import {humanAmount} from '../../src/cli/money.js'
import {scopeText, statusText, table} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {enumFlag, listFlags} from '../../src/cli/flags.js'

export default class ReservationList extends RunbookCommand {
  static override description = 'List reservations on the runtime plane (admin-on-behalf-of needs --tenant)'
  static override examples = ['<%= config.bin %> reservation list --tenant acme --status active', '<%= config.bin %> reservation list --tenant acme --all --json']
  static override flags = {
    tenant: Flags.string({description: 'Tenant id (required with the admin key)'}),
    status: enumFlag({options: ['ACTIVE', 'COMMITTED', 'RELEASED', 'EXPIRED'], description: 'Status'}),
    workspace: Flags.string({description: 'Subject filter'}),
    agent: Flags.string({description: 'Subject filter'}),
    ...listFlags,
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(ReservationList)
    const runtime = this.runtime()
    const query = {tenant: flags.tenant, status: flags.status, workspace: flags.workspace, agent: flags.agent, limit: flags.limit}
    const page = flags.all ? await runtime.listAllReservations(query) : await runtime.listReservations({...query, cursor: flags.cursor})
    if (this.jsonMode) this.printJson(page)
    else {
      const rows = page.reservations.map((r) => [
        r.reservation_id,
        statusText(r.status),
        scopeText(r.scope_path ?? ''),
        r.reserved ? humanAmount(r.reserved.amount, r.reserved.unit) : '',
        r.action ? `${r.action.kind} ${r.action.name}` : '',
        r.expires_at_ms ? new Date(r.expires_at_ms).toISOString() : '',
      ])
      this.out(rows.length === 0 ? 'no reservations match' : table(['reservation_id', 'status', 'scope', 'reserved', 'action', 'expires'], rows))
      if (page.has_more) this.note(`more: --cursor ${page.next_cursor}`)
    }
  }
}
