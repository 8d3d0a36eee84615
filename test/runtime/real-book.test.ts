// The real book counts real spend (README "Two books"): a shadow-mode live reservation holds and
// settles in the real book whatever it says, the shortfall as debt; so a tenant budget shared by an
// enforced and a shadowed tier denies the enforced tier's traffic once the shared spend exhausts it.
// Dry-run and decide leave the real book alone; the shadow book is the counterfactual it always was.
// Run against the embedded store and a real redis-server (one atomic Lua script per write).
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Ledger} from '../../src/protocol/types.js'
import {RedisStore} from '../../src/store/redis/redis-store.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const ADMIN = 'admin_key_for_tests_0123456789'
const TENANT = 'tenant:acme'
const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
admin_key: ${ADMIN}
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 1000}
  - {scope: "tenant:acme/workspace:side", unit: TOKENS, allocated: 100, overdraft_limit: 50}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: shadow, match: ["email.*"]}
`
const auth = {'X-Cycles-API-Key': KEY}

for (const storeKind of ['embedded', 'redis'] as const) {
  describe(`the real book with a shadowed tier (${storeKind} store)`, () => {
    let d: TestDaemon
    let redis: RedisServer | undefined
    let n = 0

    beforeAll(async () => {
      if (storeKind === 'redis') {
        redis = await startRedis()
        const store = await RedisStore.open({url: redis.url, prefix: 'rb:'})
        d = await startTestDaemon(CONFIG, {store, adminPort: 0})
      } else d = await startTestDaemon(CONFIG, {adminPort: 0})
    })
    afterAll(async () => {
      await d?.stop()
      if (redis) await destroyRedis(redis)
    })

    const ledger = async (book: 'real' | 'shadow', scope = TENANT): Promise<Ledger> => {
      const [l] = await d.daemon.store.getLedgers(book, [scope], 'TOKENS')
      return l!
    }
    const counters = (l: Ledger) => ({allocated: l.allocated, spent: l.spent, reserved: l.reserved, debt: l.debt, remaining: l.remaining, is_over_limit: l.is_over_limit})
    const reserve = (kind: string, amount: number, extra: Record<string, unknown> = {}, workspace?: string) =>
      call(d.url, 'POST', '/v1/reservations', {
        idempotency_key: `rb-${++n}`,
        subject: {tenant: 'acme', ...(workspace ? {workspace} : {})},
        action: {kind, name: 'x'},
        estimate: {unit: 'TOKENS', amount},
        ...extra,
      }, auth)
    const commit = (id: string, amount: number) => call(d.url, 'POST', `/v1/reservations/${id}/commit`, {idempotency_key: `c-${++n}`, actual: {unit: 'TOKENS', amount}}, auth)
    const release = (id: string) => call(d.url, 'POST', `/v1/reservations/${id}/release`, {idempotency_key: `r-${++n}`}, auth)

    it('a shared tenant budget: shadowed spend counts, and the enforced tier is denied once the shared spend exhausts it', async () => {
      // The shadowed tier (llm.*) spends 600 of the tenant's 1000.
      const llm = await reserve('llm.chat', 600)
      expect(llm.status, llm.text).toBe(200)
      expect(counters(await ledger('real'))).toMatchObject({reserved: 600, spent: 0, remaining: 400})
      expect((await commit(llm.body.reservation_id, 600)).status).toBe(200)
      expect(counters(await ledger('real'))).toEqual({allocated: 1000, spent: 600, reserved: 0, debt: 0, remaining: 400, is_over_limit: false})

      // The enforced tier (search.*) sees what is left: 300 fits, then 200 does not.
      const search = await reserve('search.web', 300)
      expect(search.status, search.text).toBe(200)
      expect((await commit(search.body.reservation_id, 300)).status).toBe(200)
      const tooMuch = await reserve('search.web', 200)
      expect(tooMuch.status).toBe(409)
      expect(tooMuch.body.error).toBe('BUDGET_EXCEEDED')

      // The shadowed tier is still admitted past the limit; the real book holds only what it covers (100)...
      const past = await reserve('llm.chat', 500)
      expect(past.status, past.text).toBe(200)
      expect(past.headers.get('x-cycles-shadow-decision')).toBe('DENY')
      expect(counters(await ledger('real'))).toMatchObject({spent: 900, reserved: 100, remaining: 0, debt: 0})
      const blocked = await reserve('search.web', 1)
      expect(blocked.status).toBe(409)
      expect(blocked.body.error).toBe('BUDGET_EXCEEDED')
      // ...and at commit the uncovered 400 becomes debt, past the (zero) overdraft limit.
      const settled = await commit(past.body.reservation_id, 500)
      expect(settled.status, settled.text).toBe(200)
      expect(settled.body.charged).toEqual({unit: 'TOKENS', amount: 500})
      expect(counters(await ledger('real'))).toEqual({allocated: 1000, spent: 1000, reserved: 0, debt: 400, remaining: -400, is_over_limit: true})
      const overLimit = await reserve('search.web', 1)
      expect(overLimit.status).toBe(409)
      expect(overLimit.body.error).toBe('OVERDRAFT_LIMIT_EXCEEDED')

      // The shadow book is the world where everything was enforced: the 500 would have been denied there.
      expect(counters(await ledger('shadow'))).toEqual({allocated: 1000, spent: 900, reserved: 0, debt: 0, remaining: 100, is_over_limit: false})
    })

    it('budgets lookup shows the shadowed spend, and book=shadow|both shows the counterfactual next to it', async () => {
      const admin = (p: string) => call(d.daemon.adminUrl, 'GET', p, undefined, {'X-Admin-API-Key': ADMIN})
      const real = await admin(`/v1/admin/budgets/lookup?scope=${TENANT}&unit=TOKENS`)
      expect(real.status).toBe(200)
      expect(real.body).toMatchObject({spent: {amount: 1000}, debt: {amount: 400}, is_over_limit: true})
      expect(real.body.book).toBeUndefined() // the spec's shape when no book is asked for
      const shadow = await admin(`/v1/admin/budgets/lookup?scope=${TENANT}&unit=TOKENS&book=shadow`)
      expect(shadow.body).toMatchObject({book: 'shadow', spent: {amount: 900}, debt: {amount: 0}, remaining: {amount: 100}})
      const both = await admin(`/v1/admin/budgets/lookup?scope=${TENANT}&unit=TOKENS&book=both`)
      expect(both.body).toMatchObject({book: 'real', spent: {amount: 1000}, shadow: {book: 'shadow', spent: {amount: 900}}})
      const list = await admin(`/v1/admin/budgets?tenant_id=acme&book=both&sort_by=scope&sort_dir=asc`)
      expect(list.body.ledgers.map((l: any) => [l.scope, l.spent.amount, l.shadow.spent.amount])).toEqual([
        [TENANT, 1000, 900],
        ['tenant:acme/workspace:side', 0, 0],
      ])
      const bad = await admin(`/v1/admin/budgets?book=imaginary`)
      expect(bad.status).toBe(400)
      expect(bad.body).toMatchObject({error: 'INVALID_REQUEST'})
    })

    it('dry-run and decide change nothing in the real book', async () => {
      const before = counters(await ledger('real', 'tenant:acme/workspace:side'))
      const dry = await reserve('llm.chat', 30, {dry_run: true}, 'side')
      expect(dry.status).toBe(200)
      const decide = await call(d.url, 'POST', '/v1/decide', {idempotency_key: `dc-${++n}`, subject: {tenant: 'acme', workspace: 'side'}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'TOKENS', amount: 30}}, auth)
      expect(decide.status).toBe(200)
      expect(counters(await ledger('real', 'tenant:acme/workspace:side'))).toEqual(before)
    })

    it('release and expiry return exactly what a shadow reservation held, on every scope', async () => {
      // The tenant scope is exhausted (holds 0), the workspace has 100 (holds 80 of 80).
      const side = 'tenant:acme/workspace:side'
      const r = await reserve('llm.chat', 80, {}, 'side')
      expect(r.status, r.text).toBe(200)
      expect(counters(await ledger('real', side))).toMatchObject({reserved: 80, remaining: 20})
      expect(counters(await ledger('real'))).toMatchObject({reserved: 0, remaining: -400})
      expect((await release(r.body.reservation_id)).status).toBe(200)
      expect(counters(await ledger('real', side))).toMatchObject({reserved: 0, remaining: 100})
      expect(counters(await ledger('real'))).toMatchObject({reserved: 0, remaining: -400})

      // Partial hold on the workspace (100 of 130), then expiry returns the 100.
      const partial = await reserve('llm.chat', 130, {ttl_ms: 1000, grace_period_ms: 0}, 'side')
      expect(partial.status).toBe(200)
      expect(counters(await ledger('real', side))).toMatchObject({reserved: 100, remaining: 0})
      for (let i = 0; i < 100; i++) {
        const got = await d.daemon.store.getReservation(partial.body.reservation_id)
        if (got?.status === 'EXPIRED') break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect((await d.daemon.store.getReservation(partial.body.reservation_id))?.status).toBe('EXPIRED')
      expect(counters(await ledger('real', side))).toMatchObject({reserved: 0, remaining: 100, spent: 0})
    })

    it('debt within the overdraft limit does not put the budget over it; past it, it does', async () => {
      const side = 'tenant:acme/workspace:side'
      const r = await reserve('llm.chat', 100, {}, 'side')
      expect((await commit(r.body.reservation_id, 140)).status).toBe(200)
      expect(counters(await ledger('real', side))).toEqual({allocated: 100, spent: 100, reserved: 0, debt: 40, remaining: -40, is_over_limit: false})
      // A shadow-mode event is real spend too: 20 more debt passes the limit of 50.
      const event = await call(d.url, 'POST', '/v1/events', {idempotency_key: `ev-${++n}`, subject: {tenant: 'acme', workspace: 'side'}, action: {kind: 'llm.chat', name: 'x'}, actual: {unit: 'TOKENS', amount: 20}}, auth)
      expect(event.status, event.text).toBe(201)
      expect(counters(await ledger('real', side))).toEqual({allocated: 100, spent: 100, reserved: 0, debt: 60, remaining: -60, is_over_limit: true})
    })
  })
}

describe('a partial real-book hold across a restart (embedded journal)', () => {
  it('is released exactly after the daemon restarts on the same state', async () => {
    const first = await startTestDaemon(CONFIG)
    const side = 'tenant:acme/workspace:side'
    const r = await call(first.url, 'POST', '/v1/reservations', {idempotency_key: 'restart-1', subject: {tenant: 'acme', workspace: 'side'}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'TOKENS', amount: 130}}, auth)
    expect(r.status, r.text).toBe(200)
    await first.stop()
    const again = await startTestDaemon(CONFIG, {}, first.dir)
    try {
      const [before] = await again.daemon.store.getLedgers('real', [side], 'TOKENS')
      expect(before).toMatchObject({reserved: 100, remaining: 0})
      expect((await again.daemon.store.getReservation(r.body.reservation_id))?.real_held).toEqual([130, 100])
      const released = await call(again.url, 'POST', `/v1/reservations/${r.body.reservation_id}/release`, {idempotency_key: 'restart-r'}, auth)
      expect(released.status).toBe(200)
      const [[tenant], [after]] = await Promise.all([again.daemon.store.getLedgers('real', [TENANT], 'TOKENS'), again.daemon.store.getLedgers('real', [side], 'TOKENS')])
      expect(after).toMatchObject({reserved: 0, remaining: 100})
      expect(tenant).toMatchObject({reserved: 0, remaining: 1000})
    } finally {
      await again.stop()
    }
  })
})
