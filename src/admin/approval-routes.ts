// Approval requests on the admin plane (a `cycles` extension, not in the Cycles admin spec): list, show,
// approve, reject. Approve and reject are audited with actor and reason (reject needs one), written
// with their event doc in one transaction guarded by the version read, so of two racing decisions
// exactly one wins (the other answers 409).
import {z} from 'zod'

import type {HttpRequest, HttpResponse, JsonServer} from '../daemon/http/json-server.js'
import {ProtocolError} from '../protocol/errors.js'
import {
  APPROVALS_COLLECTION,
  APPROVAL_STATUSES,
  type ApprovalRecord,
  DEFAULT_GRANT_TTL_MS,
  approvalEvent,
  approvalWire,
  effectiveStatus,
  recordOf,
  recordWrite,
} from '../approvals/requests.js'
import type {StoredDoc} from '../store/types.js'
import type {AdminCore, AdminCtx, AdminResult} from './context.js'
import {paginate, sortBy} from './context.js'
import {parseBody, queryEnum, queryLimit} from './requests.js'

type AdminOnly = (handler: (req: HttpRequest, ctx: AdminCtx) => Promise<AdminResult> | AdminResult) => (req: HttpRequest) => Promise<HttpResponse>

const LIST_PAGE = 500
/** Longest grant an approver may give: a day. */
const MAX_GRANT_TTL_S = 86_400

const approveBody = z.strictObject({
  actor: z.string().min(1).max(128).optional(),
  reason: z.string().min(1).max(512).optional(),
  /** How long the grant admits its one reservation (default 3600). */
  ttl_seconds: z.int().min(1).max(MAX_GRANT_TTL_S).optional(),
})
const rejectBody = z.strictObject({
  actor: z.string().min(1).max(128).optional(),
  reason: z.string().trim().min(1, 'a reason is required to reject').max(512),
})

export function registerApprovalRoutes(server: JsonServer, adminOnly: AdminOnly, core: AdminCore): void {
  server
    .route('GET', '/v1/admin/approvals', adminOnly((req) => listApprovals(core, req.query)))
    .route('GET', '/v1/admin/approvals/:request_id', adminOnly(async (req) => ({status: 200, body: approvalWire(recordOf(await requestOrThrow(core, req.params.request_id!)), core.now())})))
    .route('POST', '/v1/admin/approvals/:request_id/approve', adminOnly((req, ctx) => decideApprovalRequest(core, ctx, req.params.request_id!, 'approve', req.body)), {bodyOptional: true})
    .route('POST', '/v1/admin/approvals/:request_id/reject', adminOnly((req, ctx) => decideApprovalRequest(core, ctx, req.params.request_id!, 'reject', req.body)))
}

async function requestOrThrow(core: AdminCore, id: string): Promise<StoredDoc> {
  const [doc] = await core.store.getDocs(APPROVALS_COLLECTION, [id])
  if (!doc) throw new ProtocolError('NOT_FOUND', `Approval request not found: ${id} (cycles approvals list shows the open ones)`)
  return doc
}

/** Newest request first; filters: tenant_id, status (as reported, EXPIRED included). */
export async function listApprovals(core: AdminCore, query: URLSearchParams): Promise<AdminResult> {
  const tenant = query.get('tenant_id') || undefined
  const status = queryEnum(query, 'status', APPROVAL_STATUSES)
  const limit = queryLimit(query)
  const now = core.now()
  const records: ApprovalRecord[] = []
  let after: string | undefined
  for (;;) {
    const page = await core.store.listDocs(APPROVALS_COLLECTION, {limit: LIST_PAGE, ...(after ? {after} : {})})
    for (const doc of page) {
      const r = recordOf(doc)
      if (tenant && r.tenant !== tenant) continue
      if (status && effectiveStatus(r, now) !== status) continue
      records.push(r)
    }
    if (page.length < LIST_PAGE) break
    after = page.at(-1)!.id
  }
  const sorted = sortBy(records, (r) => r.requested_at_ms, 'desc')
  const {page, next_cursor, has_more} = paginate(sorted, {r: 'approvals', tenant, status}, query.get('cursor'), limit)
  return {status: 200, body: {approvals: page.map((r) => approvalWire(r, now)), ...(next_cursor ? {next_cursor} : {}), has_more}}
}

/** Approve or reject one PENDING request (exported for in-process callers and tests). */
export async function decideApprovalRequest(core: AdminCore, ctx: AdminCtx, id: string, verdict: 'approve' | 'reject', raw: unknown): Promise<AdminResult> {
  const body = verdict === 'approve' ? parseBody(approveBody, raw ?? {}) : parseBody(rejectBody, raw)
  const doc = await requestOrThrow(core, id)
  const before = recordOf(doc)
  const now = core.now()
  const current = effectiveStatus(before, now)
  if (current !== 'PENDING') {
    throw new ProtocolError('INVALID_REQUEST', `Approval request ${id} is ${current}; only a PENDING request can be ${verdict === 'approve' ? 'approved' : 'rejected'}`, {status: current}, 409)
  }
  const ttlMs = verdict === 'approve' && 'ttl_seconds' in body && body.ttl_seconds ? body.ttl_seconds * 1000 : DEFAULT_GRANT_TTL_MS
  const after: ApprovalRecord = {
    ...before,
    status: verdict === 'approve' ? 'APPROVED' : 'REJECTED',
    decided_at_ms: now,
    ...(body.actor ? {decided_by: body.actor} : {}),
    ...(body.reason ? {decision_reason: body.reason} : {}),
    ...(verdict === 'approve' ? {grant_expires_at_ms: now + ttlMs} : {}),
  }
  const result = await core.store.apply({
    docs: [
      recordWrite(after, doc.version),
      approvalEvent(verdict === 'approve' ? 'approved' : 'rejected', after, now, {actor: {type: 'admin', ...(ctx.source_ip ? {source_ip: ctx.source_ip} : {})}, source: 'cycles-admin', request_id: ctx.request_id, trace_id: ctx.trace_id}),
    ],
    audit: [
      core.audit(ctx, {
        tenant_id: before.tenant,
        operation: verdict === 'approve' ? 'approveApprovalRequest' : 'rejectApprovalRequest',
        resource_type: 'approval',
        resource_id: id,
        status: 200,
        metadata: {
          ...(body.actor ? {actor: body.actor} : {}),
          ...(body.reason ? {reason: body.reason} : {}),
          action_kind: before.action_kind,
          subject: before.subject,
          estimate: before.estimate,
          ...(after.grant_expires_at_ms !== undefined ? {grant_expires_at: new Date(after.grant_expires_at_ms).toISOString()} : {}),
        },
      }),
    ],
  })
  if (!result.ok) {
    if (result.failed === 'doc') throw new ProtocolError('INVALID_REQUEST', `Approval request ${id} was decided by someone else meanwhile; show it again`, undefined, 409)
    throw new ProtocolError('INTERNAL_ERROR', `Store rejected the change (${result.failed})`)
  }
  await core.store.flushed()
  return {status: 200, body: approvalWire(after, now)}
}
