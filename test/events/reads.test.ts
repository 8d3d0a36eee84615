// The read side: GET /v1/admin/events filters and cursors, GET /v1/admin/events/{id} (404
// EVENT_NOT_FOUND), and the tenant's GET /v1/events (events:read; its own events only, only the
// categories a tenant may see), every body checked against the admin spec.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {TestDaemon} from '../support/daemon.js'
import {call} from '../support/daemon.js'
import {ACME, ACME_READER, GLOBEX, GLOBEX_READER, admin, eventsOf, expectSpec, reserve, startEventsDaemon} from './support.js'

let td: TestDaemon
beforeAll(async () => {
  td = await startEventsDaemon()
  // acme: an enforced denial and a key event; globex: a denial; the system: an unknown key.
  await reserve(td, ACME, {subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'email.send', name: 'a'}, estimate: {unit: 'USD_MICROCENTS', amount: 5000}})
  await reserve(td, GLOBEX, {subject: {tenant: 'globex'}, action: {kind: 'email.send', name: 'g'}, estimate: {unit: 'CREDITS', amount: 500}})
  await admin(td, 'POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: 'k'})
  await call(td.url, 'GET', '/v1/balances', undefined, {'X-Cycles-API-Key': 'cyc_live_unknownunknownunknownunknown'})
  for (let i = 0; i < 7; i++) await admin(td, 'POST', '/v1/admin/budgets', {tenant_id: 'acme', scope: `tenant:acme/workspace:w${i}`, unit: 'TOKENS', allocated: {unit: 'TOKENS', amount: 10}})
  await td.daemon.events.writer!.flush()
})
afterAll(() => td?.stop())

describe('GET /v1/admin/events', () => {
  it('filters by tenant, type, category, scope prefix, correlation, trace and request id, search and time', async () => {
    const all = await eventsOf(td)
    expect(all.length).toBe(11)
    expect((await eventsOf(td, {tenant_id: 'globex'})).map((e) => e.event_type)).toEqual(['reservation.denied'])
    expect((await eventsOf(td, {category: 'api_key'})).map((e) => e.event_type).sort()).toEqual(['api_key.auth_failed', 'api_key.created'])
    expect((await eventsOf(td, {scope: 'tenant:acme/workspace:w'})).length).toBe(7)
    expect((await eventsOf(td, {scope: 'TENANT:ACME/WORKSPACE:PROD'})).map((e) => e.event_type)).toEqual(['reservation.denied'])
    const denial = all.find((e) => e.tenant_id === 'acme' && e.event_type === 'reservation.denied')!
    expect((await eventsOf(td, {request_id: denial.request_id!})).map((e) => e.event_id)).toEqual([denial.event_id])
    expect((await eventsOf(td, {trace_id: denial.trace_id!})).map((e) => e.event_id)).toEqual([denial.event_id])
    expect((await eventsOf(td, {search: 'workspace:w3'})).map((e) => e.scope)).toEqual(['tenant:acme/workspace:w3'])
    const middle = all[5]
    const from = await eventsOf(td, {from: middle.timestamp})
    expect(from.every((e) => e.timestamp >= middle.timestamp)).toBe(true)
    expect(from.map((e) => e.event_id)).toContain(middle.event_id)
    const to = await eventsOf(td, {to: middle.timestamp})
    expect(to.every((e) => e.timestamp <= middle.timestamp)).toBe(true)
    expect(new Set([...from, ...to].map((e) => e.event_id)).size).toBe(all.length)
    expect(await eventsOf(td, {from: '2001-01-01T00:00:00Z', to: '2001-01-02T00:00:00Z'})).toEqual([])
  })

  it('pages newest first with a cursor bound to its filters; sort_dir=asc pages oldest first', async () => {
    const all = await eventsOf(td) // oldest first
    const first = await admin(td, 'GET', '/v1/admin/events?limit=4')
    expectSpec('EventListResponse', first.body)
    expect(first.body.events.map((e: {event_id: string}) => e.event_id)).toEqual(all.slice(-4).reverse().map((e) => e.event_id))
    expect(first.body.has_more).toBe(true)
    const second = await admin(td, 'GET', `/v1/admin/events?limit=4&cursor=${first.body.next_cursor}`)
    expect(second.body.events.map((e: {event_id: string}) => e.event_id)).toEqual(all.slice(-8, -4).reverse().map((e) => e.event_id))
    const last = await admin(td, 'GET', `/v1/admin/events?limit=4&cursor=${second.body.next_cursor}`)
    expect(last.body.events).toHaveLength(3)
    expect(last.body.has_more).toBe(false)
    expect(last.body).not.toHaveProperty('next_cursor')
    const asc = await admin(td, 'GET', '/v1/admin/events?limit=3&sort_dir=asc')
    expect(asc.body.events.map((e: {event_id: string}) => e.event_id)).toEqual(all.slice(0, 3).map((e) => e.event_id))
    const mismatched = await admin(td, 'GET', `/v1/admin/events?limit=4&tenant_id=acme&cursor=${first.body.next_cursor}`)
    expect(mismatched.status).toBe(400)
    expect(mismatched.body.error).toBe('INVALID_REQUEST')
  })

  it('refuses malformed filters with 400 and the error envelope', async () => {
    for (const q of ['category=nope', 'trace_id=XYZ', `search=${'x'.repeat(129)}`, 'from=yesterday', 'limit=abc', 'event_type=Budget', 'sort_by=scope']) {
      const res = await admin(td, 'GET', `/v1/admin/events?${q}`)
      expect(res.status, q).toBe(400)
      expectSpec('ErrorResponse', res.body)
      expect(res.body.error).toBe('INVALID_REQUEST')
    }
    expect((await call(td.daemon.adminUrl, 'GET', '/v1/admin/events')).status).toBe(401)
  })

  it('GET /v1/admin/events/{id} answers the event, or 404 EVENT_NOT_FOUND', async () => {
    const [one] = await eventsOf(td, {tenant_id: 'globex'})
    const got = await admin(td, 'GET', `/v1/admin/events/${one.event_id}`)
    expect(got.status).toBe(200)
    expectSpec('Event', got.body)
    expect(got.body).toEqual(one)
    const missing = await admin(td, 'GET', '/v1/admin/events/evt_nosuchevent')
    expect(missing.status).toBe(404)
    expectSpec('ErrorResponse', missing.body)
    expect(missing.body.error).toBe('EVENT_NOT_FOUND')
  })
})

