import {Args, Flags} from '@oclif/core'

import {requireExactConfirm} from '../../src/cli/confirm.js'
import {yesFlag} from '../../src/cli/flags.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class WebhookDelete extends RunbookCommand {
  static override description = 'Delete a webhook subscription — irreversible: its pending deliveries are cancelled. Needs --confirm <subscription_id>.'
  static override examples = ['<%= config.bin %> webhook delete whsub_0123abcd --confirm whsub_0123abcd']
  static override args = {id: Args.string({description: 'Subscription id', required: true})}
  static override flags = {
    confirm: Flags.string({description: 'Repeat the subscription id exactly to confirm'}),
    yes: yesFlag('Accepted for scripts; deleting is irreversible and still needs --confirm <subscription_id>'),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(WebhookDelete)
    requireExactConfirm(args.id, flags.confirm, `deleting webhook ${args.id}`)
    const admin = this.admin()
    const sub = await admin.getWebhook(args.id)
    await admin.deleteWebhook(args.id)
    if (this.jsonMode) this.printJson({deleted: sub.subscription_id, url: sub.url, tenant_id: sub.tenant_id})
    else this.out(`deleted ${sub.subscription_id} (${sub.url})`)
  }
}
