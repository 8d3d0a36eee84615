import {Args} from '@oclif/core'

import {EXIT} from '../../src/cli/errors.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class WebhookTest extends RunbookCommand {
  static override description = 'Send a signed system.webhook_test event to the receiver now and show its answer (status and failure count unchanged); exit 8 when it fails'
  static override examples = ['<%= config.bin %> webhook test whsub_0123abcd']
  static override args = {id: Args.string({description: 'Subscription id', required: true})}

  async run(): Promise<void> {
    const {args} = await this.parseRunbook(WebhookTest)
    const result = await this.admin().testWebhook(args.id)
    if (this.jsonMode) this.printJson(result)
    else this.out(`${result.success ? 'delivered' : 'FAILED'}: HTTP ${result.response_status ?? '-'} in ${result.response_time_ms ?? '?'} ms${result.error_message ? ` (${result.error_message})` : ''}, event ${result.event_id ?? '?'}`)
    if (!result.success) {
      if (!this.jsonMode) this.note(`fix the receiver or its URL (cycles webhook update ${args.id} --endpoint <url>), then test again`)
      process.exitCode = EXIT.GATE_FAILED
    }
  }
}
