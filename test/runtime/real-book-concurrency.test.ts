// Shadow-mode spend in the real book under concurrency: many shadowed reservations racing with
// enforced ones on one tenant budget, on the embedded store and on Redis. Whatever the interleaving,
// the real book ends exact: every actual is either spent or debt (spent + debt = the sum of actuals),
// nothing stays reserved, spent never passes the allocation, and no request fails.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RedisStore} from '../../src/store/redis/redis-store.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 1000}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: shadow, match: ["email.*"]}
`
const auth = {'X-Cycles-API-Key': KEY}

for (const storeKind of ['embedded', 'redis'] as const) {
  describe(`concurrent shadowed and enforced spend on one budget (${storeKind})`, () => {
    let d: TestDaemon
    let redis: RedisServer | undefined
    beforeAll(async () => {
      if (storeKind === 'redis') {
        redis = await startRedis()
        d = await startTestDaemon(CONFIG, {store: await RedisStore.open({url: redis.url, prefix: 'rbc:'})})
      } else d = await startTestDaemon(CONFIG)
    })
    afterAll(async () => {
      await d?.stop()
      if (redis) await destroyRedis(redis)
    })

    it('ends with spent + debt = every committed actual, nothing reserved, spent within the allocation', async () => {
      let committed = 0
      const one = async (i: number) => {
        const kind = i % 4 === 0 ? 'search.web' : 'llm.chat'
        const estimate = 20 + (i % 7) * 5
        const r = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: `k-${i}`, subject: {tenant: 'acme'}, action: {kind, name: 'x'}, estimate: {unit: 'TOKENS', amount: estimate}}, auth)
        if (kind === 'search.web' && r.status === 409) return 'denied'
        expect(r.status, r.text).toBe(200)
        if (i % 5 === 0) {
          expect((await call(d.url, 'POST', `/v1/reservations/${r.body.reservation_id}/release`, {idempotency_key: `r-${i}`}, auth)).status).toBe(200)
          return 'released'
        }
        const actual = estimate + (i % 3) * 10 - 10
        const c = await call(d.url, 'POST', `/v1/reservations/${r.body.reservation_id}/commit`, {idempotency_key: `c-${i}`, actual: {unit: 'TOKENS', amount: actual}}, auth)
        expect(c.status, c.text).toBe(200)
        committed += c.body.charged.amount
        return 'committed'
      }
      const outcomes = await Promise.all(Array.from({length: 120}, (_, i) => one(i)))
      expect(outcomes.filter((o) => o === 'committed').length).toBeGreaterThan(60)
      const [real] = await d.daemon.store.getLedgers('real', ['tenant:acme'], 'TOKENS')
      expect(real!.reserved).toBe(0)
      expect(real!.spent + real!.debt).toBe(committed)
      expect(real!.spent).toBeLessThanOrEqual(1000)
      expect(real!.remaining).toBe(real!.allocated - real!.spent - real!.debt)
      // More was committed than the budget holds: remaining shows exactly how far (whatever the
      // interleaving), and the shortfall is debt, so the budget is over its (zero) overdraft limit.
      // How the total splits into spent and debt depends on the interleaving: a commit that found the
      // rest of the budget held by others records its shortfall as debt, which stays until repaid.
      expect(committed).toBeGreaterThan(1000)
      expect(real!.remaining).toBe(1000 - committed)
      expect(real!.debt).toBeGreaterThanOrEqual(committed - 1000)
      expect(real!.is_over_limit).toBe(true)
    })
  })
}
