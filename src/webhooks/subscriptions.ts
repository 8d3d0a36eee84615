// Subscriptions: create (secret returned once), list, get, patch (pause / resume / rotate / change
// selectors), delete (pending deliveries cancelled). Every write carries its audit row and its
// webhook.* lifecycle event in the same transaction, and is guarded by the doc's version so it never
// overwrites the dispatcher's failure counters.
import {ScopeFilterError, buildScopeFilter} from '../admin/permissions.js'
import {type AdminCtx, type AdminResult, paginate, sortBy} from '../admin/context.js'
import {parseBody, queryEnum, queryLimit, querySearch} from '../admin/requests.js'
import {SYSTEM_TENANT} from '../events/event.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import type {DocWrite} from '../store/types.js'
import {type Caller, WebhookCore, withRetry} from './core.js'
import {
  DELIVERIES_COLLECTION, type DeliveryDoc, QUEUE_COLLECTION, type QueueDoc, type SubscriptionDoc, WEBHOOKS_COLLECTION, type WebhookStatus,
  isSystemOwned, newSubscriptionId, subscriptionWire, tenantAccessible,
} from './model.js'
import {type WebhookUpdate, webhookCreate, webhookUpdate} from './requests.js'
import {newSigningSecret} from './secrets.js'

const STATUSES = ['ACTIVE', 'PAUSED', 'DISABLED'] as const

export class SubscriptionOps {
  constructor(private readonly core: WebhookCore) {}

  async create(ctx: AdminCtx, caller: Caller, tenantParam: string | undefined, raw: unknown): Promise<AdminResult> {
    const req = parseBody(webhookCreate, raw)
    const tenantId = caller.kind === 'tenant' ? caller.tenant : tenantParam || SYSTEM_TENANT
    if (!isSystemOwned(tenantId)) {
      const tenant = await this.core.admin.tenantOrThrow(tenantId)
      if (tenant.status === 'CLOSED') throw new ProtocolError('TENANT_CLOSED', `Tenant ${tenantId} is closed; no webhook can be created for it`)
      checkBoundary(req.event_types, req.event_categories)
    }
    checkScopeFilter(req.scope_filter)
    this.core.secrets.requireForWrites()
    const url = await this.core.checkUrl(req.url)
    const now = this.core.now()
    const secret = req.signing_secret ?? newSigningSecret(this.core.admin.random)
    const sub: SubscriptionDoc = {
      subscription_id: newSubscriptionId(this.core.admin.random),
      tenant_id: tenantId,
      ...(req.name !== undefined ? {name: req.name} : {}),
      ...(req.description !== undefined ? {description: req.description} : {}),
      url,
      event_types: req.event_types,
      ...(req.event_categories?.length ? {event_categories: req.event_categories} : {}),
      ...(req.scope_filter ? {scope_filter: req.scope_filter} : {}),
      ...(req.thresholds ? {thresholds: req.thresholds} : {}),
      signing_secret_enc: this.core.secrets.seal(secret),
      ...this.sealedHeaders(req.headers),
      status: 'ACTIVE',
      ...(req.retry_policy ? {retry_policy: req.retry_policy} : {}),
      ...(req.disable_after_failures !== undefined ? {disable_after_failures: req.disable_after_failures} : {}),
      consecutive_failures: 0,
      created_at_ms: now,
      updated_at_ms: now,
      ...(req.metadata ? {metadata: req.metadata} : {}),
    }
    await this.core.applyOrThrow({
      docs: [
        {collection: WEBHOOKS_COLLECTION, id: sub.subscription_id, set: sub as unknown as Record<string, unknown>, expectVersion: 0},
        this.core.lifecycleEvent(ctx, caller, 'webhook.created', sub, {new_status: 'ACTIVE', correlation_id: `webhook_create:${sub.subscription_id}`}),
      ],
      // Never the secret or header values: what it sends where.
      audit: [this.core.auditRow(ctx, caller, {tenant_id: tenantId, operation: 'createWebhookSubscription', resource_id: sub.subscription_id, status: 201, metadata: {url, event_types: sub.event_types, ...(sub.event_categories ? {event_categories: sub.event_categories} : {})}})],
    })
    return {status: 201, body: {subscription: subscriptionWire(sub), signing_secret: secret}}
  }

  async get(caller: Caller, id: string): Promise<AdminResult> {
    const {sub} = await this.core.load(id, caller)
    return {status: 200, body: subscriptionWire(sub)}
  }

  /** Every subscription, in id order (the admin list, the overview, bulk actions). */
  async all(): Promise<SubscriptionDoc[]> {
    const out: SubscriptionDoc[] = []
    let after: string | undefined
    for (;;) {
      const page = await this.core.store.listDocs(WEBHOOKS_COLLECTION, {after, limit: 1000})
      out.push(...page.map((d) => d.value as unknown as SubscriptionDoc))
      if (page.length < 1000) return out
      after = page[page.length - 1].id
    }
  }

