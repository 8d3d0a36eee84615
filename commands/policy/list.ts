import {Flags} from '@oclif/core'

import {statusText, table} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {enumFlag} from '../../src/cli/flags.js'
import {listPolicies, rulesSummary} from '../../src/policies/policy-client.js'

export default class PolicyList extends RunbookCommand {
  static override description = "List a tenant's policies (highest priority first)"
  static override examples = ['<%= config.bin %> policy list --tenant acme', '<%= config.bin %> policy list --tenant acme --status ACTIVE --json']
  static override flags = {
    tenant: Flags.string({description: 'Tenant id', required: true}),
    status: enumFlag({options: ['ACTIVE', 'DISABLED'], description: 'Status'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(PolicyList)
    const policies = (await listPolicies(this.admin().http, flags.tenant, flags.status)).sort((a, b) => b.priority - a.priority)
    if (this.jsonMode) this.printJson({policies})
    else this.out(policies.length === 0 ? 'no policies' : table(['policy', 'name', 'scope pattern', 'priority', 'status', 'rules'], policies.map((p) => [p.policy_id, p.name, p.scope_pattern, p.priority, statusText(p.status), rulesSummary(p)])))
  }
}
