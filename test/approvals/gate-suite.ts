// The approval gate against one store (embedded or Redis): queuing once, one grant admits one
// reservation under concurrency, expiry and an unreachable store deny (fail closed).
import {afterEach, describe, expect, it} from 'vitest'

import {decideApprovalRequest} from '../../src/admin/approval-routes.js'
import {AdminCore, type AdminCtx} from '../../src/admin/context.js'
import {approvalGate, isApprovalConflict} from '../../src/approvals/gate.js'
import {APPROVALS_COLLECTION, DEFAULT_PENDING_TTL_MS, REJECTION_HOLD_MS, askKey} from '../../src/approvals/requests.js'
import {EVENTS_COLLECTION} from '../../src/events/event.js'
import type {Ledger} from '../../src/protocol/types.js'
import type {Store} from '../../src/store/types.js'

export const T0 = Date.UTC(2026, 10, 28, 9, 0, 0)
const ctx: AdminCtx = {request_id: 'req-test', trace_id: '0'.repeat(32)}
const ask = (over: Partial<{subject: string; amount: number}> = {}, nowMs = T0) => ({
  tenant: 'acme',
  subject: over.subject ?? 'tenant:acme/workspace:prod/agent:mailer',
  action_kind: 'payment.charge',
  estimate: {unit: 'USD_MICROCENTS', amount: over.amount ?? 5000},
  nowMs,
})

