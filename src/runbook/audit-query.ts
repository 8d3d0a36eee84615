// Audit flags → the admin API's audit query.
import {CliError, EXIT} from '../cli/errors.js'
import {sinceInstant} from '../cli/flags.js'
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
  // --since: a duration back from now or a date (the flag parser already turned it into an instant).
  const from = flags.since ? sinceInstant(flags.since, nowMs) : flags.from ? parseInstant(flags.from, '--from') : undefined
  return {
    tenant_id: flags.tenant,
    resource_type: flags['resource-type'],
    resource_id: flags['resource-id'],
    operation: flags.operation,
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
