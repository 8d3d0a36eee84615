// Commit and release reuse the ledgers this daemon remembers a reservation holding (runtime-finalize.ts
// reservationToFinalize) only when the remembered holds are the stored reservation's: same unit, same
// real and shadow scopes. Here another writer rewrites a stored reservation (as a second daemon on a
// shared store could), and the release must answer with the stored reservation's ledgers; after a
// restart nothing is remembered and the reservation is read from the store. (Issue 17 survivors.)
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Reservation} from '../../src/protocol/types.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets:
  - {scope: "tenant:acme/workspace:a", unit: CREDITS, allocated: 1000}
  - {scope: "tenant:acme/workspace:b", unit: CREDITS, allocated: 1000}
  - {scope: "tenant:acme/workspace:c", unit: CREDITS, allocated: 1000}
  - {scope: "tenant:acme/workspace:d", unit: TOKENS, allocated: 1000}
  - {scope: "tenant:acme/workspace:d", unit: CREDITS, allocated: 1000}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: enforce, match: ["llm.*"]}
  high: {mode: enforce, match: ["email.*"]}
`
const auth = {'X-Cycles-API-Key': KEY}

let d: TestDaemon
let n = 0

async function reserve(workspace: string, unit: string, amount: number, url = d.url): Promise<Reservation> {
  const res = await call(url, 'POST', '/v1/reservations', {idempotency_key: `h-${++n}`, subject: {tenant: 'acme', workspace}, action: {kind: 'search.web', name: 'x'}, estimate: {unit, amount}}, auth)
  expect(res.status, res.text).toBe(200)
  return (await d.daemon.store.getReservation(res.body.reservation_id))!
}
const release = (id: string, url = d.url) => call(url, 'POST', `/v1/reservations/${id}/release`, {idempotency_key: `r-${++n}`}, auth)

/** Another writer changes the stored reservation behind the daemon's back. */
async function rewrite(r: Reservation, change: Partial<Reservation>): Promise<void> {
  const applied = await d.daemon.store.apply({reservation: {expectStatus: 'ACTIVE', value: {...r, ...change}}})
  expect(applied.ok).toBe(true)
}
/** Scope, unit and reserved amount of each balance in a response. */
const held = (balances: any[] | undefined) => (balances ?? []).map((b) => [b.scope_path, b.reserved.unit, b.reserved.amount])

beforeAll(async () => {
  d = await startTestDaemon(CONFIG)
})
afterAll(async () => d?.stop())

describe('remembered holds are used only when they are the stored reservation\'s', () => {
  it('a scope added to the stored reservation (real, shadow, real_held): the release answers with both ledgers', async () => {
    await reserve('b', 'CREDITS', 10) // b holds 10, which the rewritten reservation then also releases
    const r = await reserve('a', 'CREDITS', 10)
    expect(r).toMatchObject({real_scopes: ['tenant:acme/workspace:a'], shadow_scopes: ['tenant:acme/workspace:a']})
    expect(r.real_held).toBeUndefined()
    // Every list grows (the remembered one a prefix of the stored one), so no list comparison can pass by length alone.
    const both = ['tenant:acme/workspace:a', 'tenant:acme/workspace:b']
    await rewrite(r, {real_scopes: both, shadow_scopes: both, real_held: [10, 10]})
    const res = await release(r.reservation_id)
    expect(res.status, res.text).toBe(200)
    expect(held(res.body.balances)).toEqual([
      ['tenant:acme/workspace:a', 'CREDITS', 0],
      ['tenant:acme/workspace:b', 'CREDITS', 0],
    ])
  })

  it('the real scope replaced by another: the release answers with the stored one', async () => {
    await reserve('c', 'CREDITS', 10)
    const r = await reserve('a', 'CREDITS', 10)
    await rewrite(r, {real_scopes: ['tenant:acme/workspace:c'], shadow_scopes: ['tenant:acme/workspace:c']})
    const res = await release(r.reservation_id)
    expect(res.status, res.text).toBe(200)
    expect(held(res.body.balances)).toEqual([['tenant:acme/workspace:c', 'CREDITS', 0]])
    const [a] = await d.daemon.store.getLedgers('real', ['tenant:acme/workspace:a'], 'CREDITS')
    expect(a).toMatchObject({reserved: 10, spent: 0}) // the remembered hold was not the one released
  })

  it('the unit changed: the release answers with the ledger in the stored unit', async () => {
    await reserve('d', 'CREDITS', 10)
    const r = await reserve('d', 'TOKENS', 10)
    await rewrite(r, {reserved: {unit: 'CREDITS', amount: 10}})
    const res = await release(r.reservation_id)
    expect(res.status, res.text).toBe(200)
    expect(res.body.released).toEqual({unit: 'CREDITS', amount: 10})
    expect(held(res.body.balances)).toEqual([['tenant:acme/workspace:d', 'CREDITS', 0]])
  })
})

describe('after a restart (nothing remembered)', () => {
  it('commit and release read the holds from the store', async () => {
    const c = await reserve('a', 'CREDITS', 30)
    const r = await reserve('a', 'CREDITS', 20)
    const [before] = await d.daemon.store.getLedgers('real', ['tenant:acme/workspace:a'], 'CREDITS')
    await d.stop()
    d = await startTestDaemon(CONFIG, {}, d.dir)
    const committed = await call(d.url, 'POST', `/v1/reservations/${c.reservation_id}/commit`, {idempotency_key: `c-${++n}`, actual: {unit: 'CREDITS', amount: 25}}, auth)
    expect(committed.status, committed.text).toBe(200)
    expect(committed.body).toMatchObject({charged: {unit: 'CREDITS', amount: 25}, released: {unit: 'CREDITS', amount: 5}})
    expect(held(committed.body.balances)).toEqual([['tenant:acme/workspace:a', 'CREDITS', before!.reserved - 30]])
    const released = await release(r.reservation_id)
    expect(released.status, released.text).toBe(200)
    expect(held(released.body.balances)).toEqual([['tenant:acme/workspace:a', 'CREDITS', before!.reserved - 50]])
  })
})
