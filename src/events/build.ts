// Building events: the envelope (id, time, category, source, correlation) and the payloads of the
// admin spec's EventData* schemas. Pure functions of what the caller already has in hand.
import {createHash} from 'node:crypto'

import type {ApiKey, Ledger, Tenant} from '../protocol/types.js'
import {scopeTenant} from '../protocol/scope.js'
import {type CyclesEvent, type EventActor, SYSTEM_TENANT, categoryOf, newEventId} from './event.js'

export const SOURCE_RUNTIME = 'cycles-server'
export const SOURCE_ADMIN = 'cycles-admin'

/** Where an event came from: the request (ids for correlation) and who made it. */
export interface EventOrigin {
  request_id?: string
  trace_id?: string
  actor?: EventActor
  correlation_id?: string
}

export interface EventFields extends EventOrigin {
  tenant_id?: string
  scope?: string
  source: string
  data?: Record<string, unknown>
  metadata?: Record<string, unknown>
}

const TRACE_ID = /^[0-9a-f]{32}$/

/** One event with a fresh time-ordered id; absent fields are left out (the spec omits nulls). */
export function buildEvent(nowMs: number, eventType: string, f: EventFields): CyclesEvent {
  const event: CyclesEvent = {
    event_id: newEventId(nowMs),
    event_type: eventType,
    category: categoryOf(eventType),
    timestamp: new Date(nowMs).toISOString(),
    tenant_id: f.tenant_id ?? (f.scope ? scopeTenant(f.scope) : undefined) ?? SYSTEM_TENANT,
    source: f.source,
  }
  if (f.scope !== undefined) event.scope = f.scope
  if (f.actor) event.actor = f.actor
  if (f.data) event.data = withoutUndefined(f.data)
  if (f.correlation_id) event.correlation_id = f.correlation_id
  if (f.request_id) event.request_id = f.request_id
  if (f.trace_id && TRACE_ID.test(f.trace_id)) event.trace_id = f.trace_id
  if (f.metadata) event.metadata = f.metadata
  return event
}

function withoutUndefined(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v
  return out
}

/** A short stable hash (correlation ids that must be the same for the same inputs). */
export function stableId(prefix: string, ...parts: Array<string | number | undefined>): string {
  return `${prefix}_${createHash('sha256').update(parts.map((p) => String(p ?? '')).join('\u0000')).digest('hex').slice(0, 24)}`
}

// ---------------------------------------------------------------- payloads

/** EventDataBudgetLifecycle previous_state / new_state. */
export function ledgerState(l: Ledger): Record<string, unknown> {
  return {allocated: l.allocated, remaining: l.remaining, debt: l.debt, spent: l.spent, reserved: l.reserved, status: l.status}
}

export type BudgetOperation = 'CREDIT' | 'DEBIT' | 'RESET' | 'RESET_SPENT' | 'REPAY_DEBT' | 'STATUS_CHANGE' | 'CREATE' | 'UPDATE'

/** The event type of a funding operation. */
export const FUNDING_EVENT: Record<string, string> = {
  CREDIT: 'budget.funded',
  DEBIT: 'budget.debited',
  RESET: 'budget.reset',
  RESET_SPENT: 'budget.reset_spent',
  REPAY_DEBT: 'budget.debt_repaid',
}

export function budgetLifecycleData(
  ledgerId: string,
  operation: BudgetOperation,
  before: Ledger | undefined,
  after: Ledger,
  extra: {reason?: string; spent_override_provided?: boolean; changed_fields?: string[]} = {},
): Record<string, unknown> {
  return {
    ledger_id: ledgerId,
    scope: after.scope,
    unit: after.unit,
    operation,
    ...(before ? {previous_state: ledgerState(before)} : {}),
    new_state: ledgerState(after),
    ...extra,
  }
}

export function tenantLifecycleData(before: Tenant | undefined, after: Tenant, changedFields: string[]): Record<string, unknown> {
  return {
    tenant_id: after.tenant_id,
    ...(before ? {previous_status: before.status} : {}),
    new_status: after.status,
    changed_fields: changedFields,
  }
}

export function apiKeyData(key: ApiKey, before: ApiKey | undefined, extra: {failure_reason?: string; source_ip?: string} = {}): Record<string, unknown> {
  return {
    key_id: key.key_id,
    ...(key.name ? {key_name: key.name} : {}),
    ...(before ? {previous_status: before.status} : {}),
    new_status: key.status,
    permissions: key.permissions,
    ...extra,
  }
}

/** api_key.auth_failed: a key that is missing, unknown, revoked or expired (never the key itself). */
export function authFailedEvent(nowMs: number, source: string, origin: Pick<EventOrigin, 'request_id' | 'trace_id'> & {source_ip?: string}, reason: string, key?: ApiKey): CyclesEvent {
  const where = origin.source_ip ? {source_ip: origin.source_ip} : {}
  return buildEvent(nowMs, 'api_key.auth_failed', {
    tenant_id: key?.tenant_id ?? SYSTEM_TENANT,
    source,
    actor: {type: 'api_key', ...(key ? {key_id: key.key_id} : {}), ...where},
    request_id: origin.request_id,
    trace_id: origin.trace_id,
    data: key ? apiKeyData(key, undefined, {failure_reason: reason, ...where}) : {failure_reason: reason, ...where},
  })
}

/** Why a presented key did not authenticate (EventDataApiKey.failure_reason). */
export function authFailureReason(key: ApiKey | undefined, nowMs: number): string {
  if (!key) return 'key_not_found'
  if (key.status === 'REVOKED') return 'key_revoked'
  if (key.status === 'EXPIRED' || (key.expires_at_ms !== undefined && key.expires_at_ms <= nowMs)) return 'key_expired'
  return 'key_not_usable'
}

/** custom.rollout.guard_rollback: the daemon's guard sent a tier back to shadow (the figures that tripped it). */
export function guardRollbackEvent(nowMs: number, id: string, tier: string, record: object): CyclesEvent {
  return buildEvent(nowMs, 'custom.rollout.guard_rollback', {source: SOURCE_RUNTIME, actor: {type: 'system'}, correlation_id: id, data: {tier, ...record}})
}

/** Tenant events a tenant's own key may read (GET /v1/events) and tenant-owned webhooks may carry. */
export const TENANT_VISIBLE_CATEGORIES: ReadonlySet<string> = new Set(['budget', 'reservation', 'tenant'])
