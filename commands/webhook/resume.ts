import {Args, Flags} from '@oclif/core'

import {yesFlag} from '../../src/cli/flags.js'
import {statusText} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class WebhookResume extends RunbookCommand {
  static override description = 'Resume (or re-enable a DISABLED) webhook subscription; its failure count starts at 0'
  static override examples = ['<%= config.bin %> webhook resume whsub_0123abcd --reason "receiver maintenance" --yes']
  static override args = {id: Args.string({description: 'Subscription id', required: true})}
  static override flags = {
    reason: Flags.string({description: 'Why (kept in the audit log)'}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(WebhookResume)
    const admin = this.admin()
    const sub = await admin.getWebhook(args.id)
    if (!this.jsonMode) this.note(`${sub.subscription_id} (${sub.url}) is ${sub.status}`)
    await this.confirm('resume webhook ' + sub.subscription_id, flags.yes)
    const updated = await admin.updateWebhook(args.id, {status: 'ACTIVE'}, flags.reason)
    if (this.jsonMode) this.printJson(updated)
    else this.out(`${updated.subscription_id} is now ${statusText(updated.status)}`)
  }
}
