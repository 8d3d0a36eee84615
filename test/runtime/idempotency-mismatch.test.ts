// Idempotency over a real socket (cycles-protocol.md §4): a key replayed with a different payload is
// 409 IDEMPOTENCY_MISMATCH on every endpoint and changes nothing; keys are scoped per tenant, so two
// tenants using the same key never collide nor see each other's stored response.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type CallResult, type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

const ACME = 'cyc_test_acme_0123456789abcdef'
const OTHER = 'cyc_test_other_0123456789abcdef'

const CONFIG = `
tenants:
  - {id: acme}
  - {id: other}
api_keys:
  - {tenant: acme, secret: ${ACME}}
  - {tenant: other, secret: ${OTHER}}
budgets:
  - {scope: "tenant:acme", unit: CREDITS, allocated: 100000}
  - {scope: "tenant:other", unit: CREDITS, allocated: 100000}
tiers:
  low: {mode: enforce, match: ["tool.*"]}
  medium: {mode: enforce, match: ["llm.*"]}
  high: {mode: enforce, match: ["email.*"]}
`

let d: TestDaemon
let seq = 0
const fresh = (p: string) => `${p}-${++seq}`
const auth = (k: string) => ({'X-Cycles-API-Key': k})
const post = (path: string, body: unknown, k = ACME) => call(d.url, 'POST', path, body, auth(k))

async function reserve(k = ACME, amount = 100, tenant = k === ACME ? 'acme' : 'other'): Promise<string> {
  const res = await post('/v1/reservations', {idempotency_key: fresh('r'), subject: {tenant}, action: {kind: 'tool.search', name: 'web'}, estimate: {unit: 'CREDITS', amount}}, k)
  expect(res.status, res.text).toBe(200)
  return res.body.reservation_id as string
}

async function balance(tenant: 'acme' | 'other'): Promise<{spent: number; reserved: number; remaining: number}> {
  const res = await call(d.url, 'GET', `/v1/balances?tenant=${tenant}`, undefined, auth(tenant === 'acme' ? ACME : OTHER))
  expect(res.status, res.text).toBe(200)
  const b = res.body.balances.find((x: any) => x.scope_path === `tenant:${tenant}`)
  return {spent: b.spent.amount, reserved: b.reserved.amount, remaining: b.remaining.amount}
}

/** The protocol's error envelope with the given code, its ids equal to the response headers. */
function expectMismatch(res: CallResult): void {
  expect(res.status, res.text).toBe(409)
  expect(res.body).toEqual({
    error: 'IDEMPOTENCY_MISMATCH',
    message: expect.stringMatching(/idempotency_key/),
    request_id: res.headers.get('x-request-id'),
    trace_id: res.headers.get('x-cycles-trace-id'),
  })
}

beforeAll(async () => {
  d = await startTestDaemon(CONFIG)
})
afterAll(async () => d?.stop())

describe('a replay with a different payload is 409 IDEMPOTENCY_MISMATCH and changes nothing', () => {
  it('commit: same key, different actual', async () => {
    const id = await reserve()
    const body = {idempotency_key: fresh('c'), actual: {unit: 'CREDITS', amount: 60}}
    const first = await post(`/v1/reservations/${id}/commit`, body)
    expect(first.status, first.text).toBe(200)
    expect(first.body.charged).toEqual({unit: 'CREDITS', amount: 60})
    const before = await balance('acme')
    expectMismatch(await post(`/v1/reservations/${id}/commit`, {...body, actual: {unit: 'CREDITS', amount: 61}}))
    // The same payload still replays the original answer, byte for byte.
    const replay = await post(`/v1/reservations/${id}/commit`, body)
    expect(replay.status).toBe(200)
    expect(replay.text).toBe(first.text)
    expect(await balance('acme')).toEqual(before)
  })

  it('commit: same key, different metadata', async () => {
    const id = await reserve()
    const body = {idempotency_key: fresh('c'), actual: {unit: 'CREDITS', amount: 100}, metadata: {a: 1}}
    expect((await post(`/v1/reservations/${id}/commit`, body)).status).toBe(200)
    expectMismatch(await post(`/v1/reservations/${id}/commit`, {...body, metadata: {a: 2}}))
  })

  it('release: same key, different reason', async () => {
    const id = await reserve()
    const body = {idempotency_key: fresh('rel'), reason: 'done'}
    const first = await post(`/v1/reservations/${id}/release`, body)
    expect(first.status, first.text).toBe(200)
    expect(first.body).toMatchObject({status: 'RELEASED', released: {unit: 'CREDITS', amount: 100}})
    const before = await balance('acme')
    expectMismatch(await post(`/v1/reservations/${id}/release`, {...body, reason: 'changed my mind'}))
    const replay = await post(`/v1/reservations/${id}/release`, body)
    expect(replay.status).toBe(200)
    expect(replay.text).toBe(first.text)
    expect(await balance('acme')).toEqual(before)
  })

  it('a commit key replayed on release (another endpoint) is not a replay: RESERVATION_FINALIZED', async () => {
    const id = await reserve()
    const k = fresh('c')
    expect((await post(`/v1/reservations/${id}/commit`, {idempotency_key: k, actual: {unit: 'CREDITS', amount: 1}})).status).toBe(200)
    const res = await post(`/v1/reservations/${id}/release`, {idempotency_key: k})
    expect(res.status, res.text).toBe(409)
    expect(res.body.error).toBe('RESERVATION_FINALIZED')
  })

  it('extend: same key, different extend_by_ms', async () => {
    const id = await reserve()
    const body = {idempotency_key: fresh('x'), extend_by_ms: 1000}
    const first = await post(`/v1/reservations/${id}/extend`, body)
    expect(first.status, first.text).toBe(200)
    expectMismatch(await post(`/v1/reservations/${id}/extend`, {...body, extend_by_ms: 2000}))
    const detail = await call(d.url, 'GET', `/v1/reservations/${id}`, undefined, auth(ACME))
    expect(detail.body.expires_at_ms).toBe(first.body.expires_at_ms)
  })

  it('decide and dry-run: same key, different estimate', async () => {
    const base = {subject: {tenant: 'acme'}, action: {kind: 'tool.search', name: 'web'}, estimate: {unit: 'CREDITS', amount: 5}}
    const decideKey = fresh('d')
    expect((await post('/v1/decide', {idempotency_key: decideKey, ...base})).status).toBe(200)
    expectMismatch(await post('/v1/decide', {idempotency_key: decideKey, ...base, estimate: {unit: 'CREDITS', amount: 6}}))
    const dryKey = fresh('dry')
    expect((await post('/v1/reservations', {idempotency_key: dryKey, ...base, dry_run: true})).status).toBe(200)
    expectMismatch(await post('/v1/reservations', {idempotency_key: dryKey, ...base, estimate: {unit: 'CREDITS', amount: 6}, dry_run: true}))
  })

  it('live reserve: a mismatch holds nothing more', async () => {
    const body = {idempotency_key: fresh('r'), subject: {tenant: 'acme'}, action: {kind: 'tool.search', name: 'web'}, estimate: {unit: 'CREDITS', amount: 7}}
    expect((await post('/v1/reservations', body)).status).toBe(200)
    const before = await balance('acme')
    expectMismatch(await post('/v1/reservations', {...body, estimate: {unit: 'CREDITS', amount: 8}}))
    expect(await balance('acme')).toEqual(before)
  })
})

