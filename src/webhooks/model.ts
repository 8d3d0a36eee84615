// Webhook subscriptions and deliveries as docs of the store (src/store/types.ts StoredDoc), their
// defaults (cycles-admin.md §5.4) and their wire shapes (admin spec WebhookSubscription, WebhookDelivery).
import {createHash} from 'node:crypto'

import {type CyclesEvent, type EventCategory, SYSTEM_TENANT} from '../events/event.js'

/** One doc per subscription, id = subscription_id. */
export const WEBHOOKS_COLLECTION = 'webhooks'
/** One doc per delivery, id = `${subscription_id}/${delivery id}` (a prefix scan lists one subscription's, in time order). */
export const DELIVERIES_COLLECTION = 'webhook-deliveries'
/** One doc per delivery not yet finished (PENDING or RETRYING), same id as its delivery: what the senders scan. */
export const QUEUE_COLLECTION = 'webhook-queue'
/** Send leases, same id as the delivery: the one instance allowed to send it until the lease expires. */
export const LEASES_COLLECTION = 'webhook-leases'
/** The dispatcher's cursor, the security config and per-subscription replay locks. */
export const CONTROL_COLLECTION = 'webhook-control'
export const CURSOR_DOC = 'cursor'
export const SECURITY_DOC = 'security'
export const replayLockId = (subscriptionId: string) => `replay/${subscriptionId}`

export type WebhookStatus = 'ACTIVE' | 'PAUSED' | 'DISABLED'
export type DeliveryStatus = 'PENDING' | 'SUCCESS' | 'FAILED' | 'RETRYING'

export interface RetryPolicy {
  max_retries: number
  initial_delay_ms: number
  backoff_multiplier: number
  max_delay_ms: number
}

export const DEFAULT_RETRY: RetryPolicy = {max_retries: 5, initial_delay_ms: 1000, backoff_multiplier: 2, max_delay_ms: 60_000}
export const DEFAULT_DISABLE_AFTER_FAILURES = 10
/** Deliveries older than this are failed without being sent (the reference server's MAX_DELIVERY_AGE_MS). */
export const MAX_DELIVERY_AGE_MS = 24 * 3_600_000
/** How long delivery history is kept (the reference server's DELIVERY_TTL_DAYS default). */
export const DELIVERY_RETENTION_MS = 14 * 24 * 3_600_000

/** The stored subscription (secrets encrypted, see secrets.ts). */
export interface SubscriptionDoc {
  subscription_id: string
  tenant_id: string
  name?: string
  description?: string
  url: string
  event_types: string[]
  event_categories?: string[]
  scope_filter?: string
  thresholds?: Record<string, unknown>
  /** `enc:v1:…` (AES-256-GCM). */
  signing_secret_enc: string
  /** The custom headers' JSON, encrypted; absent when there are none. */
  headers_enc?: string
  /** Header names only, for the masked view without decrypting. */
  header_names?: string[]
  status: WebhookStatus
  retry_policy?: Partial<RetryPolicy>
  disable_after_failures?: number
  consecutive_failures: number
  created_at_ms: number
  updated_at_ms?: number
  last_triggered_at_ms?: number
  last_success_at_ms?: number
  last_failure_at_ms?: number
  metadata?: Record<string, unknown>
}

export interface DeliveryDoc {
  delivery_id: string
  subscription_id: string
  event_id: string
  event_type: string
  tenant_id: string
  status: DeliveryStatus
  created_at_ms: number
  attempted_at_ms?: number
  completed_at_ms?: number
  attempts: number
  response_status?: number
  response_time_ms?: number
  error_message?: string
  /** When it is due next (the first attempt: at once). */
  next_retry_at_ms?: number
  trace_id?: string
  replay_id?: string
}

/** The queue entry of an unfinished delivery. */
export interface QueueDoc {
  due_at_ms: number
  subscription_id: string
  created_at_ms: number
  replay_id?: string
}

export const retryPolicyOf = (s: Pick<SubscriptionDoc, 'retry_policy'>): RetryPolicy => ({...DEFAULT_RETRY, ...s.retry_policy})
export const disableAfterOf = (s: Pick<SubscriptionDoc, 'disable_after_failures'>): number => s.disable_after_failures ?? DEFAULT_DISABLE_AFTER_FAILURES

/** Delay before retry number `retry` (1-based): min(initial × multiplier^(retry−1), max) — 1, 2, 4, 8, 16 s by default. */
export function retryDelayMs(policy: RetryPolicy, retry: number): number {
  return Math.min(policy.initial_delay_ms * policy.backoff_multiplier ** (retry - 1), policy.max_delay_ms)
}

// ---------------------------------------------------------------- the category boundary

