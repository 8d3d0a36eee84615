import {Args, Flags} from '@oclif/core'

import {statusText} from '../../src/cli/render.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {findKey} from '../../src/runbook/key-flows.js'
import {yesFlag} from '../../src/cli/flags.js'

export default class ApiKeyRevoke extends RunbookCommand {
  static override description = 'Revoke an API key: the very next runtime request with it gets 401 (asks first)'
  static override examples = ['<%= config.bin %> api-key revoke key_0123abcd --reason "leaked in CI logs" --yes']
  static override args = {key_id: Args.string({description: 'Key id', required: true})}
  static override flags = {
    reason: Flags.string({description: 'Why (kept on the key and in the audit log)'}),
    yes: yesFlag('Do not ask for confirmation'),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(ApiKeyRevoke)
    const admin = this.admin()
    const key = await findKey(admin, args.key_id)
    if (!this.jsonMode) this.note(`key ${key.key_id} (${key.name ?? 'unnamed'}, prefix ${key.key_prefix}) of tenant ${key.tenant_id} is ${key.status}`)
    await this.confirm(`revoke API key ${key.key_id} of tenant ${key.tenant_id} (every agent using it gets 401 at once)`, flags.yes)
    const revoked = await admin.revokeApiKey(key.key_id, flags.reason)
    if (this.jsonMode) this.printJson(revoked)
    else this.out(`key ${revoked.key_id} is now ${statusText(revoked.status)}`)
  }
}
