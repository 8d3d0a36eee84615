// What every webhook operation shares: the admin core (store, clock, ids, audit rows), the secret
// box, the URL check, the caller (admin key, or a tenant key on the runtime plane), loading a
// subscription as the caller may see it, and the lifecycle events written with each change.
import {adminActor} from '../events/admin-events.js'
import {type CyclesEvent, EVENTS_COLLECTION, SYSTEM_TENANT, newEventId} from '../events/event.js'
import type {AdminCore, AdminCtx} from '../admin/context.js'
import {ProtocolError} from '../protocol/errors.js'
import type {AuditEntry, DocWrite, StoredDoc} from '../store/types.js'
import {type SubscriptionDoc, WEBHOOKS_COLLECTION, type WebhookStatus} from './model.js'
import {type SecretBox} from './secrets.js'
import {type HostLookup, checkWebhookUrl, dnsLookup, readSecurity} from './security.js'
import {DEFAULT_SEND_TIMEOUT_MS} from './sender.js'

/** Events written by the admin plane are kept as long as the reference server's EVENT_TTL_DAYS default. */
export const EVENT_RETENTION_MS = 90 * 24 * 3_600_000

export interface WebhookOptions {
  secrets: SecretBox
  /** Host name resolution for the SSRF check (tests: a fixed map). */
  lookup?: HostLookup
  /** POST /test: how long to wait for the receiver. */
  sendTimeoutMs?: number
}

/** Who is asking: the operator (admin key) or a tenant key (runtime plane self-service); one type for every dual-auth route. */
export {type Caller, ADMIN_CALLER} from '../admin/tenant-key.js'
import type {Caller} from '../admin/tenant-key.js'

export class WebhookCore {
  readonly store
  readonly secrets: SecretBox
  readonly lookup: HostLookup
  readonly sendTimeoutMs: number

  constructor(
    readonly admin: AdminCore,
    options: WebhookOptions,
  ) {
    this.store = admin.store
    this.secrets = options.secrets
    this.lookup = options.lookup ?? dnsLookup
    this.sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS
  }

  now(): number {
    return this.admin.now()
  }

  async checkUrl(url: string): Promise<string> {
    const {config} = await readSecurity(this.store)
    return checkWebhookUrl(url, config, this.lookup)
  }

  async load(id: string, caller: Caller): Promise<StoredDoc & {sub: SubscriptionDoc}> {
    const [doc] = await this.store.getDocs(WEBHOOKS_COLLECTION, [id])
    const sub = doc?.value as SubscriptionDoc | undefined
    // Another tenant's subscription looks like a missing one (spec: cross-tenant reads are 404).
    if (!doc || !sub || (caller.kind === 'tenant' && sub.tenant_id !== caller.tenant)) throw new ProtocolError('WEBHOOK_NOT_FOUND', `Webhook subscription not found: ${id}`)
    return {...doc, sub}
  }

  /** A subscription that may be changed: its owning tenant is not CLOSED. */
  async loadMutable(id: string, caller: Caller): Promise<StoredDoc & {sub: SubscriptionDoc}> {
    const loaded = await this.load(id, caller)
    if (loaded.sub.tenant_id !== SYSTEM_TENANT) await this.admin.guardTenantOpen(loaded.sub.tenant_id)
    return loaded
  }

  /** The audit row of a webhook write, by the caller. */
  auditRow(ctx: AdminCtx, caller: Caller, row: {tenant_id: string; operation: string; resource_id: string; status: number; metadata?: Record<string, unknown>}): AuditEntry {
    return this.admin.audit(ctx, {...row, tenant_id: row.tenant_id === SYSTEM_TENANT ? undefined : row.tenant_id, resource_type: 'webhook'}, caller)
  }

  /** One EventDataWebhookLifecycle event as the doc write that stores it. */
  lifecycleEvent(
    ctx: AdminCtx,
    caller: Caller,
    type: 'webhook.created' | 'webhook.updated' | 'webhook.paused' | 'webhook.resumed' | 'webhook.deleted',
    sub: SubscriptionDoc,
    change: {previous_status?: WebhookStatus; new_status?: WebhookStatus; changed_fields?: string[]; correlation_id: string},
  ): DocWrite {
    const now = this.now()
    const event: CyclesEvent = {
      event_id: newEventId(now),
      event_type: type,
      category: 'webhook',
      timestamp: new Date(now).toISOString(),
      tenant_id: sub.tenant_id,
      actor: adminActor(ctx, caller, sub.tenant_id !== SYSTEM_TENANT),
      source: 'cycles-admin',
      data: {
        subscription_id: sub.subscription_id,
        tenant_id: sub.tenant_id,
        ...(change.previous_status ? {previous_status: change.previous_status} : {}),
        ...(change.new_status ? {new_status: change.new_status} : {}),
        changed_fields: change.changed_fields ?? [],
      },
      correlation_id: change.correlation_id,
      request_id: ctx.request_id,
      trace_id: ctx.trace_id,
    }
    return eventWrite(event, now)
  }

  async applyOrThrow(tx: Parameters<AdminCore['store']['apply']>[0]): Promise<void> {
    const result = await this.store.apply(tx)
    if (!result.ok) {
      if (result.failed === 'doc') throw new ConcurrentChange(result.detail ?? '')
      throw new ProtocolError('INTERNAL_ERROR', `Store rejected the change (${result.failed})`)
    }
    await this.store.flushed()
  }
}

/** The doc write of one event into the `events` collection. */
export function eventWrite(event: CyclesEvent, nowMs: number): DocWrite {
  return {collection: EVENTS_COLLECTION, id: event.event_id, set: event as unknown as Record<string, unknown>, expires_at_ms: nowMs + EVENT_RETENTION_MS}
}

/** The subscription changed under us (the dispatcher updated its counters): read it again and retry. */
export class ConcurrentChange extends Error {}

/** Run `attempt` again (up to 5 times) when it lost an optimistic-concurrency race. */
export async function withRetry<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt()
    } catch (error) {
      if (!(error instanceof ConcurrentChange) || i >= 4) {
        if (error instanceof ConcurrentChange) throw new ProtocolError('INTERNAL_ERROR', 'The subscription kept changing while this request ran; retry', undefined, 503)
        throw error
      }
    }
  }
}