  async matching(filter: {tenant_id?: string; status?: WebhookStatus; event_type?: string; search?: string}): Promise<SubscriptionDoc[]> {
    const search = filter.search?.toLowerCase()
    return (await this.all()).filter(
      (s) =>
        (!filter.tenant_id || s.tenant_id === filter.tenant_id) &&
        (!filter.status || s.status === filter.status) &&
        (!filter.event_type || s.event_types.includes(filter.event_type)) &&
        (!search || s.subscription_id.toLowerCase().includes(search) || s.url.toLowerCase().includes(search)),
    )
  }

  async list(query: URLSearchParams): Promise<AdminResult> {
    const filter = {
      tenant_id: query.get('tenant_id') || undefined,
      status: queryEnum(query, 'status', STATUSES),
      event_type: query.get('event_type') || undefined,
      search: querySearch(query),
    }
    const sortKey = queryEnum(query, 'sort_by', ['url', 'tenant_id', 'status', 'consecutive_failures'] as const) ?? 'consecutive_failures'
    const dir = queryEnum(query, 'sort_dir', ['asc', 'desc'] as const) ?? 'desc'
    const subs = sortBy(await this.matching(filter), (s) => s[sortKey], dir)
    const {page, next_cursor, has_more} = paginate(subs, {r: 'webhooks', ...filter, sortKey, dir}, query.get('cursor'), queryLimit(query))
    return {status: 200, body: {subscriptions: page.map(subscriptionWire), ...(next_cursor ? {next_cursor} : {}), has_more}}
  }

  /** GET /v1/webhooks: the caller's tenant (a tenant key), or `tenant` (required with the admin key). */
  async listForTenant(caller: Caller, query: URLSearchParams): Promise<AdminResult> {
    const asked = query.get('tenant') || undefined
    let tenant: string
    if (caller.kind === 'tenant') {
      if (asked && asked !== caller.tenant) throw invalid(`tenant must be the key's own tenant (${caller.tenant}) or left out`)
      tenant = caller.tenant
    } else {
      if (!asked) throw invalid('tenant query parameter is required when using admin key authentication')
      tenant = asked
    }
    const status = queryEnum(query, 'status', STATUSES)
    const subs = sortBy(await this.matching({tenant_id: tenant, status}), (s) => s.created_at_ms, 'desc')
    const {page, next_cursor, has_more} = paginate(subs, {r: 'tenant-webhooks', tenant, status}, query.get('cursor'), queryLimit(query))
    return {status: 200, body: {subscriptions: page.map(subscriptionWire), ...(next_cursor ? {next_cursor} : {}), has_more}}
  }

  async update(ctx: AdminCtx, caller: Caller, id: string, raw: unknown, reason?: string): Promise<AdminResult> {
    const req = parseBody(webhookUpdate, raw)
    return withRetry(async () => {
      const loaded = await this.core.loadMutable(id, caller)
      const result = await this.changed(loaded.sub, req)
      if (!result) return {status: 200, body: subscriptionWire(loaded.sub)} // nothing changed: no write, no event
      const {next, changedFields, eventType} = result
      await this.core.applyOrThrow({
        docs: [
          {collection: WEBHOOKS_COLLECTION, id, set: next as unknown as Record<string, unknown>, expectVersion: loaded.version},
          this.core.lifecycleEvent(ctx, caller, eventType, next, {
            previous_status: loaded.sub.status,
            new_status: next.status,
            changed_fields: changedFields,
            correlation_id: `webhook_update:${id}:${ctx.request_id}`,
          }),
        ],
        audit: [this.core.auditRow(ctx, caller, {tenant_id: next.tenant_id, operation: 'updateWebhookSubscription', resource_id: id, status: 200, metadata: {changed_fields: changedFields, ...(loaded.sub.status !== next.status ? {previous_status: loaded.sub.status, new_status: next.status} : {}), ...(reason ? {reason: reason.slice(0, 512)} : typeof req.metadata?.reason === 'string' ? {reason: req.metadata.reason} : {})}})],
      })
      return {status: 200, body: subscriptionWire(next)}
    })
  }

