// Policies on POST /v1/events (a direct debit without a reservation) over a real daemon. The v0.1.26
// order's step 1 (the governing policy's denied / allowed action kinds) needs no reservation, so it
// gates events too: enforced, a 409 with the v0.1.26 error code (deny_detail under details for v0.1.26
// clients only); shadowed or under the tenant's observe mode, the debit is applied and the denial is
// the record's would-be answer. Quotas and rate limits are counted on the reservation path only (the
// action-kinds spec increments counters at reserve time), so an event neither checks nor moves them.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {specErrors} from '../support/spec.js'
import {ADMIN_KEY, V26, admin, extErrors} from './support.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const NOW = Date.parse('2026-11-28T10:00:05Z')
const CONFIG = `
admin_key: ${ADMIN_KEY}
tenants: [{id: acme}, {id: umbra}]
api_keys: [{tenant: acme, secret: ${KEY}}, {tenant: umbra, secret: cyc_test_umbra_0123456789abcdef}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 100000}
  - {scope: "tenant:umbra", unit: TOKENS, allocated: 100000}
tiers:
  low: {mode: shadow, match: ["shadowed.*"]}
  medium: {mode: enforce, match: []}
  high: {mode: enforce, match: []}
policies:
  - id: pol_sandbox
    tenant: acme
    name: sandbox
    scope_pattern: "tenant:acme/workspace:sandbox/*"
    denied_action_kinds: [payment.charge, shadowed.pay]
  - id: pol_locked
    tenant: acme
    name: locked
    scope_pattern: "tenant:acme/workspace:locked"
    allowed_action_kinds: [db.query]
  - id: pol_quota
    tenant: acme
    name: quota
    scope_pattern: "tenant:acme/workspace:quota"
    action_quotas: [{action_kind: db.query, max_calls: 1, window: per_minute_tumbling}]
    rate_limits: {max_reservations_per_minute: 1}
  - id: pol_umbra
    tenant: umbra
    name: umbra
    scope_pattern: "tenant:umbra"
    denied_action_kinds: [payment.charge]
`

let d: TestDaemon
let n = 0
const auth = {'X-Cycles-API-Key': KEY}
const event = (workspace: string, kind: string, amount = 7) => ({
  idempotency_key: `e${++n}`,
  subject: {tenant: 'acme', workspace},
  action: {kind, name: 'x'},
  actual: {unit: 'TOKENS', amount},
})
const postEvent = (b: Record<string, unknown>, headers: Record<string, string> = {}) => call(d.url, 'POST', '/v1/events', b, {...auth, ...headers})
const remaining = async (tenant = 'acme', key = KEY) =>
  (await call(d.url, 'GET', `/v1/balances?tenant=${tenant}`, undefined, {'X-Cycles-API-Key': key})).body.balances[0].remaining.amount as number
const lastEventRecord = () => d.records().filter((r) => r.endpoint === 'event').at(-1)!

/** The base ErrorResponse envelope, its `error` one of the v0.1.26 extended ErrorCode enum (the base enum predates it). */
function expectV26ErrorEnvelope(body: Record<string, unknown>) {
  expect(extErrors('protocol-ext', 'ErrorCodeExtension', body.error)).toBeUndefined()
  expect(specErrors('runtime', 'ErrorResponse', {...body, error: 'BUDGET_EXCEEDED'})).toBeUndefined()
}

beforeAll(async () => {
  d = await startTestDaemon(CONFIG, {adminPort: 0, now: () => NOW})
})
afterAll(async () => d?.stop())

