// Operator actions on subscriptions: test (a signed system.webhook_test sent inline), delivery
// history, replay of a time window, bulk PAUSE / RESUME / DELETE (§3 safety envelope) and the
// server's webhook-security config.
import {type AdminCtx, type AdminResult, paginate} from '../admin/context.js'
import {parseBody, queryDate, queryEnum, queryLimit} from '../admin/requests.js'
import {type CyclesEvent, EVENTS_COLLECTION, eventIdFloor, newEventId} from '../events/event.js'
import {payloadHash} from '../protocol/canonical-json.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import type {DocWrite} from '../store/types.js'
import {type Caller, WebhookCore, withRetry} from './core.js'
import {enqueueWrites, sendTo} from './delivery.js'
import {matches} from './matching.js'
import {
  CONTROL_COLLECTION, DELIVERIES_COLLECTION, DELIVERY_RETENTION_MS, type DeliveryDoc, QUEUE_COLLECTION, type QueueDoc, SECURITY_DOC, type SubscriptionDoc,
  WEBHOOKS_COLLECTION, deliveryKey, deliveryKeyFloor, deliveryWire, newDeliveryId, replayLockId,
} from './model.js'
import {bulkRequest, replayRequest, securityConfig} from './requests.js'
import {DEFAULT_SECURITY, checkSecurityConfig, readSecurity} from './security.js'
import type {SubscriptionOps} from './subscriptions.js'

/** Candidate events a replay looks at before it refuses the window as too wide. */
export const REPLAY_SCAN_LIMIT = 20_000
/** Bulk actions: at most this many matches, idempotency answers kept this long. */
export const BULK_MAX_ROWS = 500
const BULK_REPLAY_WINDOW_MS = 15 * 60_000

export class WebhookActions {
  constructor(
    private readonly core: WebhookCore,
    private readonly subs: SubscriptionOps,
  ) {}

  /** Send a signed system.webhook_test now and answer with the outcome; status and failure count stay as they are. */
  async test(caller: Caller, id: string): Promise<AdminResult> {
    const {sub} = await this.core.loadMutable(id, caller)
    const now = this.core.now()
    const event: CyclesEvent = {
      event_id: newEventId(now),
      event_type: 'system.webhook_test',
      category: 'system',
      timestamp: new Date(now).toISOString(),
      tenant_id: sub.tenant_id,
      actor: caller.kind === 'tenant' ? {type: 'api_key', key_id: caller.key_id} : {type: 'admin'},
      source: 'cycles-admin',
      data: {subscription_id: sub.subscription_id, message: 'Test event from cycles'},
    }
    const outcome = await sendTo(sub, event, this.core.secrets, this.core.sendTimeoutMs, {config: (await readSecurity(this.core.store)).config, resolve: this.core.lookup})
    const deliveryId = newDeliveryId(now, this.core.admin.random)
    const done = this.core.now()
    const delivery: DeliveryDoc = {
      delivery_id: deliveryId,
      subscription_id: sub.subscription_id,
      event_id: event.event_id,
      event_type: event.event_type,
      tenant_id: sub.tenant_id,
      status: outcome.success ? 'SUCCESS' : 'FAILED',
      created_at_ms: now,
      attempted_at_ms: now,
      completed_at_ms: done,
      attempts: 1,
      response_time_ms: outcome.response_time_ms,
      ...(outcome.response_status !== undefined ? {response_status: outcome.response_status} : {}),
      ...(outcome.error_message !== undefined ? {error_message: outcome.error_message} : {}),
    }
    // The test's delivery record is history only: no queue entry, no counter change.
    await this.core.applyOrThrow({docs: [{collection: DELIVERIES_COLLECTION, id: deliveryKey(sub.subscription_id, deliveryId), set: delivery as unknown as Record<string, unknown>, expires_at_ms: now + DELIVERY_RETENTION_MS}]})
    return {
      status: 200,
      body: {
        success: outcome.success,
        ...(outcome.response_status !== undefined ? {response_status: outcome.response_status} : {}),
        response_time_ms: outcome.response_time_ms,
        ...(outcome.error_message !== undefined ? {error_message: outcome.error_message} : {}),
        event_id: event.event_id,
      },
    }
  }

