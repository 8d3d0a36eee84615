import {Args, Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {enumFlag, yesFlag} from '../../src/cli/flags.js'
import {policyFile, rulesSummary, updatePolicy} from '../../src/policies/policy-client.js'

export default class PolicyUpdate extends RunbookCommand {
  static override description = 'Update a policy (lists in the file replace the stored ones)'
  static override examples = ['<%= config.bin %> policy update pol_0abc --status DISABLED', '<%= config.bin %> policy update pol_0abc --file quotas.yaml']
  static override args = {id: Args.string({description: 'Policy id', required: true})}
  static override flags = {
    status: enumFlag({options: ['ACTIVE', 'DISABLED'], description: 'Enable or disable'}),
    priority: Flags.integer({description: 'Higher wins', min: 0}),
    file: Flags.string({description: 'YAML/JSON file with the fields to change'}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(PolicyUpdate)
    const body = {...policyFile(flags.file), ...(flags.status ? {status: flags.status} : {}), ...(flags.priority === undefined ? {} : {priority: flags.priority})}
    await this.confirm(`update policy ${args.id} (${Object.keys(body).join(', ') || 'nothing'})`, flags.yes)
    const p = await updatePolicy(this.admin().http, args.id, body)
    if (this.jsonMode) this.printJson(p)
    else this.out(`policy ${p.policy_id} is ${p.status}, priority ${p.priority}: ${rulesSummary(p)}`)
  }
}