describe('POST /v1/events and access control', () => {
  it('an enforced event of a denied kind is 409 ACTION_KIND_DENIED (protocol envelope, no details for v0.1.25), debits nothing, and is logged as a policy denial', async () => {
    const before = await remaining()
    const denied = await postEvent(event('sandbox', 'payment.charge'))
    expect(denied.status).toBe(409)
    expect(denied.body).toEqual({error: 'ACTION_KIND_DENIED', message: 'Action kind payment.charge is denied by policy pol_sandbox', request_id: expect.any(String), trace_id: expect.any(String)})
    expectV26ErrorEnvelope(denied.body)
    expect(await remaining()).toBe(before)
    const record = lastEventRecord()
    expect(record).toMatchObject({decision: 'DENY', reason_code: 'ACTION_KIND_DENIED', policy_id: 'pol_sandbox', http_status: 409, mode: 'enforce'})
    // A kind the policy does not deny is debited as before.
    const allowed = await postEvent(event('sandbox', 'db.query'))
    expect(allowed.status).toBe(201)
    expect(allowed.body.status).toBe('APPLIED')
    expect(await remaining()).toBe(before - 7)
  })

  it('a v0.1.26 client gets deny_detail under details; a kind outside allowed_action_kinds is ACTION_KIND_NOT_ALLOWED', async () => {
    const denied = await postEvent(event('sandbox', 'payment.charge'), V26)
    expect(denied.status).toBe(409)
    expect(extErrors('protocol-ext', 'DenyDetail', denied.body.details.deny_detail)).toBeUndefined()
    expect(denied.body.details.deny_detail).toEqual({
      reason_code: 'ACTION_KIND_DENIED',
      blocked_by_policy: 'pol_sandbox',
      blocked_by_scope: 'tenant:acme/workspace:sandbox',
      suggested_fix: "Remove 'payment.charge' from denied_action_kinds in policy 'pol_sandbox'",
    })
    const before = await remaining()
    const notAllowed = await postEvent(event('locked', 'llm.completion'), V26)
    expect(notAllowed.status).toBe(409)
    expect(notAllowed.body.error).toBe('ACTION_KIND_NOT_ALLOWED')
    expectV26ErrorEnvelope(notAllowed.body)
    expect(notAllowed.body.details.deny_detail).toMatchObject({reason_code: 'ACTION_KIND_NOT_ALLOWED', blocked_by_policy: 'pol_locked', blocked_by_scope: 'tenant:acme/workspace:locked'})
    expect((await postEvent(event('locked', 'db.query'))).status).toBe(201)
    expect(await remaining()).toBe(before - 7)
  })

  it('a shadowed tier applies the debit and records the policy denial as the would-be answer (with the shadow headers); the shadow book, what enforcement would have done, is not debited', async () => {
    const before = await remaining()
    const shadowRemaining = async () => (await d.daemon.store.getLedgers('shadow', ['tenant:acme'], 'TOKENS'))[0]!.remaining
    const shadowBefore = await shadowRemaining()
    const shadowed = await postEvent(event('sandbox', 'shadowed.pay'))
    expect(shadowed.status).toBe(201)
    expect(shadowed.body.status).toBe('APPLIED')
    expect(shadowed.headers.get('x-cycles-shadow-decision')).toBe('DENY')
    expect(shadowed.headers.get('x-cycles-shadow-reason')).toBe('ACTION_KIND_DENIED')
    expect(await remaining()).toBe(before - 7)
    const record = lastEventRecord()
    expect(record).toMatchObject({decision: 'ALLOW', mode: 'shadow', would_decision: 'DENY', would_reason_code: 'ACTION_KIND_DENIED', policy_id: 'pol_sandbox'})
    expect(await shadowRemaining()).toBe(shadowBefore)
    // A shadowed kind the policy allows is debited on both books.
    expect((await postEvent(event('sandbox', 'shadowed.read'))).status).toBe(201)
    expect(await shadowRemaining()).toBe(shadowBefore - 7)
  })

  it("under the tenant's observe mode the debit is applied and the denial observed, not enforced", async () => {
    expect((await admin(d.daemon.adminUrl, 'PATCH', '/v1/admin/tenants/umbra', {observe_mode: 'OBSERVE'})).status).toBe(200)
    const umbraKey = 'cyc_test_umbra_0123456789abcdef'
    const before = await remaining('umbra', umbraKey)
    const observed = await call(d.url, 'POST', '/v1/events', {...event('x', 'payment.charge'), subject: {tenant: 'umbra'}}, {'X-Cycles-API-Key': umbraKey})
    expect(observed.status).toBe(201)
    expect(await remaining('umbra', umbraKey)).toBe(before - 7)
    const record = lastEventRecord()
    expect(record).toMatchObject({tenant: 'umbra', decision: 'ALLOW', observe_mode: 'OBSERVE', would_decision: 'DENY', would_reason_code: 'ACTION_KIND_DENIED', policy_id: 'pol_umbra'})
    // The observed denial is announced as one (an event is no dry-run: never reservation.observed_allowed).
    await d.daemon.events.writer!.flush()
    const announced = (await admin(d.daemon.adminUrl, 'GET', '/v1/admin/events?tenant_id=umbra')).body.events as Array<{event_type: string; data: Record<string, unknown>}>
    expect(announced.filter((e) => e.event_type.startsWith('reservation.')).map((e) => [e.event_type, (e.data.deny_detail as {reason_code?: string} | undefined)?.reason_code])).toEqual([
      ['reservation.observed_denied', 'ACTION_KIND_DENIED'],
    ])
    // An event the lists allow is recorded without observe_mode: observe mode changed nothing about it.
    expect((await call(d.url, 'POST', '/v1/events', {...event('x', 'llm.completion'), subject: {tenant: 'umbra'}}, {'X-Cycles-API-Key': umbraKey})).status).toBe(201)
    expect(lastEventRecord()).toMatchObject({tenant: 'umbra', decision: 'ALLOW'})
    expect(lastEventRecord().observe_mode).toBeUndefined()
    expect((await admin(d.daemon.adminUrl, 'PATCH', '/v1/admin/tenants/umbra', {observe_mode: 'ENFORCE'})).status).toBe(200)
    const enforced = await call(d.url, 'POST', '/v1/events', {...event('x', 'payment.charge'), subject: {tenant: 'umbra'}}, {'X-Cycles-API-Key': umbraKey})
    expect(enforced.status).toBe(409)
    expect(enforced.body.error).toBe('ACTION_KIND_DENIED')
    expect(lastEventRecord().observe_mode).toBeUndefined()
  })

  it('quotas and rate limits are not counted on events: both debits apply, no counter moves, and the one reservation the quota allows is still admitted', async () => {
    for (let i = 0; i < 2; i++) expect((await postEvent(event('quota', 'db.query'))).status).toBe(201)
    const counters = await admin(d.daemon.adminUrl, 'GET', '/v1/admin/action-quota-counters?tenant_id=acme')
    expect(counters.status).toBe(200)
    expect(counters.body.counters).toEqual([])
    const reserve = (k: string) =>
      call(d.url, 'POST', '/v1/reservations', {idempotency_key: k, subject: {tenant: 'acme', workspace: 'quota'}, action: {kind: 'db.query', name: 'q'}, estimate: {unit: 'TOKENS', amount: 1}}, auth)
    expect((await reserve('quota-r1')).status).toBe(200)
    const second = await reserve('quota-r2')
    expect(second.status).toBe(429) // the rate limit (1 per minute) is checked before the quota
    expect(second.body.error).toBe('LIMIT_EXCEEDED')
  })

  it('a replay of a denied event answers the same denial without debiting (no idempotency record is written for it)', async () => {
    const b = event('sandbox', 'payment.charge')
    const before = await remaining()
    const first = await postEvent(b)
    const again = await postEvent(b)
    expect(first.status).toBe(409)
    expect(again.status).toBe(409)
    expect(again.body.error).toBe('ACTION_KIND_DENIED')
    expect(await remaining()).toBe(before)
    expect(lastEventRecord()).toMatchObject({decision: 'DENY', reason_code: 'ACTION_KIND_DENIED', http_status: 409})
  })
})
