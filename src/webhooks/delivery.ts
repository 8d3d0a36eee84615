// Building and finishing deliveries, shared by the dispatcher, replay and the test endpoint: the
// doc writes that enqueue one event for one subscription, sending it with the subscription's
// (decrypted) secret and headers, and what one attempt's outcome does to the delivery, the queue and
// the subscription (retry with backoff, FAILED after max_retries, DISABLED after
// disable_after_failures failed deliveries in a row, counters reset by any success).
import {type CyclesEvent, SYSTEM_TENANT, newEventId} from '../events/event.js'
import type {DocWrite} from '../store/types.js'
import {eventWrite} from './core.js'
import {
  DELIVERIES_COLLECTION, DELIVERY_RETENTION_MS, type DeliveryDoc, QUEUE_COLLECTION, type QueueDoc, type SubscriptionDoc, WEBHOOKS_COLLECTION,
  deliveryKey, disableAfterOf, retryDelayMs, retryPolicyOf,
} from './model.js'
import {type SecretBox} from './secrets.js'
import {type HostLookup, type SecurityConfig, checkUrlRules, connectLookup} from './security.js'
import {type SendOutcome, deliveryHeaders, eventBody, postEvent} from './sender.js'

/** The delivery doc and its queue entry for one event to one subscription, due at once. */
export function enqueueWrites(sub: SubscriptionDoc, event: CyclesEvent, deliveryId: string, nowMs: number, replayId?: string): DocWrite[] {
  const key = deliveryKey(sub.subscription_id, deliveryId)
  const delivery: DeliveryDoc = {
    delivery_id: deliveryId,
    subscription_id: sub.subscription_id,
    event_id: event.event_id,
    event_type: event.event_type,
    tenant_id: event.tenant_id,
    status: 'PENDING',
    created_at_ms: nowMs,
    attempts: 0,
    next_retry_at_ms: nowMs,
    ...(event.trace_id ? {trace_id: event.trace_id} : {}),
    ...(replayId ? {replay_id: replayId} : {}),
  }
  const queued: QueueDoc = {due_at_ms: nowMs, subscription_id: sub.subscription_id, created_at_ms: nowMs, ...(replayId ? {replay_id: replayId} : {})}
  return [
    {collection: DELIVERIES_COLLECTION, id: key, set: delivery as unknown as Record<string, unknown>, expires_at_ms: nowMs + DELIVERY_RETENTION_MS},
    {collection: QUEUE_COLLECTION, id: key, set: queued as unknown as Record<string, unknown>},
  ]
}

/** What a send is checked against: the security config as it is now, and the host-name resolution. */
export interface SendGuard {
  config: SecurityConfig
  resolve: HostLookup
}

/**
 * POST the event to the subscription's URL, signed with its secret, with its custom headers. The URL
 * is checked again against the security config of now, and the connection goes only to addresses
 * outside the blocked ranges (a failed attempt naming the rule otherwise).
 */
export async function sendTo(sub: SubscriptionDoc, event: CyclesEvent, secrets: SecretBox, timeoutMs: number, guard: SendGuard): Promise<SendOutcome> {
  let secret: string
  let custom: Record<string, string> = {}
  try {
    checkUrlRules(sub.url, guard.config)
    secret = secrets.open(sub.signing_secret_enc)
    if (sub.headers_enc) custom = JSON.parse(secrets.open(sub.headers_enc)) as Record<string, string>
  } catch (error) {
    return {success: false, response_time_ms: 0, error_message: `not sent: ${(error as Error).message}`}
  }
  const body = eventBody(event)
  return postEvent(sub.url, body, deliveryHeaders(event, body, secret, custom), {timeoutMs, lookup: connectLookup(guard.config, guard.resolve)})
}

export interface AttemptResult {
  delivery: DeliveryDoc
  /** The subscription after the attempt (undefined: unchanged). */
  sub?: SubscriptionDoc
  /** The delivery's queue entry: the next due time, or removed when the delivery is finished. */
  queue: DocWrite
  /** Events this outcome produces (webhook.disabled, system.webhook_delivery_failed). */
  events: CyclesEvent[]
}