  /** Delivery history, newest first; `status`, `from`, `to` filter it. */
  async deliveries(caller: Caller, id: string, query: URLSearchParams): Promise<AdminResult> {
    await this.core.load(id, caller)
    const status = queryEnum(query, 'status', ['PENDING', 'SUCCESS', 'FAILED', 'RETRYING'] as const)
    const from = queryDate(query, 'from')
    const to = queryDate(query, 'to')
    const docs = await this.core.store.listDocs(DELIVERIES_COLLECTION, {prefix: `${id}/`, descending: true, limit: 100_000})
    const rows = docs
      .map((d) => d.value as unknown as DeliveryDoc)
      .filter((d) => {
        const at = d.attempted_at_ms ?? d.created_at_ms
        return (!status || d.status === status) && (from === undefined || at >= from) && (to === undefined || at <= to)
      })
    const {page, next_cursor, has_more} = paginate(rows, {r: 'deliveries', id, status, from, to}, query.get('cursor'), queryLimit(query))
    return {status: 200, body: {deliveries: page.map(deliveryWire), ...(next_cursor ? {next_cursor} : {}), has_more}}
  }

  /**
   * Re-send the window [from, to]. Only events this subscription has not received and is not about
   * to receive (no SUCCESS, PENDING or RETRYING delivery of them) are queued, so a replay after an
   * outage fills the gap exactly once. All or narrow: more such events than max_events is a 400.
   */
  async replay(ctx: AdminCtx, id: string, raw: unknown): Promise<AdminResult> {
    const req = parseBody(replayRequest, raw)
    const from = Date.parse(req.from)
    const to = Date.parse(req.to)
    if (to < from) throw invalid('Validation failed: to: must not be before from')
    const maxEvents = req.max_events ?? 100
    const {sub} = await this.core.loadMutable(id, {kind: 'admin'})
    const [lock] = await this.core.store.getDocs(CONTROL_COLLECTION, [replayLockId(id)])
    const outstanding = (await this.core.store.listDocs(QUEUE_COLLECTION, {prefix: `${id}/`, limit: 100_000})).filter((q) => (q.value as unknown as QueueDoc).replay_id)
    if (outstanding.length > 0) {
      throw new ProtocolError('REPLAY_IN_PROGRESS', `Replay ${(outstanding[0].value as unknown as QueueDoc).replay_id} of ${id} still has ${outstanding.length} deliveries to make; wait for it (cycles webhook deliveries ${id})`)
    }
    const selected = await this.select(sub, from, to, req.event_types, maxEvents)
    const now = this.core.now()
    const replayId = `replay_${this.core.admin.random(10).toString('hex')}`
    // Not ACTIVE: nothing is queued (a paused or disabled subscription receives nothing).
    const queue = sub.status === 'ACTIVE' ? selected : []
    const writes: DocWrite[] = queue.flatMap((e, i) => enqueueWrites(sub, e, newDeliveryId(now, this.core.admin.random, i), now, replayId))
    const result = await this.core.store.apply({
      // The lock's version makes two concurrent replays of one subscription collide: one gets 409.
      docs: [{collection: CONTROL_COLLECTION, id: replayLockId(id), set: {replay_id: replayId, at_ms: now, events: queue.length}, expectVersion: lock?.version ?? 0}, ...writes],
      audit: [this.core.auditRow(ctx, {kind: 'admin'}, {tenant_id: sub.tenant_id, operation: 'replayEvents', resource_id: id, status: 202, metadata: {replay_id: replayId, from: req.from, to: req.to, events_selected: selected.length, events_queued: queue.length}})],
    })
    if (!result.ok) {
      if (result.failed === 'doc') throw new ProtocolError('REPLAY_IN_PROGRESS', `Another replay of ${id} started at the same moment`)
      throw new ProtocolError('INTERNAL_ERROR', `Store rejected the replay (${result.failed})`)
    }
    await this.core.store.flushed()
    return {status: 202, body: {replay_id: replayId, events_queued: queue.length, estimated_completion_seconds: Math.max(1, Math.ceil(queue.length / 20))}}
  }

