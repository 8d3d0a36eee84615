// Typed client for the Cycles admin API (cycles-governance-admin v0.1.25): our daemon's admin
// plane or a reference cycles-server-admin. Scope and unit always travel as query parameters.
import type {SignedAuditHead} from '../integrity/audit-signed-head.js'
import type {CyclesEvent} from '../events/event.js'
import {HttpClient, type Query} from './http.js'

export type Amount = {unit: string; amount: number}

export interface TenantWire {
  tenant_id: string
  name: string
  status: 'ACTIVE' | 'SUSPENDED' | 'CLOSED'
  created_at: string
  [k: string]: unknown
}

export interface LedgerWire {
  ledger_id: string
  tenant_id?: string
  scope: string
  unit: string
  allocated: Amount
  remaining: Amount
  reserved?: Amount
  spent?: Amount
  debt?: Amount
  overdraft_limit?: Amount
  is_over_limit?: boolean
  status: 'ACTIVE' | 'FROZEN' | 'CLOSED'
  /** Set when a `book` was asked for (our daemon only). */
  book?: 'real' | 'shadow'
  /** With book=both: the shadow ledger of the same budget. */
  shadow?: LedgerWire
  [k: string]: unknown
}

/** Which book a budget view shows: the real one (what is spent and enforced), the shadow one, or both. */
export type BudgetBook = 'real' | 'shadow' | 'both'

/** The daemon's mark on an answer replayed for a known idempotency_key (the body is the original one, byte for byte). */
export const REPLAY_HEADER = 'X-Cycles-Idempotent-Replay'

/** Who makes an admin change and why (cycles extension): the admin plane keeps both in the audit row. */
export const ACTOR_HEADER = 'X-Cycles-Actor'
export const REASON_HEADER = 'X-Cycles-Reason'

/** The actor and reason headers, percent-encoded: header values are bytes, names and reasons need not be ASCII. */
export function auditHeaders(who: {actor?: string; reason?: string}): Record<string, string> {
  return {
    ...(who.actor ? {[ACTOR_HEADER]: encodeURIComponent(who.actor)} : {}),
    ...(who.reason ? {[REASON_HEADER]: encodeURIComponent(who.reason)} : {}),
  }
}

export interface FundingResponse {
  operation: string
  previous_allocated: Amount
  new_allocated: Amount
  previous_remaining: Amount
  new_remaining: Amount
  previous_debt?: Amount
  new_debt?: Amount
  previous_spent?: Amount
  new_spent?: Amount
  timestamp?: string
  /** Set by this client when the daemon marks the answer as an idempotency_key replay (REPLAY_HEADER): nothing changed; timestamp is the original. */
  replayed?: boolean
}

export interface ApiKeyWire {
  key_id: string
  tenant_id: string
  key_prefix: string
  name?: string
  permissions?: string[]
  scope_filter?: string[]
  status: string
  created_at: string
  expires_at: string
  revoked_at?: string
  revoked_reason?: string
  [k: string]: unknown
}

export interface ApiKeyCreated {
  key_id: string
  key_secret: string
  key_prefix: string
  tenant_id: string
  permissions?: string[]
  created_at: string
  expires_at: string
}

export interface AuditEntryWire {
  log_id: string
  timestamp: string
  tenant_id: string
  operation: string
  status: number
  resource_type?: string
  resource_id?: string
  error_code?: string
  trace_id?: string
  request_id?: string
  key_id?: string
  metadata?: Record<string, unknown>
  /** Our daemon: the row's place on the audit hash chain (rows of successful writes). */
  chain_seq?: number
  prev_hash?: string
  hash?: string
}

/** One page of the audit chain in chain order (our daemon only: `order=chain`). */
export interface AuditChainPage {
  logs: AuditEntryWire[]
  chain_head: {hash: string; seq: number}
  /** The head a daemon last signed with its log key (src/integrity/audit-signed-head.ts). */
  chain_head_signed?: SignedAuditHead
  has_more: boolean
}

export interface WebhookWire {
  subscription_id: string
  tenant_id: string
  name?: string
  url: string
  event_types: string[]
  event_categories?: string[]
  scope_filter?: string
  headers?: Record<string, string>
  status: 'ACTIVE' | 'PAUSED' | 'DISABLED'
  consecutive_failures?: number
  disable_after_failures?: number
  last_success_at?: string
  last_failure_at?: string
  [k: string]: unknown
}