/** What one attempt's outcome does. `outcome` undefined: finished FAILED without sending (`reason`). */
export function afterAttempt(sub: SubscriptionDoc | undefined, delivery: DeliveryDoc, queued: QueueDoc, key: string, nowMs: number, outcome: SendOutcome | undefined, reason?: string): AttemptResult {
  const next: DeliveryDoc = {...delivery}
  if (outcome) {
    next.attempts = delivery.attempts + 1
    next.attempted_at_ms = nowMs
    next.response_time_ms = outcome.response_time_ms
    if (outcome.response_status !== undefined) next.response_status = outcome.response_status
    else delete next.response_status
    if (outcome.error_message !== undefined) next.error_message = outcome.error_message
    else delete next.error_message
  } else {
    next.error_message = reason
  }
  const remove: DocWrite = {collection: QUEUE_COLLECTION, id: key, delete: true}
  if (outcome?.success) {
    next.status = 'SUCCESS'
    next.completed_at_ms = nowMs
    delete next.next_retry_at_ms
    const updated = sub ? {...sub, consecutive_failures: 0, last_success_at_ms: nowMs, last_triggered_at_ms: nowMs} : undefined
    return {delivery: next, sub: updated, queue: remove, events: []}
  }
  const policy = sub ? retryPolicyOf(sub) : undefined
  if (outcome && policy && next.attempts <= policy.max_retries) {
    next.status = 'RETRYING'
    next.next_retry_at_ms = nowMs + retryDelayMs(policy, next.attempts)
    const due: QueueDoc = {...queued, due_at_ms: next.next_retry_at_ms}
    const updated = sub ? {...sub, last_failure_at_ms: nowMs, last_triggered_at_ms: nowMs} : undefined
    return {delivery: next, sub: updated, queue: {collection: QUEUE_COLLECTION, id: key, set: due as unknown as Record<string, unknown>}, events: []}
  }
  next.status = 'FAILED'
  next.completed_at_ms = nowMs
  delete next.next_retry_at_ms
  if (!sub) return {delivery: next, queue: remove, events: []}
  const updated: SubscriptionDoc = {...sub, consecutive_failures: sub.consecutive_failures + 1, last_failure_at_ms: nowMs, ...(outcome ? {last_triggered_at_ms: nowMs} : {})}
  const events: CyclesEvent[] = [systemEvent('system.webhook_delivery_failed', sub, nowMs, {delivery_id: next.delivery_id, event_id: next.event_id, event_type: next.event_type, attempts: next.attempts, ...(next.response_status !== undefined ? {response_status: next.response_status} : {}), error_message: next.error_message ?? 'failed'})]
  if (updated.status === 'ACTIVE' && updated.consecutive_failures >= disableAfterOf(sub)) {
    updated.status = 'DISABLED'
    updated.updated_at_ms = nowMs
    events.push({
      ...systemEvent('webhook.disabled', sub, nowMs, {
        subscription_id: sub.subscription_id,
        tenant_id: sub.tenant_id,
        previous_status: 'ACTIVE',
        new_status: 'DISABLED',
        changed_fields: [],
        disable_reason: 'consecutive_failures_exceeded_threshold',
      }),
      category: 'webhook',
    })
  }
  return {delivery: next, sub: updated, queue: remove, events}
}

function systemEvent(type: string, sub: SubscriptionDoc, nowMs: number, data: Record<string, unknown>): CyclesEvent {
  return {
    event_id: newEventId(nowMs),
    event_type: type,
    category: 'system',
    timestamp: new Date(nowMs).toISOString(),
    tenant_id: sub.tenant_id === SYSTEM_TENANT ? SYSTEM_TENANT : sub.tenant_id,
    actor: {type: 'system'},
    source: 'cycles-webhooks',
    data: {subscription_id: sub.subscription_id, ...data},
  }
}

/** The doc writes of an attempt's result (the subscription's guarded by the version it was read at). */
export function attemptWrites(result: AttemptResult, key: string, subVersion: number | undefined, nowMs: number): DocWrite[] {
  const writes: DocWrite[] = [{collection: DELIVERIES_COLLECTION, id: key, set: result.delivery as unknown as Record<string, unknown>}, result.queue]
  if (result.sub && subVersion !== undefined) {
    writes.push({collection: WEBHOOKS_COLLECTION, id: result.sub.subscription_id, set: result.sub as unknown as Record<string, unknown>, expectVersion: subVersion})
  }
  for (const e of result.events) writes.push(eventWrite(e, nowMs))
  return writes
}
