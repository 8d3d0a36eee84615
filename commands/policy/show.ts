import {Args} from '@oclif/core'

import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {getPolicy} from '../../src/policies/policy-client.js'

export default class PolicyShow extends RunbookCommand {
  static override description = 'Show one policy'
  static override examples = ['<%= config.bin %> policy show pol_0abc --json']
  static override args = {id: Args.string({description: 'Policy id', required: true})}

  async run(): Promise<void> {
    const {args} = await this.parseRunbook(PolicyShow)
    const p = await getPolicy(this.admin().http, args.id)
    if (this.jsonMode) this.printJson(p)
    else for (const [k, v] of Object.entries(p)) this.out(`${k.padEnd(24)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
  }
}
