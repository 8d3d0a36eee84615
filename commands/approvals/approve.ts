import {Args, Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {ApprovalsClient, describeApproval} from '../../src/client/approvals-client.js'

export default class ApprovalsApprove extends RunbookCommand {
  static override description = 'Approve a pending request: its grant admits exactly one matching reservation within its TTL. Audited with actor and reason.'
  static override examples = ['<%= config.bin %> approvals approve apr_0123456789abcdef0123_0000 --reason "refund for ticket 4411"']
  static override args = {id: Args.string({description: 'Approval request id', required: true})}
  static override flags = {
    reason: Flags.string({description: 'Why (kept in the audit log)'}),
    actor: Flags.string({description: 'Who approves (kept in the audit log)', env: 'USER'}),
    ttl: Flags.integer({description: 'Seconds the grant stays valid (default 3600, at most 86400)', min: 1, max: 86_400}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(ApprovalsApprove)
    const approval = await new ApprovalsClient(this.admin().http).approve(args.id, {
      ...(flags.reason ? {reason: flags.reason} : {}),
      ...(flags.actor ? {actor: flags.actor} : {}),
      ...(flags.ttl ? {ttl_seconds: flags.ttl} : {}),
    })
    if (this.jsonMode) this.printJson(approval)
    else for (const line of describeApproval(approval)) this.out(line)
  }
}