export interface WebhookCreated {
  subscription: WebhookWire
  signing_secret?: string
}

export interface DeliveryWire {
  delivery_id: string
  subscription_id: string
  event_id: string
  event_type?: string
  status: 'PENDING' | 'SUCCESS' | 'FAILED' | 'RETRYING'
  attempted_at: string
  completed_at?: string
  attempts?: number
  response_status?: number
  response_time_ms?: number
  error_message?: string
  next_retry_at?: string
}

export interface WebhookTestResult {
  success: boolean
  response_status?: number
  response_time_ms?: number
  error_message?: string
  event_id?: string
}

export interface ReplayAccepted {
  replay_id: string
  events_queued: number
  estimated_completion_seconds?: number
}

export interface Page<T> {
  items: T[]
  next_cursor?: string
  has_more: boolean
}

export interface Overview {
  as_of: string
  tenant_counts: Record<string, number>
  budget_counts: Record<string, unknown>
  over_limit_scopes: Array<{scope: string; unit: string; allocated: number; remaining: number; debt: number}>
  debt_scopes: Array<{scope: string; unit: string; debt: number; overdraft_limit: number}>
  recent_denials: Array<{timestamp: string; tenant_id: string; scope?: string; data?: Record<string, unknown>}>
  recent_denials_by_reason?: Record<string, number>
  /** Our daemon only: what full enforcement would have denied among admitted requests in the same window. */
  would_denials?: {
    total_recent: number
    by_reason: Record<string, number>
    by_tier: Record<string, number>
    recent: Array<{timestamp: string; tenant_id: string; scope?: string; data?: Record<string, unknown>}>
  }
  /** v0.1.26 governance (admin spec's optional overview fields). */
  quota_health?: {
    counters_above_80pct?: number
    counters_at_limit?: number
    top_offenders?: Array<{scope: string; action_kind: string; window?: string; used: number; limit: number; utilization_pct?: number}>
  }
  access_control_stats?: {policies_with_allow_list?: number; policies_with_deny_list?: number}
  webhook_counts?: {total: number; active: number; disabled: number; with_failures: number}
  failing_webhooks?: Array<{subscription_id: string; url: string; consecutive_failures: number; last_failure_at?: string}>
  [k: string]: unknown
}

export class AdminClient {
  constructor(readonly http: HttpClient) {}

  // tenants
  listTenants(query: Query): Promise<Page<TenantWire>> {
    return this.page('/v1/admin/tenants', 'tenants', query)
  }
  getTenant(id: string): Promise<TenantWire> {
    return this.http.request('GET', `/v1/admin/tenants/${encodeURIComponent(id)}`)
  }
  createTenant(body: {tenant_id: string; name: string; parent_tenant_id?: string}): Promise<TenantWire> {
    return this.http.request('POST', '/v1/admin/tenants', {body})
  }
  updateTenant(id: string, body: Record<string, unknown>): Promise<TenantWire> {
    return this.http.request('PATCH', `/v1/admin/tenants/${encodeURIComponent(id)}`, {body})
  }

  // budgets
  listBudgets(query: Query): Promise<Page<LedgerWire>> {
    return this.page('/v1/admin/budgets', 'ledgers', query)
  }
  /** `book` (our daemon; README "Two books"): real, shadow, or both (the shadow ledger under `shadow`). */
  lookupBudget(scope: string, unit: string, book?: BudgetBook): Promise<LedgerWire> {
    return this.http.request('GET', '/v1/admin/budgets/lookup', {query: {scope, unit, ...(book ? {book} : {})}})
  }
  createBudget(body: Record<string, unknown>): Promise<LedgerWire> {
    return this.http.request('POST', '/v1/admin/budgets', {body})
  }
  async fundBudget(tenantId: string, scope: string, unit: string, body: Record<string, unknown>): Promise<FundingResponse> {
    let replayed = false
    const result = await this.http.request<FundingResponse>('POST', '/v1/admin/budgets/fund', {
      query: {tenant_id: tenantId, scope, unit},
      body,
      onHeaders: (h) => {
        replayed = h.get(REPLAY_HEADER) === 'true'
      },
    })
    return replayed ? {...result, replayed: true} : result
  }
  setFrozen(frozen: boolean, scope: string, unit: string, reason?: string): Promise<LedgerWire> {
    return this.http.request('POST', `/v1/admin/budgets/${frozen ? 'freeze' : 'unfreeze'}`, {query: {scope, unit}, body: reason ? {reason} : {}})
  }