describe('GET /v1/events (tenant self-service)', () => {
  const tenantEvents = (key: string, query = '') => call(td.url, 'GET', `/v1/events${query}`, undefined, {'X-Cycles-API-Key': key})

  it("a key with events:read sees only its own tenant's budget, reservation and tenant events", async () => {
    const acme = await tenantEvents(ACME_READER)
    expect(acme.status, acme.text).toBe(200)
    expectSpec('EventListResponse', acme.body)
    const types = acme.body.events.map((e: {event_type: string}) => e.event_type)
    expect(acme.body.events.every((e: {tenant_id: string}) => e.tenant_id === 'acme')).toBe(true)
    expect(types.filter((t: string) => t === 'budget.created')).toHaveLength(7)
    expect(types).toContain('reservation.denied')
    // api_key.* is not a tenant category, even for the tenant's own key.
    expect(types.some((t: string) => t.startsWith('api_key.'))).toBe(false)
    const globex = await tenantEvents(GLOBEX_READER)
    expect(globex.body.events.map((e: {tenant_id: string; event_type: string}) => [e.tenant_id, e.event_type])).toEqual([['globex', 'reservation.denied']])
    const filtered = await tenantEvents(ACME_READER, '?event_type=reservation.denied')
    expect(filtered.body.events).toHaveLength(1)
    // The admin-only filters do not widen the view: tenant_id names nobody else's events.
    const sneaky = await tenantEvents(GLOBEX_READER, '?tenant_id=acme')
    expect(sneaky.body.events.every((e: {tenant_id: string}) => e.tenant_id === 'globex')).toBe(true)
  })

  it('a key without events:read gets 403, no key 401', async () => {
    const forbidden = await tenantEvents(ACME)
    expect(forbidden.status).toBe(403)
    expect(forbidden.body.error).toBe('FORBIDDEN')
    expect((await call(td.url, 'GET', '/v1/events')).status).toBe(401)
  })
})

describe('GET /v1/admin/overview', () => {
  it('event_counts counts the window by category from the event log', async () => {
    const res = await admin(td, 'GET', '/v1/admin/overview')
    expect(res.status).toBe(200)
    expectSpec('AdminOverviewResponse', res.body)
    // The 11 of the setup and the admin plane's refusal of a request without a key (api_key.auth_failed) above.
    expect(res.body.event_counts).toEqual({total_recent: 12, by_category: {budget: 7, reservation: 2, api_key: 3}})
    expect(res.body.recent_expiries).toEqual([])
  })
})

