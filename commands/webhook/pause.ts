import {Args, Flags} from '@oclif/core'

import {yesFlag} from '../../src/cli/flags.js'
import {statusText} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class WebhookPause extends RunbookCommand {
  static override description = 'Pause a webhook subscription: events until it is resumed are dropped, not queued (asks first)'
  static override examples = ['<%= config.bin %> webhook pause whsub_0123abcd --reason "receiver maintenance" --yes']
  static override args = {id: Args.string({description: 'Subscription id', required: true})}
  static override flags = {
    reason: Flags.string({description: 'Why (kept in the audit log)'}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(WebhookPause)
    const admin = this.admin()
    const sub = await admin.getWebhook(args.id)
    if (!this.jsonMode) this.note(`${sub.subscription_id} (${sub.url}) is ${sub.status}`)
    await this.confirm('pause webhook ' + sub.subscription_id, flags.yes)
    const updated = await admin.updateWebhook(args.id, {status: 'PAUSED'}, flags.reason)
    if (this.jsonMode) this.printJson(updated)
    else this.out(`${updated.subscription_id} is now ${statusText(updated.status)}`)
  }
}
