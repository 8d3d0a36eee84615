import {Args} from '@oclif/core'

import {yesFlag} from '../../src/cli/flags.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {rotateSecret, showWebhookSecretOnce} from '../../src/runbook/webhook-flows.js'

export default class WebhookRotateSecret extends RunbookCommand {
  static override description = 'Give a webhook subscription a new signing secret (whsec_ + 64 hex), printed once; let the receiver accept the old one too until retries drain'
  static override examples = ['<%= config.bin %> webhook rotate-secret whsub_0123abcd --yes']
  static override args = {id: Args.string({description: 'Subscription id', required: true})}
  static override flags = {yes: yesFlag()}

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(WebhookRotateSecret)
    const admin = this.admin()
    const sub = await admin.getWebhook(args.id)
    await this.confirm(`rotate the signing secret of ${sub.subscription_id} (${sub.url}); deliveries are signed with the new one from now on`, flags.yes)
    showWebhookSecretOnce(await rotateSecret(admin, args.id), this.jsonMode, (l) => this.out(l), (l) => this.note(l))
  }
}
