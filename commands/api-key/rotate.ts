import {Args, Flags} from '@oclif/core'

import {CliError, EXIT} from '../../src/cli/errors.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {findKey, showSecretOnce} from '../../src/runbook/key-flows.js'
import {yesFlag} from '../../src/cli/flags.js'

export default class ApiKeyRotate extends RunbookCommand {
  static override description =
    'Rotate an API key: create a new key for the same tenant and permissions, print its secret once, then revoke the old key after confirmation'
  static override examples = ['<%= config.bin %> api-key rotate key_0123abcd', '<%= config.bin %> api-key rotate key_0123abcd --yes --reason "quarterly rotation"']
  static override args = {key_id: Args.string({description: 'Key id to replace', required: true})}
  static override flags = {
    reason: Flags.string({description: 'Revocation reason for the old key', default: 'rotated'}),
    yes: yesFlag('Revoke the old key without asking'),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(ApiKeyRotate)
    // Decide up front whether the old key can be revoked, so a script never ends with two live keys.
    if (!flags.yes && !process.stdin.isTTY) {
      throw new CliError('CONFIRMATION_REQUIRED', `refusing to rotate ${args.key_id} without confirmation: not an interactive terminal`, {
        exit: EXIT.USAGE,
        suggestions: ['re-run with --yes to create the new key and revoke the old one'],
      })
    }
    const admin = this.admin()
    const old = await findKey(admin, args.key_id)
    if (old.status !== 'ACTIVE') throw new CliError('KEY_NOT_ACTIVE', `key ${old.key_id} is ${old.status}; create a new key with cycles api-key create`, {exit: EXIT.CONFLICT})
    const created = await admin.createApiKey({
      tenant_id: old.tenant_id,
      name: `${old.name ?? old.key_id} (rotated)`,
      ...(old.permissions ? {permissions: old.permissions} : {}),
      ...(old.scope_filter ? {scope_filter: old.scope_filter} : {}),
    })
    // The new secret is shown before anything else can fail, so it is never lost.
    if (!this.jsonMode) showSecretOnce(created, false, (l) => this.out(l), (l) => this.note(l))
    let revoked = false
    let revokeError: string | undefined
    try {
      await this.confirm(`revoke the old key ${old.key_id} now (deploy the new secret first)`, flags.yes)
      await admin.revokeApiKey(old.key_id, flags.reason)
      revoked = true
    } catch (error) {
      revokeError = error instanceof CliError ? `${error.code}: ${error.message}` : String(error)
    }
    if (this.jsonMode) {
      showSecretOnce(created, true, (l) => this.out(l), (l) => this.note(l), {replaced_key_id: old.key_id, old_key_revoked: revoked, ...(revokeError ? {revoke_error: revokeError} : {})})
    } else if (revoked) this.note(`old key ${old.key_id} revoked`)
    else this.note(`old key ${old.key_id} is still ACTIVE (${revokeError}): revoke it with cycles api-key revoke ${old.key_id}`)
    if (!revoked) process.exitCode = EXIT.ERROR
  }
}
