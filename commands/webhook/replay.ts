import {Args, Flags} from '@oclif/core'

import {instantFlag, sinceFlag, yesFlag} from '../../src/cli/flags.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {replayWindow} from '../../src/runbook/webhook-flows.js'

export default class WebhookReplay extends RunbookCommand {
  static override description = 'Re-send the events of a time window that the subscription missed (failed or never queued), in order, each once'
  static override examples = ['<%= config.bin %> webhook replay whsub_0123abcd --since 3h --yes', '<%= config.bin %> webhook replay whsub_0123abcd --from 2026-03-01T09:00:00Z --to 2026-03-01T12:00:00Z --max-events 1000']
  static override args = {id: Args.string({description: 'Subscription id', required: true})}
  static override flags = {
    since: sinceFlag('Start of the window'),
    from: instantFlag('Start of the window'),
    to: instantFlag('End of the window (default: now)'),
    events: Flags.string({description: 'Only these event types (comma-separated)'}),
    'max-events': Flags.integer({description: 'Refuse (400) when the window holds more events to send (1–1000, default 100)', min: 1, max: 1000}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(WebhookReplay)
    const window = replayWindow(flags)
    const admin = this.admin()
    const sub = await admin.getWebhook(args.id)
    await this.confirm(`replay ${window.from} … ${window.to} to ${sub.url}`, flags.yes)
    const accepted = await admin.replayWebhook(args.id, {
      ...window,
      ...(flags.events ? {event_types: flags.events.split(',').map((e) => e.trim()).filter(Boolean)} : {}),
      ...(flags['max-events'] ? {max_events: flags['max-events']} : {}),
    })
    if (this.jsonMode) this.printJson(accepted)
    else this.out(`replay ${accepted.replay_id}: ${accepted.events_queued} event(s) queued; follow with cycles webhook deliveries ${args.id}`)
  }
}
