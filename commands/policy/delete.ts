import {Args, Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {yesFlag} from '../../src/cli/flags.js'
import {deletePolicy} from '../../src/policies/policy-client.js'

export default class PolicyDelete extends RunbookCommand {
  static override description = 'Delete a policy (a cycles extension; `policy update --status DISABLED` keeps it)'
  static override examples = ['<%= config.bin %> policy delete pol_0abc --reason "replaced by pol_0abd" --yes']
  static override args = {id: Args.string({description: 'Policy id', required: true})}
  static override flags = {
    reason: Flags.string({description: 'Why (audited)'}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(PolicyDelete)
    await this.confirm(`delete policy ${args.id}`, flags.yes)
    const p = await deletePolicy(this.admin().http, args.id, flags.reason)
    if (this.jsonMode) this.printJson(p)
    else this.out(`policy ${p.policy_id} (${p.name}) deleted`)
  }
}