  private async select(sub: SubscriptionDoc, from: number, to: number, types: string[] | undefined, maxEvents: number): Promise<CyclesEvent[]> {
    const selected: CyclesEvent[] = []
    let scanned = 0
    let after = eventIdFloor(from)
    const ceiling = eventIdFloor(to + 1)
    for (;;) {
      const page = await this.core.store.listDocs(EVENTS_COLLECTION, {after, limit: 1000})
      const inWindow = page.filter((d) => d.id < ceiling)
      scanned += inWindow.length
      if (scanned > REPLAY_SCAN_LIMIT) throw invalid(`The window holds more than ${REPLAY_SCAN_LIMIT} events (the scan limit); narrow from/to`)
      for (const d of inWindow) {
        const e = d.value as unknown as CyclesEvent
        if (matches(sub, e) && (!types || types.includes(e.event_type))) selected.push(e)
      }
      if (page.length < 1000 || inWindow.length < page.length) break
      after = page[page.length - 1].id
    }
    const served = await this.alreadyServed(sub.subscription_id, from)
    const missing = selected.filter((e) => !served.has(e.event_id))
    if (missing.length > maxEvents) {
      throw invalid(`The window holds ${missing.length} events to deliver, more than max_events ${maxEvents}; narrow from/to or raise max_events (up to 1000)`, {events_in_window: missing.length})
    }
    return missing
  }

  /** Events this subscription received, or still has queued, among deliveries created since `fromMs`. */
  private async alreadyServed(subscriptionId: string, fromMs: number): Promise<Set<string>> {
    const docs = await this.core.store.listDocs(DELIVERIES_COLLECTION, {prefix: `${subscriptionId}/`, after: deliveryKeyFloor(subscriptionId, fromMs), limit: 100_000})
    const served = new Set<string>()
    for (const d of docs) {
      const delivery = d.value as unknown as DeliveryDoc
      if (delivery.status !== 'FAILED') served.add(delivery.event_id)
    }
    return served
  }

  async bulk(ctx: AdminCtx, raw: unknown): Promise<AdminResult> {
    const req = parseBody(bulkRequest, raw)
    const hash = payloadHash({filter: req.filter, action: req.action, expected_count: req.expected_count})
    const idemId = `bulk/${req.idempotency_key}`
    const [seen] = await this.core.store.getDocs(CONTROL_COLLECTION, [idemId])
    if (seen) {
      if (seen.value.hash !== hash) throw new ProtocolError('IDEMPOTENCY_MISMATCH', `idempotency_key ${req.idempotency_key} was used with a different request in the last 15 minutes`)
      return {status: 200, body: seen.value.response}
    }
    const rows = await this.subs.matching(req.filter)
    if (rows.length > BULK_MAX_ROWS) throw new ProtocolError('LIMIT_EXCEEDED', `The filter matches ${rows.length} subscriptions, more than ${BULK_MAX_ROWS}; narrow it`, {total_matched: rows.length}, 400)
    if (req.expected_count !== undefined && req.expected_count !== rows.length) {
      throw new ProtocolError('COUNT_MISMATCH', `The filter matches ${rows.length} subscriptions, not the expected ${req.expected_count}; nothing was changed`, {total_matched: rows.length, expected_count: req.expected_count})
    }
    const correlation = `webhook_bulk_action:${req.action.toLowerCase()}:${ctx.request_id}`
    const succeeded: Array<Record<string, unknown>> = []
    const failed: Array<Record<string, unknown>> = []
    const skipped: Array<Record<string, unknown>> = []
    for (const row of rows) {
      const id = row.subscription_id
      try {
        const outcome = await this.bulkRow(ctx, id, req.action, correlation)
        if (outcome === 'done') succeeded.push({id})
        else skipped.push({id, reason: outcome})
      } catch (error) {
        const code = error instanceof ProtocolError ? (error.code === 'WEBHOOK_NOT_FOUND' ? 'NOT_FOUND' : error.code === 'INVALID_REQUEST' ? 'INVALID_TRANSITION' : 'INTERNAL_ERROR') : 'INTERNAL_ERROR'
        if (code === 'NOT_FOUND' && req.action === 'DELETE') skipped.push({id, reason: 'ALREADY_DELETED'})
        else failed.push({id, error_code: code, message: (error as Error).message})
      }
    }
    const response = {action: req.action, total_matched: rows.length, succeeded, failed, skipped, idempotency_key: req.idempotency_key}
    const now = this.core.now()
    await this.core.applyOrThrow({
      docs: [{collection: CONTROL_COLLECTION, id: idemId, set: {hash, response}, expires_at_ms: now + BULK_REPLAY_WINDOW_MS}],
      audit: [this.core.auditRow(ctx, {kind: 'admin'}, {tenant_id: req.filter.tenant_id ?? '__system__', operation: 'bulkActionWebhooks', resource_id: 'bulk-action', status: 200, metadata: {action: req.action, filter: req.filter, total_matched: rows.length, succeeded: succeeded.length, failed: failed.length, skipped: skipped.length}})],
    })
    return {status: 200, body: response}
  }

