import {Args} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class ReservationShow extends RunbookCommand {
  static override description = 'Show one reservation (runtime plane)'
  static override examples = ['<%= config.bin %> reservation show 6f1c2a90-…']
  static override args = {id: Args.string({description: 'Reservation id', required: true})}

  async run(): Promise<void> {
    const {args} = await this.parseRunbook(ReservationShow)
    const r = await this.runtime().getReservation(args.id)
    if (this.jsonMode) this.printJson(r)
    else for (const [k, v] of Object.entries(r)) this.out(`${k.padEnd(18)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
  }
}
