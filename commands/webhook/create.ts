import {Flags} from '@oclif/core'

import {urlFlag} from '../../src/cli/flags.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {showWebhookSecretOnce, webhookBody} from '../../src/runbook/webhook-flows.js'
import {yesFlag} from '../../src/cli/flags.js'

export const webhookFlags = {
  events: Flags.string({description: 'Comma-separated event types, e.g. reservation.denied,budget.exhausted'}),
  categories: Flags.string({description: 'Comma-separated event categories (all their types), e.g. budget'}),
  'scope-filter': Flags.string({description: 'Only events under this scope, e.g. tenant:acme/workspace:prod/*'}),
  name: Flags.string({description: 'Name'}),
  description: Flags.string({description: 'Description'}),
  header: Flags.string({description: 'Custom header Name=value sent with every delivery (repeatable; stored encrypted)', multiple: true}),
  'max-retries': Flags.integer({description: 'Retries after a failed attempt (0–10, default 5: after 1, 2, 4, 8, 16 s)', min: 0, max: 10}),
  'disable-after': Flags.integer({description: 'Failed deliveries in a row before the subscription is disabled (default 10)', min: 1}),
}

export default class WebhookCreate extends RunbookCommand {
  static override description = 'Create a webhook subscription; its signing secret is printed once on stdout and never again'
  static override examples = [
    '<%= config.bin %> webhook create --tenant acme --endpoint https://sink.example.com/cycles --events reservation.denied,budget.exhausted',
    '<%= config.bin %> webhook create --endpoint https://ops.example.com/hook --events api_key.revoked --categories system   # system-wide',
  ]
  static override flags = {
    tenant: Flags.string({description: 'Owning tenant (omit for a system-wide subscription, which may also select admin-only events)'}),
    endpoint: urlFlag({description: 'Receiver URL (https; http only where the server allows it). Not --url: that is the runtime API'}),
    ...webhookFlags,
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(WebhookCreate)
    const body = webhookBody(flags)
    if (!body.url) this.error('--endpoint is required (the receiver URL)', {exit: 2})
    if (!body.event_types) this.error('--events is required (at least one event type)', {exit: 2})
    const created = await this.admin().createWebhook(flags.tenant, body)
    showWebhookSecretOnce(created, this.jsonMode, (l) => this.out(l), (l) => this.note(l))
  }
}
