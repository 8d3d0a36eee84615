// Audit flags → the admin API's audit query.
import {distance} from 'fastest-levenshtein'

import {CliError, EXIT} from '../cli/errors.js'
import {sinceInstant} from '../cli/flags.js'
import {AUDIT_FAILURE_OPERATION, AUDIT_OPERATIONS, AUDIT_RESOURCE_TYPES} from '../admin/audit.js'
import {parseInstant} from './duration.js'

export interface AuditFlags {
  tenant?: string
  'resource-type'?: string
  'resource-id'?: string
  operation?: string
  status?: number
  'status-min'?: number
  'status-max'?: number
  'error-code'?: string
  since?: string
  from?: string
  to?: string
  'trace-id'?: string
  'request-id'?: string
  'key-id'?: string
  limit?: number
}

export function auditQuery(flags: AuditFlags, nowMs = Date.now()): Record<string, string | number | undefined> {
  if (flags.since && flags.from) throw new CliError('USAGE', 'give either --since or --from, not both', {exit: EXIT.USAGE})
  if (flags['trace-id'] && !/^[0-9a-f]{32}$/.test(flags['trace-id'])) {
    throw new CliError('USAGE', '--trace-id must be 32 lowercase hex characters', {exit: EXIT.USAGE})
  }
  const resourceTypes = checkedList(flags['resource-type'], AUDIT_RESOURCE_TYPES, '--resource-type')
  const operations = checkedList(flags.operation, AUDIT_OPERATIONS, '--operation', AUDIT_FAILURE_OPERATION)
  // --since: a duration back from now or a date (the flag parser already turned it into an instant).
  const from = flags.since ? sinceInstant(flags.since, nowMs) : flags.from ? parseInstant(flags.from, '--from') : undefined
  return {
    tenant_id: flags.tenant,
    resource_type: resourceTypes,
    resource_id: flags['resource-id'],
    operation: operations,
    status: flags.status,
    status_min: flags['status-min'],
    status_max: flags['status-max'],
    error_code: flags['error-code'],
    from,
    to: flags.to ? parseInstant(flags.to, '--to') : undefined,
    trace_id: flags['trace-id'],
    request_id: flags['request-id'],
    key_id: flags['key-id'],
    limit: flags.limit,
  }
}

/**
 * A comma-separated filter checked against the values an audit row can carry, each matched
 * case-insensitively and sent in its canonical spelling: a typo is a usage error listing the valid
 * values, not an empty answer. `alsoValid`: a pattern of further accepted values (failed requests'
 * METHOD:/path operations).
 */
export function checkedList(input: string | undefined, valid: readonly string[], flag: string, alsoValid?: RegExp): string | undefined {
  if (input === undefined) return undefined
  const values = input.split(',').map((v) => v.trim()).filter((v) => v !== '')
  if (values.length === 0) throw new CliError('USAGE', `${flag} needs at least one value; valid: ${valid.join(', ')}`, {exit: EXIT.USAGE})
  const out = values.map((v) => {
    const hit = valid.find((x) => x.toLowerCase() === v.toLowerCase())
    if (hit) return hit
    if (alsoValid?.test(v)) return v
    const near = valid.filter((x) => distance(x.toLowerCase(), v.toLowerCase()) <= 2)
    throw new CliError('USAGE', `${flag}: unknown value '${v}'; valid: ${valid.join(', ')}${alsoValid ? ' (and METHOD:/path for failed requests)' : ''}`, {
      exit: EXIT.USAGE,
      suggestions: near.map((x) => `${flag} ${x}`),
    })
  })
  return out.join(',')
}