export function describeApprovalGate(name: string, open: () => Promise<Store>): void {
  describe(`approval gate (${name})`, () => {
    let store: Store | undefined
    afterEach(async () => {
      await store?.close()
      store = undefined
    })
    const fresh = async () => (store = await open())
    const approve = (s: Store, id: string, nowMs: number, ttl_seconds?: number) =>
      decideApprovalRequest(new AdminCore({store: s, now: () => nowMs}), ctx, id, 'approve', {actor: 'alice', reason: 'ok for INC-1', ...(ttl_seconds ? {ttl_seconds} : {})})
    const requests = async (s: Store) => s.listDocs(APPROVALS_COLLECTION, {prefix: askKey(ask())})
    const requestedEvents = async (s: Store) => (await s.listDocs(EVENTS_COLLECTION, {limit: 1000})).filter((d) => d.value.event_type === 'custom.approval.requested')

    it('denies without a grant and queues the request once, however often and however concurrently it is asked', async () => {
      const s = await fresh()
      const first = await approvalGate(s, ask())
      expect(first).toMatchObject({admitted: false, reason: 'APPROVAL_REQUIRED', request_id: `${askKey(ask())}_0000`})
      const again = await Promise.all(Array.from({length: 10}, () => approvalGate(s, ask({}, T0 + 1000))))
      for (const v of again) expect(v).toMatchObject({admitted: false, reason: 'APPROVAL_REQUIRED', request_id: `${askKey(ask())}_0000`})
      const docs = await requests(s)
      expect(docs.map((d) => [d.id, d.value.status, d.value.requested_at_ms])).toEqual([[`${askKey(ask())}_0000`, 'PENDING', T0]])
      const events = await requestedEvents(s)
      expect(events).toHaveLength(1)
      expect(events[0]!.value).toMatchObject({category: 'system', tenant_id: 'acme', scope: ask().subject, data: {approval_request_id: `${askKey(ask())}_0000`, action_kind: 'payment.charge'}})
    })

    it('queues concurrent first asks exactly once (deterministic id, expectVersion 0)', async () => {
      const s = await fresh()
      const verdicts = await Promise.all(Array.from({length: 12}, () => approvalGate(s, ask())))
      expect(new Set(verdicts.map((v) => (v.admitted ? 'admitted' : v.request_id)))).toEqual(new Set([`${askKey(ask())}_0000`]))
      expect(await requests(s)).toHaveLength(1)
      expect(await requestedEvents(s)).toHaveLength(1)
    })

    it('keys requests by tenant, subject, action and estimate: another estimate is another request', async () => {
      const s = await fresh()
      const a = await approvalGate(s, ask())
      const b = await approvalGate(s, ask({amount: 5001}))
      const c = await approvalGate(s, ask({subject: 'tenant:acme/workspace:prod/agent:other'}))
      const ids = [a, b, c].map((v) => (v.admitted ? '' : v.request_id))
      expect(new Set(ids).size).toBe(3)
    })

    it('an approved grant admits one reservation; the next identical one is denied and queues a new request', async () => {
      const s = await fresh()
      const denied = await approvalGate(s, ask())
      if (denied.admitted) throw new Error('expected a denial')
      await approve(s, denied.request_id, T0 + 10)
      const admitted = await approvalGate(s, ask({}, T0 + 20))
      if (!admitted.admitted) throw new Error(`expected an admission, got ${admitted.message}`)
      expect(admitted.consume).toEqual([expect.objectContaining({collection: APPROVALS_COLLECTION, id: denied.request_id, expectVersion: 2})])
      expect((await s.apply({docs: admitted.consume})).ok).toBe(true)
      const after = await approvalGate(s, ask({}, T0 + 30))
      expect(after).toMatchObject({admitted: false, reason: 'APPROVAL_REQUIRED', request_id: `${askKey(ask())}_0001`})
      const [consumed] = await s.getDocs(APPROVALS_COLLECTION, [denied.request_id])
      expect(consumed?.value).toMatchObject({status: 'CONSUMED', consumed_at_ms: T0 + 20, decided_by: 'alice'})
    })

    it('20 concurrent reservations with one grant: exactly one transaction applies, one balance change', async () => {
      const s = await fresh()
      const scope = 'tenant:acme'
      const ledger: Ledger = {scope, unit: 'USD_MICROCENTS', allocated: 1_000_000, remaining: 1_000_000, reserved: 0, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE'}
      expect((await s.apply({createLedgers: [{...ledger, book: 'real'}]})).ok).toBe(true)
      const denied = await approvalGate(s, ask())
      if (denied.admitted) throw new Error('expected a denial')
      await approve(s, denied.request_id, T0 + 10)
      // Every consumer reads the grant before any of them writes: the race the expectVersion settles.
      const verdicts = await Promise.all(Array.from({length: 20}, () => approvalGate(s, ask({}, T0 + 20))))
      expect(verdicts.every((v) => v.admitted)).toBe(true)
      const results = await Promise.all(
        verdicts.map((v) => s.apply({docs: v.admitted ? v.consume : [], deltas: [{book: 'real', scope, unit: 'USD_MICROCENTS', add: {reserved: 5000}}]})),
      )
      expect(results.filter((r) => r.ok)).toHaveLength(1)
      expect(results.filter((r) => isApprovalConflict(r))).toHaveLength(19)
      const [real] = await s.getLedgers('real', [scope], 'USD_MICROCENTS')
      expect(real?.reserved).toBe(5000)
    })

    it('an expired grant is a denial (APPROVAL_EXPIRED) and a fresh request is queued', async () => {
      const s = await fresh()
      const denied = await approvalGate(s, ask())
      if (denied.admitted) throw new Error('expected a denial')
      await approve(s, denied.request_id, T0 + 10, 60)
      const inTime = await approvalGate(s, ask({}, T0 + 10 + 59_999))
      expect(inTime.admitted).toBe(true)
      const late = await approvalGate(s, ask({}, T0 + 10 + 60_000))
      expect(late).toMatchObject({admitted: false, reason: 'APPROVAL_EXPIRED', request_id: `${askKey(ask())}_0001`})
      if (!late.admitted) expect(late.message).toContain(`the approval of ${denied.request_id} expired`)
    })

    it('a request nobody answers lapses: the next ask is APPROVAL_EXPIRED and queues a fresh request, which can no longer be approved under the old id', async () => {
      const s = await fresh()
      const first = await approvalGate(s, ask())
      if (first.admitted) throw new Error('expected a denial')
      const lapsed = await approvalGate(s, ask({}, T0 + DEFAULT_PENDING_TTL_MS))
      expect(lapsed).toMatchObject({admitted: false, reason: 'APPROVAL_EXPIRED', request_id: `${askKey(ask())}_0001`})
      if (!lapsed.admitted) expect(lapsed.message).toContain(`request ${first.request_id} expired unanswered`)
      await expect(approve(s, first.request_id, T0 + DEFAULT_PENDING_TTL_MS + 1)).rejects.toMatchObject({code: 'INVALID_REQUEST', status: 409})
    })

    it('a rejection stands for the hold period, then a new request may be queued', async () => {
      const s = await fresh()
      const denied = await approvalGate(s, ask())
      if (denied.admitted) throw new Error('expected a denial')
      await decideApprovalRequest(new AdminCore({store: s, now: () => T0 + 5}), ctx, denied.request_id, 'reject', {actor: 'bob', reason: 'not during the freeze'})
      const during = await approvalGate(s, ask({}, T0 + 5 + REJECTION_HOLD_MS - 1))
      expect(during).toMatchObject({admitted: false, reason: 'APPROVAL_REQUIRED', request_id: denied.request_id})
      if (!during.admitted) expect(during.message).toContain('rejected by bob (not during the freeze)')
      const later = await approvalGate(s, ask({}, T0 + 5 + REJECTION_HOLD_MS))
      expect(later).toMatchObject({admitted: false, reason: 'APPROVAL_REQUIRED', request_id: `${askKey(ask())}_0001`})
    })

    it('an unreachable store is a denial (STORE_UNAVAILABLE), on read and on queueing', async () => {
      const s = await fresh()
      const readsFail = new Proxy(s, {
        get: (target, prop) => (prop === 'listDocs' ? () => Promise.reject(new Error('connect ECONNREFUSED')) : Reflect.get(target, prop)),
      })
      expect(await approvalGate(readsFail, ask())).toMatchObject({admitted: false, reason: 'STORE_UNAVAILABLE', request_id: `${askKey(ask())}_0000`})
      const writesFail = new Proxy(s, {
        get: (target, prop) => (prop === 'apply' ? () => Promise.reject(new Error('connection lost')) : Reflect.get(target, prop)),
      })
      const verdict = await approvalGate(writesFail, ask())
      expect(verdict).toMatchObject({admitted: false, reason: 'STORE_UNAVAILABLE'})
      if (!verdict.admitted) expect(verdict.message).toContain('fails closed')
    })
  })
}
