// Audit log queries (cycles-admin.md §2.5): the store answers the exact-match filters; IN-lists,
// status ranges, error codes, request id and search are applied here, then cursor pagination.
import {invalid} from '../protocol/errors.js'
import type {AuditEntry, AuditFilter} from '../store/types.js'
import {type AdminCore, type AdminResult, paginate, sortBy} from './context.js'
import {queryDate, queryEnum, queryInt, queryLimit, queryList, querySearch} from './requests.js'
import {ADMIN_TENANT, auditWire} from './wire.js'
import {AUDIT_CHAIN_COLLECTION, AUDIT_HEAD_ID, headFromDoc} from '../integrity/audit-chain.js'
import {AUDIT_SIGNED_HEAD_ID, signedHeadFromDoc} from '../integrity/audit-signed-head.js'

/**
 * Operation names an audit row can carry: the admin spec's (cycles-admin.md §2.5) and this daemon's
 * own (control, rollout, aggregated unauthenticated failures). Failed requests' rows use
 * `METHOD:/path` instead (AUDIT_FAILURE_OPERATION).
 */
export const AUDIT_OPERATIONS = [
  'createTenant', 'updateTenant', 'bulkActionTenants', 'createBudget', 'updateBudget', 'fundBudget', 'freezeBudget', 'unfreezeBudget',
  'bulkActionBudgets', 'createPolicy', 'updatePolicy', 'createApiKey', 'updateApiKey', 'revokeApiKey', 'createWebhookSubscription',
  'updateWebhookSubscription', 'deleteWebhookSubscription', 'testWebhookSubscription', 'replayEvents', 'bulkActionWebhooks',
  'updateWebhookSecurityConfig', 'createTenantWebhook', 'updateTenantWebhook', 'deleteTenantWebhook', 'testTenantWebhook',
  'tenant_close_cascade', 'control.tier.set', 'control.killswitch.engage', 'control.killswitch.release', 'rollout.step',
  'rollout.rollback', 'rollout.guard.rollback', 'unauthenticatedRequests',
] as const
/** A failed request's operation: its method and path. */
export const AUDIT_FAILURE_OPERATION = /^[A-Z]+:\/\S*$/
/** Resource types: the spec's, its cascade rows', and this daemon's own. */
export const AUDIT_RESOURCE_TYPES = ['tenant', 'budget', 'api_key', 'policy', 'webhook', 'webhook_subscription', 'config', 'control', 'audit', 'admin'] as const

const SCAN_PAGE = 1000
const MAX_SCAN = 250_000
const CHAIN_PAGE_MAX = 10_000

export class AuditOps {
  constructor(private readonly core: AdminCore) {}

