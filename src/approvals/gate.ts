// The approval gate (a `cycles` extension): a reservation for an action kind a policy marks as needing
// approval is admitted only by an APPROVED, unexpired grant for the same (tenant, subject, action kind,
// estimate), and each grant admits exactly one reservation. Fails closed: an unreachable store or an
// expired grant is a denial whatever `on_store_error` says.
//
// How the caller (the evaluator's reservation path) uses it:
// - admitted: put `consume` into the reservation's own transaction (Tx.docs). It carries
//   expectVersion on the grant, so of concurrent reservations (any number of daemons on one store)
//   exactly one transaction applies; the others fail with 'doc' (isApprovalConflict) and must be
//   answered as denials — calling the gate again gives the denial (the grant is then CONSUMED).
//   Dry-runs and decides must NOT apply `consume` (they would use up the grant without acting).
// - denied: answer with the reason (dry-run / decide: 200 DENY; live: 409) and name request_id in the
//   message; the gate has already queued the request (once per ask, idempotent across instances).
import type {DocWrite, Store, TxResult} from '../store/types.js'
import {
  APPROVALS_COLLECTION,
  type ApprovalAsk,
  type ApprovalRecord,
  DEFAULT_PENDING_TTL_MS,
  REJECTION_HOLD_MS,
  approvalEvent,
  askKey,
  recordOf,
  recordWrite,
  requestIdOf,
} from './requests.js'

export type ApprovalDenialReason = 'APPROVAL_REQUIRED' | 'APPROVAL_EXPIRED' | 'STORE_UNAVAILABLE'

export type ApprovalVerdict = {admitted: true; consume: DocWrite[]} | {admitted: false; request_id: string; reason: ApprovalDenialReason; message: string}

export interface ApprovalGateOptions {
  /** How long a new request waits for an answer (default 24 h). */
  pendingTtlMs?: number
}

const iso = (ms: number | undefined) => new Date(ms ?? 0).toISOString()

export async function approvalGate(
  store: Store,
  ask: {tenant: string; subject: string /* scope path */; action_kind: string; estimate: {unit: string; amount: number}; nowMs: number},
  options: ApprovalGateOptions = {},
): Promise<ApprovalVerdict> {
  const {nowMs, ...rest} = ask
  const what: ApprovalAsk = {tenant: rest.tenant, subject: rest.subject, action_kind: rest.action_kind, estimate: {unit: rest.estimate.unit, amount: rest.estimate.amount}}
  const describe = `${what.action_kind} on ${what.subject} for ${what.estimate.amount} ${what.estimate.unit}`
  const unavailable = (id: string, why: string): ApprovalVerdict => ({
    admitted: false,
    request_id: id,
    reason: 'STORE_UNAVAILABLE',
    message: `Approval required for ${describe}, and the approvals store is unreachable (${why}); denied (the approval gate fails closed)`,
  })

  let latest
  try {
    // The newest request of this ask (ids of one ask sort by their sequence).
    ;[latest] = await store.listDocs(APPROVALS_COLLECTION, {prefix: `${askKey(what)}_`, descending: true, limit: 1})
  } catch (error) {
    return unavailable(requestIdOf(what, 0), (error as Error).message)
  }

  const record = latest ? recordOf(latest) : undefined
  if (record && latest) {
    if (record.status === 'APPROVED' && (record.grant_expires_at_ms ?? 0) > nowMs) {
      const consumed: ApprovalRecord = {...record, status: 'CONSUMED', consumed_at_ms: nowMs}
      return {admitted: true, consume: [recordWrite(consumed, latest.version)]}
    }
    if (record.status === 'PENDING' && record.pending_until_ms > nowMs) {
      return {
        admitted: false,
        request_id: record.request_id,
        reason: 'APPROVAL_REQUIRED',
        message: `Approval required for ${describe}: request ${record.request_id} is pending (until ${iso(record.pending_until_ms)}); approve it with: cycles approvals approve ${record.request_id}`,
      }
    }
    if (record.status === 'REJECTED' && (record.decided_at_ms ?? 0) + REJECTION_HOLD_MS > nowMs) {
      return {
        admitted: false,
        request_id: record.request_id,
        reason: 'APPROVAL_REQUIRED',
        message: `Approval required for ${describe}: request ${record.request_id} was rejected${record.decided_by ? ` by ${record.decided_by}` : ''}${record.decision_reason ? ` (${record.decision_reason})` : ''}; no new request before ${iso((record.decided_at_ms ?? 0) + REJECTION_HOLD_MS)}`,
      }
    }
  }

  // No usable request: queue the next one. Every instance computes the same id, and expectVersion 0
  // lets exactly one of them create it (with its one `requested` event).
  const seq = record ? record.seq + 1 : 0
  const queued: ApprovalRecord = {...what, request_id: requestIdOf(what, seq), seq, status: 'PENDING', requested_at_ms: nowMs, pending_until_ms: nowMs + (options.pendingTtlMs ?? DEFAULT_PENDING_TTL_MS)}
  let result: TxResult
  try {
    result = await store.apply({docs: [recordWrite(queued, 0), approvalEvent('requested', queued, nowMs, {source: 'cycles-server'})]})
  } catch (error) {
    return unavailable(queued.request_id, (error as Error).message)
  }
  // 'doc': another instance queued the same request first; it is there either way.
  if (!result.ok && result.failed !== 'doc') return unavailable(queued.request_id, `the request could not be queued: ${result.failed}`)

  const expired = record && (record.status === 'APPROVED' || record.status === 'PENDING')
  if (expired) {
    const lapsed = record.status === 'APPROVED' ? `the approval of ${record.request_id} expired at ${iso(record.grant_expires_at_ms)}` : `request ${record.request_id} expired unanswered at ${iso(record.pending_until_ms)}`
    return {
      admitted: false,
      request_id: queued.request_id,
      reason: 'APPROVAL_EXPIRED',
      message: `Approval required for ${describe}: ${lapsed}; new request ${queued.request_id} is pending: cycles approvals approve ${queued.request_id}`,
    }
  }
  return {
    admitted: false,
    request_id: queued.request_id,
    reason: 'APPROVAL_REQUIRED',
    message: `Approval required for ${describe}: request ${queued.request_id} is pending; approve it with: cycles approvals approve ${queued.request_id}`,
  }
}

/** True when a reservation's transaction failed because a concurrent one consumed the same grant first. */
export function isApprovalConflict(result: TxResult): boolean {
  return !result.ok && result.failed === 'doc' && (result.detail ?? '').startsWith(`${APPROVALS_COLLECTION}/`)
}
