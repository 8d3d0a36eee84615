import {Args, Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {ApprovalsClient, describeApproval} from '../../src/client/approvals-client.js'

export default class ApprovalsReject extends RunbookCommand {
  static override description = 'Reject a pending request: identical reservations are denied with it for 24 h. Audited with actor and reason.'
  static override examples = ['<%= config.bin %> approvals reject apr_0123456789abcdef0123_0000 --reason "no payments during the freeze"']
  static override args = {id: Args.string({description: 'Approval request id', required: true})}
  static override flags = {
    reason: Flags.string({description: 'Why (required; kept in the audit log and shown to the denied caller)', required: true}),
    actor: Flags.string({description: 'Who rejects (kept in the audit log)', env: 'USER'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(ApprovalsReject)
    const approval = await new ApprovalsClient(this.admin().http).reject(args.id, {reason: flags.reason, ...(flags.actor ? {actor: flags.actor} : {})})
    if (this.jsonMode) this.printJson(approval)
    else for (const line of describeApproval(approval)) this.out(line)
  }
}
