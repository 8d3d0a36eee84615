// Approval requests and grants (a `cycles` extension, not in the Cycles specs): one doc per request in
// the `approvals` collection. A request is PENDING until an operator approves it (the doc becomes the
// grant, valid until grant_expires_at_ms) or rejects it; a reservation admitted by a grant marks it
// CONSUMED in the reservation's own transaction. Ids are deterministic per (tenant, subject, action
// kind, estimate) plus a sequence, so every daemon instance sharing the store computes the same id
// and `expectVersion: 0` makes queuing idempotent.
import {sha256Hex} from '../protocol/canonical-json.js'
import {type CyclesEvent, EVENTS_COLLECTION, categoryOf, newEventId} from '../events/event.js'
import type {DocWrite, StoredDoc} from '../store/types.js'

export const APPROVALS_COLLECTION = 'approvals'

/** How long a request waits for an answer before it lapses (the reservation was denied meanwhile). */
export const DEFAULT_PENDING_TTL_MS = 24 * 3_600_000
/** How long an approval admits its one reservation, unless the approver says otherwise. */
export const DEFAULT_GRANT_TTL_MS = 3_600_000
/** How long a rejection stands: identical reservations are denied with it instead of queuing again. */
export const REJECTION_HOLD_MS = 24 * 3_600_000
/** Docs are kept this long after their last deadline, for `approvals list` and show. */
export const RETENTION_MS = 7 * 24 * 3_600_000

export type StoredApprovalStatus = 'PENDING' | 'APPROVED' | 'REJECTED' | 'CONSUMED'
/** What list and show report: EXPIRED is a PENDING request or an APPROVED grant past its deadline. */
export type ApprovalStatus = StoredApprovalStatus | 'EXPIRED'
export const APPROVAL_STATUSES: readonly ApprovalStatus[] = ['PENDING', 'APPROVED', 'REJECTED', 'CONSUMED', 'EXPIRED']

export interface ApprovalAsk {
  tenant: string
  /** The reservation's scope path. */
  subject: string
  action_kind: string
  estimate: {unit: string; amount: number}
}

export interface ApprovalRecord extends ApprovalAsk {
  request_id: string
  /** 0, 1, … for successive requests of the same ask. */
  seq: number
  status: StoredApprovalStatus
  requested_at_ms: number
  pending_until_ms: number
  decided_at_ms?: number
  /** Who approved or rejected (free text from the operator, e.g. their login). */
  decided_by?: string
  decision_reason?: string
  grant_expires_at_ms?: number
  consumed_at_ms?: number
}

/** The part of a request id shared by every request of one ask: `apr_` + 20 hex digits of its hash. */
export function askKey(ask: ApprovalAsk): string {
  return `apr_${sha256Hex(JSON.stringify([ask.tenant, ask.subject, ask.action_kind, ask.estimate.unit, ask.estimate.amount])).slice(0, 20)}`
}

/** `apr_<hash>_<seq>`, the sequence as 4 base-36 digits so ids of one ask sort by sequence. */
export function requestIdOf(ask: ApprovalAsk, seq: number): string {
  return `${askKey(ask)}_${seq.toString(36).padStart(4, '0')}`
}

export function recordOf(doc: StoredDoc): ApprovalRecord {
  return doc.value as unknown as ApprovalRecord
}

/** The status as an operator sees it at `nowMs` (deadlines applied). */
export function effectiveStatus(r: ApprovalRecord, nowMs: number): ApprovalStatus {
  if (r.status === 'PENDING' && r.pending_until_ms <= nowMs) return 'EXPIRED'
  if (r.status === 'APPROVED' && (r.grant_expires_at_ms ?? 0) <= nowMs) return 'EXPIRED'
  return r.status
}

/** The doc write that stores `record` (expectVersion: the version it was read at; 0 to create). */
export function recordWrite(record: ApprovalRecord, expectVersion: number): DocWrite {
  const lastDeadline = Math.max(record.pending_until_ms, record.grant_expires_at_ms ?? 0, (record.decided_at_ms ?? 0) + REJECTION_HOLD_MS)
  return {
    collection: APPROVALS_COLLECTION,
    id: record.request_id,
    set: record as unknown as Record<string, unknown>,
    expectVersion,
    expires_at_ms: lastDeadline + RETENTION_MS,
  }
}

/** An event doc for the `events` collection: custom types (`custom.approval.*`, the spec's rule for types outside its enum). */
export function approvalEvent(
  action: 'requested' | 'approved' | 'rejected',
  record: ApprovalRecord,
  nowMs: number,
  extra: {actor?: CyclesEvent['actor']; source: string; request_id?: string; trace_id?: string},
): DocWrite {
  const type = `custom.approval.${action}`
  const event: CyclesEvent = {
    event_id: newEventId(nowMs),
    event_type: type,
    category: categoryOf(type),
    timestamp: new Date(nowMs).toISOString(),
    tenant_id: record.tenant,
    scope: record.subject,
    actor: extra.actor ?? {type: 'system'},
    source: extra.source,
    data: {
      approval_request_id: record.request_id,
      action_kind: record.action_kind,
      estimate: record.estimate,
      status: record.status,
      ...(record.decided_by ? {decided_by: record.decided_by} : {}),
      ...(record.decision_reason ? {reason: record.decision_reason} : {}),
      ...(record.grant_expires_at_ms !== undefined ? {grant_expires_at: new Date(record.grant_expires_at_ms).toISOString()} : {}),
    },
    ...(extra.request_id ? {request_id: extra.request_id} : {}),
    ...(extra.trace_id ? {trace_id: extra.trace_id} : {}),
  }
  return {collection: EVENTS_COLLECTION, id: event.event_id, set: event as unknown as Record<string, unknown>, expectVersion: 0}
}

/** The wire shape of list and show. */
export function approvalWire(r: ApprovalRecord, nowMs: number) {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString())
  return {
    request_id: r.request_id,
    status: effectiveStatus(r, nowMs),
    tenant_id: r.tenant,
    subject: r.subject,
    action_kind: r.action_kind,
    estimate: r.estimate,
    requested_at: iso(r.requested_at_ms),
    pending_until: iso(r.pending_until_ms),
    ...(r.decided_at_ms !== undefined ? {decided_at: iso(r.decided_at_ms)} : {}),
    ...(r.decided_by ? {decided_by: r.decided_by} : {}),
    ...(r.decision_reason ? {reason: r.decision_reason} : {}),
    ...(r.grant_expires_at_ms !== undefined ? {grant_expires_at: iso(r.grant_expires_at_ms)} : {}),
    ...(r.consumed_at_ms !== undefined ? {consumed_at: iso(r.consumed_at_ms)} : {}),
  }
}
export type ApprovalWire = ReturnType<typeof approvalWire>