/** What a tenant-owned subscription may select (spec: TENANT-ACCESSIBLE BOUNDARY). */
export const TENANT_CATEGORIES: readonly EventCategory[] = ['budget', 'reservation', 'tenant']

export function tenantAccessible(eventTypeOrCategory: string): boolean {
  const head = eventTypeOrCategory.split('.')[0]
  return (TENANT_CATEGORIES as readonly string[]).includes(head)
}

export const isSystemOwned = (tenantId: string) => tenantId === SYSTEM_TENANT

// ---------------------------------------------------------------- ids

/** `whsub_` + 24 hex. */
export const newSubscriptionId = (random: (n: number) => Buffer) => `whsub_${random(12).toString('hex')}`

/**
 * `dlv_` + the time in base 36 + a sequence number within one batch (so a subscription's deliveries
 * list, and are sent, in the order they were queued) + 10 random hex.
 */
export const newDeliveryId = (nowMs: number, random: (n: number) => Buffer, seq = 0) =>
  `dlv_${nowMs.toString(36).padStart(11, '0')}${seq.toString(36).padStart(4, '0')}${random(5).toString('hex')}`

/** The delivery of one event to one subscription by the dispatcher (`seq`: its place in the scan). */
export function dispatchDeliveryId(event: Pick<CyclesEvent, 'event_id'>, subscriptionId: string, createdMs: number, seq: number): string {
  return `dlv_${createdMs.toString(36).padStart(11, '0')}${seq.toString(36).padStart(4, '0')}${createHash('sha256').update(`${subscriptionId}|${event.event_id}`).digest('hex').slice(0, 10)}`
}

export const deliveryKey = (subscriptionId: string, deliveryId: string) => `${subscriptionId}/${deliveryId}`
/** The smallest delivery key of a subscription created at or after `ms`. */
export const deliveryKeyFloor = (subscriptionId: string, ms: number) => `${subscriptionId}/dlv_${Math.max(0, ms).toString(36).padStart(11, '0')}`

// ---------------------------------------------------------------- wire shapes

const iso = (ms: number) => new Date(ms).toISOString()
export const MASK = '********'

export function subscriptionWire(s: SubscriptionDoc): Record<string, unknown> {
  const out: Record<string, unknown> = {subscription_id: s.subscription_id, tenant_id: s.tenant_id}
  if (s.name !== undefined) out.name = s.name
  if (s.description !== undefined) out.description = s.description
  out.url = s.url
  out.event_types = s.event_types
  if (s.event_categories?.length) out.event_categories = s.event_categories
  if (s.scope_filter) out.scope_filter = s.scope_filter
  if (s.thresholds) out.thresholds = s.thresholds
  // Custom header values are secrets too: names only.
  if (s.header_names?.length) out.headers = Object.fromEntries(s.header_names.map((n) => [n, MASK]))
  out.status = s.status
  out.retry_policy = retryPolicyOf(s)
  out.disable_after_failures = disableAfterOf(s)
  out.consecutive_failures = s.consecutive_failures
  out.created_at = iso(s.created_at_ms)
  if (s.updated_at_ms !== undefined) out.updated_at = iso(s.updated_at_ms)
  if (s.last_triggered_at_ms !== undefined) out.last_triggered_at = iso(s.last_triggered_at_ms)
  if (s.last_success_at_ms !== undefined) out.last_success_at = iso(s.last_success_at_ms)
  if (s.last_failure_at_ms !== undefined) out.last_failure_at = iso(s.last_failure_at_ms)
  if (s.metadata) out.metadata = s.metadata
  return out
}

export function deliveryWire(d: DeliveryDoc): Record<string, unknown> {
  const out: Record<string, unknown> = {
    delivery_id: d.delivery_id,
    subscription_id: d.subscription_id,
    event_id: d.event_id,
    event_type: d.event_type,
    status: d.status,
    // Not yet attempted: when it was queued.
    attempted_at: iso(d.attempted_at_ms ?? d.created_at_ms),
    attempts: d.attempts,
  }
  if (d.completed_at_ms !== undefined) out.completed_at = iso(d.completed_at_ms)
  if (d.response_status !== undefined) out.response_status = d.response_status
  if (d.response_time_ms !== undefined) out.response_time_ms = d.response_time_ms
  if (d.error_message !== undefined) out.error_message = d.error_message
  if (d.next_retry_at_ms !== undefined && (d.status === 'RETRYING' || d.status === 'PENDING')) out.next_retry_at = iso(d.next_retry_at_ms)
  if (d.trace_id && /^[0-9a-f]{32}$/.test(d.trace_id)) out.trace_id = d.trace_id
  return out
}
