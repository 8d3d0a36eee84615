import {Args} from '@oclif/core'

import {statusText} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'

export default class TenantShow extends RunbookCommand {
  static override description = 'Show one tenant'
  static override examples = ['<%= config.bin %> tenant show acme', '<%= config.bin %> tenant show acme --json']
  static override args = {id: Args.string({description: 'Tenant id', required: true})}

  async run(): Promise<void> {
    const {args} = await this.parseRunbook(TenantShow)
    const t = await this.admin().getTenant(args.id)
    if (this.jsonMode) this.printJson(t)
    else for (const [k, v] of Object.entries(t)) this.out(`${k.padEnd(28)} ${k === 'status' ? statusText(String(v)) : typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
  }
}