  /** The subscription after a PATCH, the fields it changed and the event it emits; undefined for a no-op. */
  private async changed(sub: SubscriptionDoc, req: WebhookUpdate): Promise<{next: SubscriptionDoc; changedFields: string[]; eventType: 'webhook.updated' | 'webhook.paused' | 'webhook.resumed'} | undefined> {
    if (!isSystemOwned(sub.tenant_id)) checkBoundary(req.event_types ?? [], req.event_categories)
    checkScopeFilter(req.scope_filter)
    const next: SubscriptionDoc = {...sub}
    const changedFields: string[] = []
    const set = <K extends keyof SubscriptionDoc>(field: K, value: SubscriptionDoc[K]) => {
      if (JSON.stringify(sub[field]) === JSON.stringify(value)) return
      next[field] = value
      changedFields.push(field)
    }
    if (req.name !== undefined) set('name', req.name)
    if (req.description !== undefined) set('description', req.description)
    if (req.url !== undefined) set('url', await this.core.checkUrl(req.url))
    if (req.event_types !== undefined) set('event_types', req.event_types)
    if (req.event_categories !== undefined) set('event_categories', req.event_categories)
    if (req.scope_filter !== undefined) set('scope_filter', req.scope_filter)
    if (req.thresholds !== undefined) set('thresholds', req.thresholds)
    if (req.retry_policy !== undefined) set('retry_policy', req.retry_policy)
    if (req.disable_after_failures !== undefined) set('disable_after_failures', req.disable_after_failures)
    if (req.metadata !== undefined) set('metadata', req.metadata)
    if (req.signing_secret !== undefined || req.headers !== undefined) this.core.secrets.requireForWrites()
    if (req.signing_secret !== undefined) {
      // Rotation: a sealed value differs every time, so compare nothing: a given secret is a change.
      next.signing_secret_enc = this.core.secrets.seal(req.signing_secret)
      changedFields.push('signing_secret')
    }
    if (req.headers !== undefined) {
      const sealed = this.sealedHeaders(req.headers)
      delete next.headers_enc
      delete next.header_names
      Object.assign(next, sealed)
      changedFields.push('headers')
    }
    if (next.event_types.length === 0 && (next.event_categories ?? []).length === 0) {
      throw invalid('Validation failed: event_types: a subscription needs at least one event type or event category')
    }
    let eventType: 'webhook.updated' | 'webhook.paused' | 'webhook.resumed' = 'webhook.updated'
    if (req.status !== undefined && req.status !== sub.status) {
      next.status = req.status
      eventType = req.status === 'PAUSED' ? 'webhook.paused' : 'webhook.resumed'
      // Re-enabling starts the failure count afresh.
      if (req.status === 'ACTIVE') next.consecutive_failures = 0
    } else if (changedFields.length === 0) {
      return undefined
    }
    next.updated_at_ms = this.core.now()
    return {next, changedFields, eventType}
  }

  async remove(ctx: AdminCtx, caller: Caller, id: string, correlationId?: string): Promise<AdminResult> {
    return withRetry(async () => {
      const loaded = await this.core.loadMutable(id, caller)
      await this.core.applyOrThrow({
        docs: [
          {collection: WEBHOOKS_COLLECTION, id, delete: true, expectVersion: loaded.version},
          ...(await this.cancelPending(id)),
          this.core.lifecycleEvent(ctx, caller, 'webhook.deleted', loaded.sub, {previous_status: loaded.sub.status, correlation_id: correlationId ?? `webhook_delete:${id}`}),
        ],
        audit: correlationId ? [] : [this.core.auditRow(ctx, caller, {tenant_id: loaded.sub.tenant_id, operation: 'deleteWebhookSubscription', resource_id: id, status: 204, metadata: {url: loaded.sub.url}})],
      })
      return {status: 204, body: '', raw: true}
    })
  }

  /** Queue entries of a deleted subscription go, and their deliveries end FAILED with the reason. */
  private async cancelPending(subscriptionId: string): Promise<DocWrite[]> {
    const queued = (await this.core.store.listDocs(QUEUE_COLLECTION, {prefix: `${subscriptionId}/`, limit: 100_000})).filter((d) => (d.value as unknown as QueueDoc).subscription_id === subscriptionId)
    if (queued.length === 0) return []
    const deliveries = await this.core.store.getDocs(DELIVERIES_COLLECTION, queued.map((q) => q.id))
    const now = this.core.now()
    const writes: DocWrite[] = queued.map((q) => ({collection: QUEUE_COLLECTION, id: q.id, delete: true}))
    for (const d of deliveries) {
      if (!d) continue
      const cancelled: DeliveryDoc = {...(d.value as unknown as DeliveryDoc), status: 'FAILED', completed_at_ms: now, error_message: 'subscription deleted before delivery'}
      delete cancelled.next_retry_at_ms
      writes.push({collection: DELIVERIES_COLLECTION, id: d.id, set: cancelled as unknown as Record<string, unknown>})
    }
    return writes
  }

  private sealedHeaders(headers: Record<string, string> | undefined): Pick<SubscriptionDoc, 'headers_enc' | 'header_names'> {
    if (!headers || Object.keys(headers).length === 0) return {}
    return {headers_enc: this.core.secrets.seal(JSON.stringify(headers)), header_names: Object.keys(headers)}
  }
}

/** TENANT-ACCESSIBLE BOUNDARY: a tenant-owned subscription selects only budget, reservation and tenant events. */
export function checkBoundary(types: readonly string[], categories: readonly string[] | undefined): void {
  const bad = [...types, ...(categories ?? [])].filter((t) => !tenantAccessible(t))
  if (bad.length > 0) {
    throw invalid(`Validation failed: a tenant-owned subscription may only select budget.*, reservation.* and tenant.* events (not ${bad.join(', ')}); admin-only events need a __system__ subscription (omit tenant_id)`)
  }
}

function checkScopeFilter(filter: string | undefined): void {
  if (!filter) return
  try {
    buildScopeFilter([filter])
  } catch (error) {
    if (error instanceof ScopeFilterError) throw invalid(`Validation failed: scope_filter: ${error.message}`)
    throw error
  }
}