  // api keys
  listApiKeys(query: Query): Promise<Page<ApiKeyWire>> {
    return this.page('/v1/admin/api-keys', 'keys', query)
  }
  createApiKey(body: Record<string, unknown>): Promise<ApiKeyCreated> {
    return this.http.request('POST', '/v1/admin/api-keys', {body})
  }
  revokeApiKey(keyId: string, reason?: string): Promise<ApiKeyWire> {
    return this.http.request('DELETE', `/v1/admin/api-keys/${encodeURIComponent(keyId)}`, {query: {reason}})
  }

  // audit, overview
  listAudit(query: Query): Promise<Page<AuditEntryWire>> {
    return this.page('/v1/admin/audit/logs', 'logs', query)
  }
  // events (src/events: the daemon's event log)
  listEvents(query: Query): Promise<Page<CyclesEvent>> {
    return this.page('/v1/admin/events', 'events', query)
  }
  getEvent(id: string): Promise<CyclesEvent> {
    return this.http.request('GET', `/v1/admin/events/${encodeURIComponent(id)}`)
  }

  /** Chained rows with chain_seq > `afterSeq`, oldest first, and the chain head (our daemon only). */
  listAuditChain(afterSeq: number, limit: number): Promise<AuditChainPage> {
    return this.http.request('GET', '/v1/admin/audit/logs', {query: {order: 'chain', after_seq: afterSeq, limit}})
  }
  overview(): Promise<Overview> {
    return this.http.request('GET', '/v1/admin/overview')
  }

  // webhooks
  listWebhooks(query: Query): Promise<Page<WebhookWire>> {
    return this.page('/v1/admin/webhooks', 'subscriptions', query)
  }
  getWebhook(id: string): Promise<WebhookWire> {
    return this.http.request('GET', `/v1/admin/webhooks/${encodeURIComponent(id)}`)
  }
  /** No tenant: a system-wide (__system__) subscription. */
  createWebhook(tenantId: string | undefined, body: Record<string, unknown>): Promise<WebhookCreated> {
    return this.http.request('POST', '/v1/admin/webhooks', {query: {tenant_id: tenantId}, body})
  }
  /** `reason` travels as a query parameter (our daemon keeps it in the audit row; other servers ignore it). */
  updateWebhook(id: string, body: Record<string, unknown>, reason?: string): Promise<WebhookWire> {
    return this.http.request('PATCH', `/v1/admin/webhooks/${encodeURIComponent(id)}`, {body, query: {reason}})
  }
  async deleteWebhook(id: string): Promise<void> {
    await this.http.request('DELETE', `/v1/admin/webhooks/${encodeURIComponent(id)}`)
  }
  testWebhook(id: string): Promise<WebhookTestResult> {
    return this.http.request('POST', `/v1/admin/webhooks/${encodeURIComponent(id)}/test`)
  }
  listDeliveries(id: string, query: Query): Promise<Page<DeliveryWire>> {
    return this.page(`/v1/admin/webhooks/${encodeURIComponent(id)}/deliveries`, 'deliveries', query)
  }
  replayWebhook(id: string, body: {from: string; to: string; event_types?: string[]; max_events?: number}): Promise<ReplayAccepted> {
    return this.http.request('POST', `/v1/admin/webhooks/${encodeURIComponent(id)}/replay`, {body})
  }

  /** Follow next_cursor until the end (or `max` items). */
  async all<T>(fetchPage: (cursor?: string) => Promise<Page<T>>, max = 100_000): Promise<T[]> {
    const out: T[] = []
    let cursor: string | undefined
    do {
      const page = await fetchPage(cursor)
      out.push(...page.items)
      cursor = page.has_more ? page.next_cursor : undefined
    } while (cursor && out.length < max)
    return out
  }

  private async page<T>(path: string, wrapper: string, query: Query): Promise<Page<T>> {
    const body = await this.http.request<Record<string, unknown>>('GET', path, {query})
    return {
      items: (body[wrapper] as T[] | undefined) ?? [],
      ...(typeof body.next_cursor === 'string' ? {next_cursor: body.next_cursor} : {}),
      has_more: body.has_more === true,
    }
  }
}
