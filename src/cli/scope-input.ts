// Scope grammar checked before any call: canonical levels and order, a suggestion for typos such as
// `agents:` → `agent:`, lower-cased with a notice (the server lower-cases scopes too).
import {ScopeSyntaxError, parseScope, scopeTenant} from '../protocol/scope.js'
import {CliError, EXIT} from './errors.js'

export function checkScope(input: string, note?: (line: string) => void): string {
  try {
    const scope = parseScope(input)
    if (scope !== input.trim() && note) note(`note: scope normalised to ${scope}`)
    return scope
  } catch (error) {
    if (error instanceof ScopeSyntaxError) {
      throw new CliError('INVALID_SCOPE', error.message, {exit: EXIT.USAGE, suggestions: error.suggestion ? [error.suggestion] : []})
    }
    throw error
  }
}

export function tenantOfScope(scope: string): string {
  return scopeTenant(scope)!
}

const TENANT_ID = /^[a-z0-9-]{3,64}$/
export function checkTenantId(id: string): string {
  if (!TENANT_ID.test(id)) {
    throw new CliError('USAGE', `tenant id '${id}' must be 3–64 characters of a-z, 0-9 and -`, {exit: EXIT.USAGE})
  }
  return id
}
