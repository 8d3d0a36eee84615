import {Flags} from '@oclif/core'

import {enumFlag, listFlags} from '../../src/cli/flags.js'
import {statusText, table} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class WebhookList extends RunbookCommand {
  static override description = 'List webhook subscriptions, most failing first (never their secrets)'
  static override examples = ['<%= config.bin %> webhook list --tenant acme', '<%= config.bin %> webhook list --status disabled --json']
  static override flags = {
    tenant: Flags.string({description: 'Tenant id (__system__ for system-wide ones; omit for all)'}),
    status: enumFlag({options: ['ACTIVE', 'PAUSED', 'DISABLED'], description: 'Status'}),
    'event-type': Flags.string({description: 'Only subscriptions to this event type'}),
    search: Flags.string({description: 'Substring of the subscription id or URL'}),
    ...listFlags,
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(WebhookList)
    const admin = this.admin()
    const query = {tenant_id: flags.tenant, status: flags.status, event_type: flags['event-type'], search: flags.search, limit: flags.limit}
    const page = flags.all ? {items: await admin.all((cursor) => admin.listWebhooks({...query, cursor}))} : await admin.listWebhooks({...query, cursor: flags.cursor})
    const subscriptions = page.items
    if (this.jsonMode) {
      this.printJson({subscriptions, ...('next_cursor' in page && page.next_cursor ? {next_cursor: page.next_cursor} : {})})
      return
    }
    if ('has_more' in page && page.has_more) this.note(`more: --cursor ${page.next_cursor} (or --all)`)
    this.out(
      subscriptions.length === 0
        ? 'no webhook subscriptions match'
        : table(
            ['subscription_id', 'tenant', 'status', 'failures', 'last failure', 'url', 'events'],
            subscriptions.map((s) => [s.subscription_id, s.tenant_id, statusText(s.status), s.consecutive_failures ?? 0, s.last_failure_at ?? '', s.url, [...s.event_types, ...(s.event_categories ?? []).map((c) => `${c}.*`)].join(',')]),
          ),
    )
  }
}