  async list(query: URLSearchParams): Promise<AdminResult> {
    if (query.get('order') === 'chain') return this.chain(query)
    const operations = queryList(query, 'operation')
    const resourceTypes = queryList(query, 'resource_type')
    const errorCodes = queryList(query, 'error_code')
    const errorExclude = queryList(query, 'error_code_exclude')
    const status = queryInt(query, 'status', 100, 599)
    const statusMin = queryInt(query, 'status_min', 100, 599)
    const statusMax = queryInt(query, 'status_max', 100, 599)
    if (status !== undefined && (statusMin !== undefined || statusMax !== undefined)) throw invalid('Validation failed: status cannot be combined with status_min/status_max')
    if (statusMin !== undefined && statusMax !== undefined && statusMin > statusMax) throw invalid('Validation failed: status_min must be ≤ status_max')
    const from = queryDate(query, 'from')
    const to = queryDate(query, 'to')
    const traceId = query.get('trace_id') || undefined
    if (traceId && !/^[0-9a-f]{32}$/.test(traceId)) throw invalid('Validation failed: trace_id: must match ^[0-9a-f]{32}$')
    const requestId = query.get('request_id') || undefined
    const search = querySearch(query)
    const sortKey = queryEnum(query, 'sort_by', ['timestamp', 'operation', 'resource_type', 'tenant_id', 'key_id', 'status'] as const) ?? 'timestamp'
    const dir = queryEnum(query, 'sort_dir', ['asc', 'desc'] as const) ?? 'desc'
    const limit = queryLimit(query)

    const base: AuditFilter = {
      ...(query.get('tenant_id') ? {tenant_id: query.get('tenant_id')!} : {}),
      ...(query.get('key_id') ? {key_id: query.get('key_id')!} : {}),
      ...(operations?.length === 1 ? {operation: operations[0]} : {}),
      ...(resourceTypes?.length === 1 ? {resource_type: resourceTypes[0]} : {}),
      ...(query.get('resource_id') ? {resource_id: query.get('resource_id')!} : {}),
      ...(status !== undefined ? {status} : {}),
      ...(from !== undefined ? {from_ms: from} : {}),
      ...(to !== undefined ? {to_ms: to} : {}),
      ...(traceId ? {trace_id: traceId} : {}),
    }
    const matches: AuditEntry[] = []
    let cursor: string | undefined
    let scanned = 0
    do {
      const page = await this.core.store.listAudit({...base, limit: SCAN_PAGE, ...(cursor ? {cursor} : {})})
      scanned += page.entries.length
      for (const e of page.entries) {
        if (operations && !operations.includes(e.operation)) continue
        if (resourceTypes && !resourceTypes.includes(e.resource_type ?? '')) continue
        if (errorCodes && !errorCodes.includes(e.error_code ?? '')) continue
        if (errorExclude && e.error_code && errorExclude.includes(e.error_code)) continue
        if (statusMin !== undefined && e.status < statusMin) continue
        if (statusMax !== undefined && e.status > statusMax) continue
        if (requestId && e.request_id !== requestId) continue
        if (search && ![e.resource_id, e.log_id, e.error_code, e.operation].some((v) => v?.toLowerCase().includes(search))) continue
        matches.push(e)
      }
      cursor = page.next_cursor
    } while (cursor && scanned < MAX_SCAN)

    // The store answers newest first; sortBy is stable, so ties keep that order.
    const key = (e: AuditEntry): string | number => {
      if (sortKey === 'timestamp') return e.timestamp_ms
      if (sortKey === 'status') return e.status
      if (sortKey === 'tenant_id') return e.tenant_id ?? ADMIN_TENANT
      return e[sortKey] ?? ''
    }
    const sorted = sortKey === 'timestamp' && dir === 'desc' ? matches : sortBy(matches, key, dir)
    const binding = {r: 'audit', base, operations, resourceTypes, errorCodes, errorExclude, statusMin, statusMax, requestId, search, sortKey, dir}
    const {page, next_cursor, has_more} = paginate(sorted, binding, query.get('cursor'), limit)
    return {status: 200, body: {logs: page.map(auditWire), ...(next_cursor ? {next_cursor} : {}), has_more}}
  }

  /**
   * Our daemon's extension for `cycles audit verify` and `audit export`: the chained rows (successful
   * writes) with chain_seq > after_seq in chain order, up to `limit` (≤ 10,000), and the chain head as
   * it was before the rows were read, with the head a daemon last signed (`chain_head_signed`). Chain order, not time order: instances' clocks may disagree.
   * Every retained row is scanned (no MAX_SCAN cut): a cut would drop the oldest rows and pass for
   * retention.
   */
  private async chain(query: URLSearchParams): Promise<AdminResult> {
    const after = queryInt(query, 'after_seq', 0, Number.MAX_SAFE_INTEGER) ?? 0
    const limit = queryInt(query, 'limit', 1, CHAIN_PAGE_MAX) ?? CHAIN_PAGE_MAX
    const [headDoc, signedDoc] = await this.core.store.getDocs(AUDIT_CHAIN_COLLECTION, [AUDIT_HEAD_ID, AUDIT_SIGNED_HEAD_ID])
    const head = headFromDoc(headDoc?.value)
    const signed = signedHeadFromDoc(signedDoc?.value)
    const rows: AuditEntry[] = []
    let cursor: string | undefined
    do {
      const page = await this.core.store.listAudit({limit: SCAN_PAGE, ...(cursor ? {cursor} : {})})
      for (const e of page.entries) if (e.hash !== undefined && (e.chain_seq ?? 0) > after) rows.push(e)
      cursor = page.next_cursor
    } while (cursor)
    rows.sort((a, b) => (a.chain_seq ?? 0) - (b.chain_seq ?? 0))
    const page = rows.slice(0, limit)
    return {status: 200, body: {logs: page.map(auditWire), chain_head: head, ...(signed ? {chain_head_signed: signed} : {}), has_more: rows.length > limit}}
  }
}
