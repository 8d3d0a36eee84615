// API-key runbook flows: one-time secrets and rotation (the API has no rotate endpoint: create a
// key for the same tenant and permissions, show its secret once, then revoke the old one).
import type {AdminClient, ApiKeyCreated, ApiKeyWire} from '../client/admin-client.js'
import {CliError, EXIT} from '../cli/errors.js'

export async function findKey(admin: AdminClient, keyId: string): Promise<ApiKeyWire> {
  const keys = await admin.all((cursor) => admin.listApiKeys({search: keyId, limit: 100, cursor}))
  const key = keys.find((k) => k.key_id === keyId)
  if (!key) throw new CliError('NOT_FOUND', `API key ${keyId} not found`, {exit: EXIT.NOT_FOUND, suggestions: ['cycles api-key list --tenant <id>']})
  return key
}

/** Print a new secret once: on stdout (in --json too), with the notice on stderr. */
export function showSecretOnce(created: ApiKeyCreated, json: boolean, out: (l: string) => void, note: (l: string) => void, extra: Record<string, unknown> = {}): void {
  if (json) out(JSON.stringify({...created, ...extra}, null, 2))
  else {
    out(`key_id:     ${created.key_id}`)
    out(`tenant:     ${created.tenant_id}`)
    out(`expires_at: ${created.expires_at}`)
    out(`key_secret: ${created.key_secret}`)
  }
  note('This secret will not be shown again: store it now (it is kept only as a hash).')
}
