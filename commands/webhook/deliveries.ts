import {Args} from '@oclif/core'

import {enumFlag, instantFlag, listFlags, sinceFlag} from '../../src/cli/flags.js'
import {table} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class WebhookDeliveries extends RunbookCommand {
  static override description = 'Delivery history of a webhook subscription, newest first: status, attempts, HTTP status, time and error of each'
  static override examples = ['<%= config.bin %> webhook deliveries whsub_0123abcd --status failed --since 3h']
  static override args = {id: Args.string({description: 'Subscription id', required: true})}
  static override flags = {
    status: enumFlag({options: ['PENDING', 'SUCCESS', 'FAILED', 'RETRYING'], description: 'Status'}),
    since: sinceFlag('Only deliveries attempted since then'),
    until: instantFlag('Only deliveries attempted until then'),
    ...listFlags,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(WebhookDeliveries)
    const admin = this.admin()
    const query = {status: flags.status, from: flags.since, to: flags.until, limit: flags.limit}
    const page = flags.all ? {items: await admin.all((cursor) => admin.listDeliveries(args.id, {...query, cursor}))} : await admin.listDeliveries(args.id, {...query, cursor: flags.cursor})
    const deliveries = page.items
    if (this.jsonMode) {
      this.printJson({deliveries, ...('next_cursor' in page && page.next_cursor ? {next_cursor: page.next_cursor} : {})})
      return
    }
    if ('has_more' in page && page.has_more) this.note(`more: --cursor ${page.next_cursor} (or --all)`)
    const failed = deliveries.filter((d) => d.status === 'FAILED').length
    this.out(
      deliveries.length === 0
        ? 'no deliveries match'
        : table(
            ['attempted', 'event_id', 'type', 'status', 'attempts', 'http', 'ms', 'next retry', 'error'],
            deliveries.map((d) => [d.attempted_at, d.event_id, d.event_type ?? '', d.status, d.attempts ?? '', d.response_status ?? '', d.response_time_ms ?? '', d.next_retry_at ?? '', d.error_message ?? '']),
          ),
    )
    if (failed > 0) this.note(`${failed} failed: once the receiver works, cycles webhook replay ${args.id} --since <window> re-sends what it missed`)
  }
}