describe('idempotency keys are per tenant', () => {
  it('two tenants reserving with the same key each get their own reservation, and replays stay with their tenant', async () => {
    const k = fresh('shared')
    const body = (tenant: string, amount: number) => ({idempotency_key: k, subject: {tenant}, action: {kind: 'tool.search', name: 'web'}, estimate: {unit: 'CREDITS', amount}})
    const acme = await post('/v1/reservations', body('acme', 11), ACME)
    const other = await post('/v1/reservations', body('other', 22), OTHER)
    expect(acme.status, acme.text).toBe(200)
    expect(other.status, other.text).toBe(200)
    expect(other.body.reservation_id).not.toBe(acme.body.reservation_id)
    expect(other.body.reserved).toEqual({unit: 'CREDITS', amount: 22})
    expect(other.body.affected_scopes).toEqual(['tenant:other'])
    const acmeAgain = await post('/v1/reservations', body('acme', 11), ACME)
    const otherAgain = await post('/v1/reservations', body('other', 22), OTHER)
    expect(acmeAgain.body.reservation_id).toBe(acme.body.reservation_id)
    expect(otherAgain.body.reservation_id).toBe(other.body.reservation_id)
    // Each tenant's reservation is its own and holds its own amount.
    const detail = await call(d.url, 'GET', `/v1/reservations/${other.body.reservation_id}`, undefined, auth(OTHER))
    expect(detail.body).toMatchObject({reservation_id: other.body.reservation_id, reserved: {unit: 'CREDITS', amount: 22}})
  })

  it('the same event key debits both tenants once each', async () => {
    const k = fresh('ev')
    const event = (tenant: string) => ({idempotency_key: k, subject: {tenant}, action: {kind: 'tool.search', name: 'web'}, actual: {unit: 'CREDITS', amount: 3}})
    const [acmeBefore, otherBefore] = [await balance('acme'), await balance('other')]
    const a = await post('/v1/events', event('acme'), ACME)
    const o = await post('/v1/events', event('other'), OTHER)
    expect(a.status, a.text).toBe(201)
    expect(o.status, o.text).toBe(201)
    expect(o.body.event_id).not.toBe(a.body.event_id)
    expect((await post('/v1/events', event('other'), OTHER)).body.event_id).toBe(o.body.event_id)
    expect((await balance('acme')).spent).toBe(acmeBefore.spent + 3)
    expect((await balance('other')).spent).toBe(otherBefore.spent + 3)
  })

  it('the same decide key answers each tenant from its own budget', async () => {
    const k = fresh('dec')
    const decide = (tenant: string, amount: number) => ({idempotency_key: k, subject: {tenant}, action: {kind: 'tool.search', name: 'web'}, estimate: {unit: 'CREDITS', amount}})
    const a = await post('/v1/decide', decide('acme', 1), ACME)
    expect(a.body).toMatchObject({decision: 'ALLOW', affected_scopes: ['tenant:acme']})
    // other asks for more than it has: its own answer is DENY, not acme's stored ALLOW.
    const o = await post('/v1/decide', decide('other', 10_000_000), OTHER)
    expect(o.status, o.text).toBe(200)
    expect(o.body).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_EXCEEDED', affected_scopes: ['tenant:other']})
  })
})
