import {Flags} from '@oclif/core'

import {sinceFlag} from '../../src/cli/flags.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {eventLine, eventQuery, tailEvents} from '../../src/events/cli.js'
import {eventFilterFlags} from './list.js'

export default class EventsTail extends RunbookCommand {
  static override description = 'Follow new events as they happen, one line each (polls; Ctrl-C to stop; --json: one JSON object per line)'
  static override examples = ['<%= config.bin %> events tail', '<%= config.bin %> events tail --category budget --tenant acme', '<%= config.bin %> events tail --json | jq .event_type']
  static override flags = {
    ...eventFilterFlags,
    since: sinceFlag('Also show events since then first'),
    interval: Flags.integer({description: 'Seconds between polls', default: 2, min: 1}),
    duration: Flags.integer({description: 'Stop after this many seconds (default: run until interrupted)', min: 1}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(EventsTail)
    let stop = false
    process.once('SIGINT', () => {
      stop = true
    })
    await tailEvents({
      admin: this.admin(),
      query: eventQuery(flags),
      intervalMs: flags.interval * 1000,
      ...(flags.duration === undefined ? {} : {durationMs: flags.duration * 1000}),
      stopped: () => stop,
      onEvent: (e) => (this.jsonMode ? process.stdout.write(`${JSON.stringify(e)}\n`) : this.out(eventLine(e))),
    })
  }
}
