import {Args} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {eventDetail} from '../../src/events/cli.js'

export default class EventsShow extends RunbookCommand {
  static override description = 'Show one event with its full payload'
  static override examples = ['<%= config.bin %> events show evt_0mfy2k3ab0000a1b2c3d4']
  static override args = {id: Args.string({description: 'Event id (evt_…)', required: true})}

  async run(): Promise<void> {
    const {args} = await this.parseRunbook(EventsShow)
    const event = await this.admin().getEvent(args.id)
    if (this.jsonMode) this.printJson(event)
    else this.out(eventDetail(event))
  }
}
