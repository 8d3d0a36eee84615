// What the runtime paths share (RuntimeCore), down to exact values: reservation-id bounds, a closed
// tenant's events, the shadow book's overdraft limit on an event, and a zero estimate that writes
// nothing to the shadow book.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Ledger} from '../../src/protocol/types.js'
import {type CallResult, type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const CLOSING_KEY = 'cyc_test_closing_0123456789abcdef'
const ADMIN = 'adm_test_0123456789abcdef0123'
const CONFIG = `
tenants: [{id: acme}, {id: closing}]
api_keys: [{tenant: acme, secret: ${KEY}}, {tenant: closing, secret: ${CLOSING_KEY}}]
admin_key: ${ADMIN}
budgets:
  - {scope: "tenant:acme", unit: CREDITS, allocated: 100, overdraft_limit: 50}
  - {scope: "tenant:acme", unit: TOKENS, allocated: 1000}
  - {scope: "tenant:closing", unit: CREDITS, allocated: 100}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: enforce, match: ["email.*"]}
`
const auth = {'X-Cycles-API-Key': KEY}
let clock = 1_800_000_000_000
let d: TestDaemon
let n = 0

beforeAll(async () => {
  d = await startTestDaemon(CONFIG, {adminPort: 0, now: () => clock})
})
afterAll(async () => d?.stop())

const recordOf = (res: CallResult) => {
  const r = d.records().find((x) => x.request_id === res.headers.get('x-request-id'))
  expect(r, `no record for ${res.headers.get('x-request-id')}`).toBeDefined()
  return r!
}
const ledger = async (book: 'real' | 'shadow', unit: 'CREDITS' | 'TOKENS'): Promise<Ledger> => (await d.daemon.store.getLedgers(book, ['tenant:acme'], unit))[0]!
const counters = (l: Ledger) => ({spent: l.spent, reserved: l.reserved, debt: l.debt, remaining: l.remaining})

describe('reservation ids', () => {
  it('128 characters is a well-formed unknown id (404); 129 is a validation error (400)', async () => {
    const known = await call(d.url, 'GET', `/v1/reservations/${'r'.repeat(128)}`, undefined, auth)
    expect(known.status).toBe(404)
    expect(known.body).toMatchObject({error: 'NOT_FOUND', message: `Reservation ${'r'.repeat(128)} not found`})
    for (const [method, path] of [['GET', ''], ['POST', '/commit']] as const) {
      const res = await call(d.url, method, `/v1/reservations/${'r'.repeat(129)}${path}`, method === 'POST' ? {idempotency_key: `k-${++n}`, actual: {unit: 'TOKENS', amount: 1}} : undefined, auth)
      expect(res.status, path).toBe(400)
      expect(res.body).toMatchObject({error: 'INVALID_REQUEST', message: 'Validation failed: reservation_id: 1 to 128 characters'})
    }
  })
})

describe('events', () => {
  it('shadow mode: past the shadow book overdraft limit the shadow hold is dropped and it is a would-be denial', async () => {
    const res = await call(d.url, 'POST', '/v1/events', {
      idempotency_key: `e-${++n}`, subject: {tenant: 'acme'}, action: {kind: 'llm.chat', name: 'x'}, actual: {unit: 'CREDITS', amount: 200}, overage_policy: 'ALLOW_WITH_OVERDRAFT',
    }, auth)
    expect(res.status, res.text).toBe(201)
    expect([res.headers.get('x-cycles-shadow-decision'), res.headers.get('x-cycles-shadow-reason')]).toEqual(['DENY', 'OVERDRAFT_LIMIT_EXCEEDED'])
    expect(recordOf(res)).toMatchObject({decision: 'ALLOW', would_decision: 'DENY', would_reason_code: 'OVERDRAFT_LIMIT_EXCEEDED', denied_scope: 'tenant:acme'})
    // The spend is real: the real book takes it all as debt past its limit; the shadow book is untouched.
    expect(counters(await ledger('real', 'CREDITS'))).toEqual({spent: 100, reserved: 0, debt: 100, remaining: -100})
    expect(counters(await ledger('shadow', 'CREDITS'))).toEqual({spent: 0, reserved: 0, debt: 0, remaining: 100})
  })

  it('a tenant closed after the key was checked gets TENANT_CLOSED, recorded as a denial', async () => {
    // Closing through the admin plane revokes the keys too (401 first); this is the write that lands
    // between authentication and the event (another instance closing the tenant), the status alone.
    const tenant = await d.daemon.store.getTenant('closing')
    expect((await d.daemon.store.apply({tenants: [{...tenant!, status: 'CLOSED'}]})).ok).toBe(true)
    const res = await call(d.url, 'POST', '/v1/events', {
      idempotency_key: `e-${++n}`, subject: {tenant: 'closing'}, action: {kind: 'search.web', name: 'x'}, actual: {unit: 'CREDITS', amount: 1},
    }, {'X-Cycles-API-Key': CLOSING_KEY})
    expect(res.status).toBe(409)
    expect(res.body).toMatchObject({error: 'TENANT_CLOSED', message: 'Tenant closing is closed'})
    expect(recordOf(res)).toMatchObject({endpoint: 'event', decision: 'DENY', reason_code: 'TENANT_CLOSED'})
  })
})
