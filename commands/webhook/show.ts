import {Args} from '@oclif/core'

import {statusText, table} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class WebhookShow extends RunbookCommand {
  static override description = 'Show one webhook subscription (secret and header values masked) and its latest deliveries'
  static override examples = ['<%= config.bin %> webhook show whsub_0123abcd']
  static override args = {id: Args.string({description: 'Subscription id', required: true})}

  async run(): Promise<void> {
    const {args} = await this.parseRunbook(WebhookShow)
    const admin = this.admin()
    const [subscription, recent] = await Promise.all([admin.getWebhook(args.id), admin.listDeliveries(args.id, {limit: 5})])
    if (this.jsonMode) {
      this.printJson({subscription, recent_deliveries: recent.items})
      return
    }
    const s = subscription
    this.out(`${s.subscription_id} (${s.name ?? 'unnamed'}) of tenant ${s.tenant_id}: ${statusText(s.status)}`)
    this.out(`url:      ${s.url}`)
    this.out(`events:   ${[...s.event_types, ...(s.event_categories ?? []).map((c) => `${c}.*`)].join(', ')}${s.scope_filter ? ` (scope ${s.scope_filter})` : ''}`)
    this.out(`failures: ${s.consecutive_failures ?? 0} in a row (disabled at ${s.disable_after_failures ?? 10}); last success ${s.last_success_at ?? 'never'}, last failure ${s.last_failure_at ?? 'never'}`)
    if (s.headers) this.out(`headers:  ${Object.keys(s.headers).join(', ')} (values masked)`)
    this.out('')
    this.out(recent.items.length === 0 ? 'no deliveries yet' : table(['attempted', 'event', 'status', 'attempts', 'http', 'ms', 'error'], recent.items.map((d) => [d.attempted_at, d.event_type ?? d.event_id, d.status, d.attempts ?? '', d.response_status ?? '', d.response_time_ms ?? '', d.error_message ?? ''])))
  }
}
