// The approval routes on a real daemon's admin plane (port 0): list, show, approve, reject, their audit
// rows and event docs, and the error answers (error envelope, 400 / 404 / 409).
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {approvalGate} from '../../src/approvals/gate.js'
import {EVENTS_COLLECTION} from '../../src/events/event.js'
import {type TestDaemon, startTestDaemon} from '../support/daemon.js'
import {ADMIN_CONFIG, admin} from '../admin/support.js'

describe('approval routes on the admin plane', () => {
  let d: TestDaemon
  let url: string
  const queue = async (amount: number) => {
    const v = await approvalGate(d.daemon.store, {tenant: 'acme', subject: 'tenant:acme/workspace:prod', action_kind: 'payment.charge', estimate: {unit: 'USD_MICROCENTS', amount}, nowMs: Date.now()})
    if (v.admitted) throw new Error('expected a denial')
    return v.request_id
  }
  beforeAll(async () => {
    d = await startTestDaemon(ADMIN_CONFIG, {adminPort: 0})
    url = d.daemon.adminUrl
  })
  afterAll(async () => {
    await d.stop()
  })

  it('lists and shows a queued request; status filter applies', async () => {
    const id = await queue(100)
    const list = await admin(url, 'GET', '/v1/admin/approvals?tenant_id=acme')
    expect(list.status).toBe(200)
    expect(list.body.has_more).toBe(false)
    expect(list.body.approvals).toEqual([expect.objectContaining({request_id: id, status: 'PENDING', tenant_id: 'acme', subject: 'tenant:acme/workspace:prod', action_kind: 'payment.charge', estimate: {unit: 'USD_MICROCENTS', amount: 100}})])
    expect((await admin(url, 'GET', '/v1/admin/approvals?status=APPROVED')).body.approvals).toEqual([])
    expect((await admin(url, 'GET', '/v1/admin/approvals?tenant_id=globex')).body.approvals).toEqual([])
    const show = await admin(url, 'GET', `/v1/admin/approvals/${id}`)
    expect(show.status).toBe(200)
    expect(show.body).toMatchObject({request_id: id, status: 'PENDING'})
    expect(typeof show.body.pending_until).toBe('string')
  })

  it('approve: 200 APPROVED with a grant deadline, audited with actor and reason, an event doc; a second decision is 409', async () => {
    const id = await queue(200)
    const res = await admin(url, 'POST', `/v1/admin/approvals/${id}/approve`, {actor: 'alice', reason: 'refund INC-7', ttl_seconds: 120})
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({request_id: id, status: 'APPROVED', decided_by: 'alice', reason: 'refund INC-7'})
    expect(Date.parse(res.body.grant_expires_at) - Date.parse(res.body.decided_at)).toBe(120_000)
    const audit = await admin(url, 'GET', `/v1/admin/audit/logs?operation=approveApprovalRequest&resource_id=${id}`)
    expect(audit.body.logs).toHaveLength(1)
    expect(audit.body.logs[0]).toMatchObject({tenant_id: 'acme', resource_type: 'approval', status: 200, metadata: {actor: 'alice', reason: 'refund INC-7', action_kind: 'payment.charge'}})
    const events = (await d.daemon.store.listDocs(EVENTS_COLLECTION, {limit: 1000})).map((e) => e.value)
    expect(events).toContainEqual(expect.objectContaining({event_type: 'custom.approval.approved', source: 'cycles-admin', tenant_id: 'acme', data: expect.objectContaining({approval_request_id: id, decided_by: 'alice'})}))
    const again = await admin(url, 'POST', `/v1/admin/approvals/${id}/reject`, {reason: 'changed my mind'})
    expect(again.status).toBe(409)
    expect(again.body).toMatchObject({error: 'INVALID_REQUEST'})
    expect(again.body.message).toContain('is APPROVED')
    expect(typeof again.body.request_id).toBe('string')
  })

  it('reject needs a reason (400); with one it is audited and the request is REJECTED', async () => {
    const id = await queue(300)
    const missing = await admin(url, 'POST', `/v1/admin/approvals/${id}/reject`, {actor: 'bob'})
    expect(missing.status).toBe(400)
    expect(missing.body.error).toBe('INVALID_REQUEST')
    const blank = await admin(url, 'POST', `/v1/admin/approvals/${id}/reject`, {actor: 'bob', reason: '   '})
    expect(blank.status).toBe(400)
    const res = await admin(url, 'POST', `/v1/admin/approvals/${id}/reject`, {actor: 'bob', reason: 'no payments in the freeze'})
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({status: 'REJECTED', decided_by: 'bob', reason: 'no payments in the freeze'})
    const audit = await admin(url, 'GET', `/v1/admin/audit/logs?operation=rejectApprovalRequest&resource_id=${id}`)
    expect(audit.body.logs.map((l: {metadata: unknown}) => l.metadata)).toEqual([expect.objectContaining({actor: 'bob', reason: 'no payments in the freeze'})])
  })

  it('unknown ids are 404 in the error envelope; the routes need the admin key', async () => {
    const res = await admin(url, 'GET', '/v1/admin/approvals/apr_nope_0000')
    expect(res.status).toBe(404)
    expect(res.body).toMatchObject({error: 'NOT_FOUND'})
    expect(res.body.message).toContain('apr_nope_0000')
    const approve = await admin(url, 'POST', '/v1/admin/approvals/apr_nope_0000/approve', {})
    expect(approve.status).toBe(404)
    const anon = await fetch(`${url}/v1/admin/approvals`)
    expect(anon.status).toBe(401)
  })
})
