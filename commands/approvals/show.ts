import {Args} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {ApprovalsClient, describeApproval} from '../../src/client/approvals-client.js'

export default class ApprovalsShow extends RunbookCommand {
  static override description = 'Show one approval request (a cycles extension)'
  static override examples = ['<%= config.bin %> approvals show apr_0123456789abcdef0123_0000']
  static override args = {id: Args.string({description: 'Approval request id (from approvals list or the denial message)', required: true})}

  async run(): Promise<void> {
    const {args} = await this.parseRunbook(ApprovalsShow)
    const approval = await new ApprovalsClient(this.admin().http).show(args.id)
    if (this.jsonMode) this.printJson(approval)
    else for (const line of describeApproval(approval)) this.out(line)
  }
}
