import {randomUUID} from 'node:crypto'

import {Args, Flags} from '@oclif/core'

import {formatAmount} from '../../src/cli/money.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {yesFlag} from '../../src/cli/flags.js'

export default class ReservationRelease extends RunbookCommand {
  static override description = 'Force-release a reservation, returning its hold to the budget (admin-on-behalf-of; asks first)'
  static override examples = ['<%= config.bin %> reservation release 6f1c… --reason "[INCIDENT_FORCE_RELEASE] stuck agent" --yes']
  static override args = {id: Args.string({description: 'Reservation id', required: true})}
  static override flags = {
    reason: Flags.string({description: 'Why (name the incident)', required: true}),
    'idempotency-key': Flags.string({description: 'Reuse to retry safely (generated and printed when omitted)'}),
    yes: yesFlag('Do not ask for confirmation'),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(ReservationRelease)
    const runtime = this.runtime()
    const r = await runtime.getReservation(args.id)
    if (!this.jsonMode) this.note(`reservation ${r.reservation_id} is ${r.status} on ${r.scope_path ?? '?'}${r.reserved ? `, holding ${formatAmount(r.reserved.amount, r.reserved.unit)}` : ''}`)
    await this.confirm(`release reservation ${r.reservation_id}`, flags.yes)
    const key = flags['idempotency-key'] ?? `cli-release-${randomUUID()}`
    this.note(`idempotency key: ${key}`)
    const result = await runtime.release(args.id, {idempotency_key: key, reason: flags.reason})
    if (this.jsonMode) this.printJson({reservation_id: args.id, idempotency_key: key, result})
    else this.out(`reservation ${args.id} is now ${String(result.status)}`)
  }
}