  private async bulkRow(ctx: AdminCtx, id: string, action: 'PAUSE' | 'RESUME' | 'DELETE', correlation: string): Promise<'done' | 'ALREADY_IN_TARGET_STATE'> {
    if (action === 'DELETE') {
      await this.subs.remove(ctx, {kind: 'admin'}, id, correlation)
      return 'done'
    }
    return withRetry(async () => {
      const loaded = await this.core.loadMutable(id, {kind: 'admin'})
      const {sub} = loaded
      if (action === 'PAUSE' && sub.status !== 'ACTIVE') return 'ALREADY_IN_TARGET_STATE'
      if (action === 'RESUME' && sub.status === 'ACTIVE') return 'ALREADY_IN_TARGET_STATE'
      if (action === 'RESUME' && sub.status === 'DISABLED') throw invalid(`${id} is DISABLED; re-enable it with PATCH status ACTIVE after fixing the endpoint`)
      const next: SubscriptionDoc = {...sub, status: action === 'PAUSE' ? 'PAUSED' : 'ACTIVE', updated_at_ms: this.core.now()}
      await this.core.applyOrThrow({
        docs: [
          {collection: WEBHOOKS_COLLECTION, id, set: next as unknown as Record<string, unknown>, expectVersion: loaded.version},
          this.core.lifecycleEvent(ctx, {kind: 'admin'}, action === 'PAUSE' ? 'webhook.paused' : 'webhook.resumed', next, {previous_status: sub.status, new_status: next.status, correlation_id: correlation}),
        ],
      })
      return 'done'
    })
  }

  async getSecurity(): Promise<AdminResult> {
    return {status: 200, body: (await readSecurity(this.core.store)).config}
  }

  /** PUT replaces the whole config; a field left out takes its default. */
  async putSecurity(ctx: AdminCtx, raw: unknown): Promise<AdminResult> {
    const req = parseBody(securityConfig, raw)
    const config = checkSecurityConfig({...DEFAULT_SECURITY, ...req})
    await this.core.applyOrThrow({
      docs: [{collection: CONTROL_COLLECTION, id: SECURITY_DOC, set: config as unknown as Record<string, unknown>}],
      audit: [this.core.auditRow(ctx, {kind: 'admin'}, {tenant_id: '__system__', operation: 'updateWebhookSecurityConfig', resource_id: 'webhook-security', status: 200, metadata: {...config}})],
    })
    return {status: 200, body: config}
  }
}

