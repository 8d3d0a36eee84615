// The event envelope of the admin spec (Event; a webhook's body is this JSON) and how events are
// stored: docs of the `events` collection (src/store/types.ts StoredDoc), ids ordered by time.
import crypto from 'node:crypto'

export const EVENTS_COLLECTION = 'events'

/** Tenant id of events that belong to no tenant (system events, system-wide subscriptions). */
export const SYSTEM_TENANT = '__system__'

export const EVENT_CATEGORIES = ['budget', 'tenant', 'api_key', 'policy', 'reservation', 'system', 'webhook'] as const
export type EventCategory = (typeof EVENT_CATEGORIES)[number]

/** The admin spec's EventType enum (v0.1.25) plus the v0.1.26 shadow-mode names. */
export const EVENT_TYPES = [
  'budget.created', 'budget.updated', 'budget.funded', 'budget.debited', 'budget.reset', 'budget.reset_spent',
  'budget.debt_repaid', 'budget.frozen', 'budget.unfrozen', 'budget.closed', 'budget.closed_via_tenant_cascade',
  'budget.threshold_crossed', 'budget.exhausted', 'budget.over_limit_entered', 'budget.over_limit_exited',
  'budget.debt_incurred', 'budget.burn_rate_anomaly',
  'reservation.denied', 'reservation.denial_rate_spike', 'reservation.expired', 'reservation.expiry_rate_spike',
  'reservation.commit_overage', 'reservation.released_via_tenant_cascade', 'reservation.observed_denied', 'reservation.observed_allowed',
  'tenant.created', 'tenant.updated', 'tenant.suspended', 'tenant.reactivated', 'tenant.closed', 'tenant.settings_changed',
  'webhook.created', 'webhook.updated', 'webhook.paused', 'webhook.resumed', 'webhook.disabled', 'webhook.deleted',
  'webhook.disabled_via_tenant_cascade',
  'api_key.created', 'api_key.revoked', 'api_key.revoked_via_tenant_cascade', 'api_key.expired',
  'api_key.permissions_changed', 'api_key.auth_failed', 'api_key.auth_failure_rate_spike',
  'policy.created', 'policy.updated', 'policy.deleted',
  'system.store_connection_lost', 'system.store_connection_restored', 'system.high_latency',
  'system.webhook_delivery_failed', 'system.webhook_test',
] as const

export interface EventActor {
  type: 'admin' | 'api_key' | 'admin_on_behalf_of' | 'system' | 'scheduler'
  key_id?: string
  source_ip?: string
}

export interface CyclesEvent {
  event_id: string
  /** `{category}.{action}`; custom types start with `custom.`. */
  event_type: string
  category: EventCategory
  /** ISO 8601. */
  timestamp: string
  tenant_id: string
  scope?: string
  actor?: EventActor
  /** 'cycles-server' (runtime plane) or 'cycles-admin' (admin plane). */
  source: string
  data?: Record<string, unknown>
  correlation_id?: string
  request_id?: string
  trace_id?: string
  metadata?: Record<string, unknown>
}

let lastIdMs = -1
let sameMsSequence = 0

/**
 * `evt_` + the time in ms (11 base-36 digits, so ids sort by time as strings) + 12 hex digits: a
 * sequence within the millisecond (4, so one process's events of one millisecond keep their order)
 * and 8 random ones. Listing the collection in id order is listing events in time order.
 */
export function newEventId(nowMs: number): string {
  if (nowMs === lastIdMs) sameMsSequence = Math.min(sameMsSequence + 1, 0xffff)
  else {
    lastIdMs = nowMs
    sameMsSequence = 0
  }
  return `evt_${nowMs.toString(36).padStart(11, '0')}${sameMsSequence.toString(16).padStart(4, '0')}${crypto.randomBytes(4).toString('hex')}`
}

/** The smallest id of an event at or after `ms` (a lower bound for time-window listing). */
export function eventIdFloor(ms: number): string {
  return `evt_${Math.max(0, ms).toString(36).padStart(11, '0')}`
}

/** The category of a type (`custom.*` types are filed under the category their second segment names, else 'system'). */
export function categoryOf(eventType: string): EventCategory {
  const parts = eventType.split('.')
  const head = parts[0] === 'custom' ? parts[1] : parts[0]
  return (EVENT_CATEGORIES as readonly string[]).includes(head) ? (head as EventCategory) : 'system'
}

/** Where events go: implemented by the daemon's event writer (batched, never blocking a request). */
export interface EventSink {
  emit(event: CyclesEvent): void
}
