import {Args, Flags} from '@oclif/core'

import {urlFlag, yesFlag} from '../../src/cli/flags.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {webhookBody} from '../../src/runbook/webhook-flows.js'
import {webhookFlags} from './create.js'

export default class WebhookUpdate extends RunbookCommand {
  static override description = 'Change a webhook subscription: URL, event types, filters, headers, retry and disable settings'
  static override examples = ['<%= config.bin %> webhook update whsub_0123abcd --endpoint https://sink-v2.example.com/cycles --reason "sink moved"']
  static override args = {id: Args.string({description: 'Subscription id', required: true})}
  static override flags = {
    endpoint: urlFlag({description: 'New receiver URL'}),
    ...webhookFlags,
    reason: Flags.string({description: 'Why (kept in the audit log)'}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(WebhookUpdate)
    const body = webhookBody(flags)
    if (Object.keys(body).length === 0) this.error('nothing to change: pass at least one of --endpoint, --events, --categories, --scope-filter, --name, --header, --max-retries, --disable-after', {exit: 2})
    const updated = await this.admin().updateWebhook(args.id, body, flags.reason)
    if (this.jsonMode) this.printJson(updated)
    else this.out(`${updated.subscription_id}: ${updated.status}, ${updated.url}`)
  }
}
