import {Flags} from '@oclif/core'

import {enumFlag, instantFlag, listFlags, sinceFlag} from '../../src/cli/flags.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {EVENT_CATEGORIES} from '../../src/events/event.js'
import {eventQuery, eventRows} from '../../src/events/cli.js'

export const eventFilterFlags = {
  tenant: Flags.string({description: 'Tenant id (__system__ for system events)'}),
  type: Flags.string({description: 'Event type, e.g. budget.threshold_crossed'}),
  category: enumFlag({options: EVENT_CATEGORIES, description: 'Event category'}),
  scope: Flags.string({description: 'Scope prefix, e.g. tenant:acme/workspace:prod'}),
  'correlation-id': Flags.string({description: 'Correlation id (events of one operation)'}),
  'trace-id': Flags.string({description: 'Trace id (32 hex) of one operation'}),
  'request-id': Flags.string({description: 'Request id'}),
  search: Flags.string({description: 'Substring of the scope or correlation id'}),
}

export default class EventsList extends RunbookCommand {
  static override description = 'Query the event log (newest first): budget, reservation, tenant, API key and system events'
  static override examples = [
    '<%= config.bin %> events list --since 1h',
    '<%= config.bin %> events list --type budget.threshold_crossed --tenant acme',
    '<%= config.bin %> events list --category reservation --scope tenant:acme/workspace:prod --json',
  ]
  static override flags = {
    ...eventFilterFlags,
    since: sinceFlag('Only events since then'),
    from: instantFlag('Only events at or after'),
    to: instantFlag('Only events at or before'),
    ...listFlags,
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(EventsList)
    const query = eventQuery(flags)
    const admin = this.admin()
    let events
    let next: string | undefined
    if (flags.all) events = await admin.all((cursor) => admin.listEvents({...query, cursor}))
    else {
      const page = await admin.listEvents({...query, cursor: flags.cursor})
      events = page.items
      next = page.has_more ? page.next_cursor : undefined
    }
    if (this.jsonMode) this.printJson({events, ...(next ? {next_cursor: next} : {})})
    else {
      this.out(events.length === 0 ? 'no events match' : eventRows(events))
      if (next) this.note(`more: --cursor ${next} (or --all)`)
    }
  }
}
