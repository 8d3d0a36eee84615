import {Flags} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {yesFlag} from '../../src/cli/flags.js'
import {createPolicy, policyFile, rulesSummary} from '../../src/policies/policy-client.js'

export default class PolicyCreate extends RunbookCommand {
  static override description = 'Create a policy; further fields (quotas, access lists, caps, rate limits) from a YAML/JSON file'
  static override examples = ['<%= config.bin %> policy create --tenant acme --name sandbox --scope-pattern "tenant:acme/workspace:sandbox/*" --file sandbox.yaml']
  static override flags = {
    tenant: Flags.string({description: 'Tenant id', required: true}),
    name: Flags.string({description: 'Policy name (unique per tenant)', required: true}),
    'scope-pattern': Flags.string({description: 'Scope pattern, e.g. tenant:acme/* or agent:*', required: true}),
    priority: Flags.integer({description: 'Higher wins', min: 0}),
    file: Flags.string({description: 'YAML/JSON file with more PolicyCreateRequest fields'}),
    yes: yesFlag(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(PolicyCreate)
    const body = {...policyFile(flags.file), tenant_id: flags.tenant, name: flags.name, scope_pattern: flags['scope-pattern'], ...(flags.priority === undefined ? {} : {priority: flags.priority})}
    const p = await createPolicy(this.admin().http, body)
    if (this.jsonMode) this.printJson(p)
    else this.out(`policy ${p.policy_id} (${p.name}) on ${p.scope_pattern}, priority ${p.priority}: ${rulesSummary(p)}`)
  }
}
