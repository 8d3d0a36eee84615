// Events on the Redis store: written and read back through the admin API as on the embedded store,
// with their expiry; and a Redis outage is announced (system.store_connection_lost, buffered while
// Redis is away) and its end too (system.store_connection_restored), both in the log afterwards.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {EVENTS_COLLECTION} from '../../src/events/event.js'
import {RedisStore} from '../../src/store/redis/redis-store.js'
import type {TestDaemon} from '../support/daemon.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {ACME, admin, eventsOf, expectSpec, onlyEvent, reserve, startEventsDaemon} from './support.js'
import {debtScenario, thresholdScenario} from './ledger-scenarios.js'

let redis: RedisServer
let td: TestDaemon
let store: RedisStore

beforeAll(async () => {
  redis = await startRedis()
  store = await RedisStore.open({url: redis.url, prefix: 'ev:', commandTimeoutMs: 500, connectTimeoutMs: 500})
  td = await startEventsDaemon('', {store})
}, 60_000)
afterAll(async () => {
  await td?.stop()
  await destroyRedis(redis)
})

describe('events on Redis', () => {
  it('admin and runtime events are stored in Redis and read back, with the retention as their expiry', async () => {
    expect((await admin(td, 'POST', '/v1/admin/tenants', {tenant_id: 'hooli', name: 'Hooli'})).status).toBe(201)
    expect((await reserve(td, ACME, {subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'email.send', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 5000}})).status).toBe(409)
    const created = await onlyEvent(td, 'tenant.created')
    expectSpec('Event', created)
    const denied = await onlyEvent(td, 'reservation.denied')
    expect(denied.data).toMatchObject({reason_code: 'BUDGET_EXCEEDED'})
    const [doc] = await store.getDocs(EVENTS_COLLECTION, [denied.event_id])
    expect(doc?.value).toEqual(denied)
    expect(doc?.expires_at_ms).toBe(Date.parse(denied.timestamp) + 7 * 86_400_000)
  })

  it('an outage is system.store_connection_lost, its end system.store_connection_restored, both written once Redis is back', async () => {
    await redis.stop()
    // The sweep reaches the store every 100 ms here; wait for it to notice.
    for (let i = 0; i < 200 && td.daemon.events.writer!.stats.buffered === 0; i++) await new Promise((r) => setTimeout(r, 50))
    expect(td.daemon.events.writer!.stats.buffered).toBeGreaterThan(0)
    await redis.restart()
    for (let i = 0; i < 200 && (await eventsOf(td, {category: 'system'}).catch(() => [])).length < 2; i++) await new Promise((r) => setTimeout(r, 100))
    const system = await eventsOf(td, {category: 'system'})
    expect(system.map((e) => e.event_type)).toEqual(['system.store_connection_lost', 'system.store_connection_restored'])
    for (const e of system) expectSpec('Event', e)
    expect(system[0]).toMatchObject({tenant_id: '__system__', data: {component: 'store', severity: 'critical'}})
    expect(system[1].data).toMatchObject({component: 'store', severity: 'info', details: {lost_since: system[0].timestamp}})
  }, 60_000)
})

describe('events read off ledger post-states on Redis (built by the apply script from its working copies)', () => {
  for (const [name, scenario] of [['debt incurred, over the limit entered; repaid, exited', debtScenario], ['thresholds rising once each, exhaustion once, falling after a release', thresholdScenario]] as const) {
    it(name, async () => {
      const own = await RedisStore.open({url: redis.url, prefix: `ev-${scenario.name}:`, commandTimeoutMs: 2000, connectTimeoutMs: 2000})
      const daemon = await startEventsDaemon('', {store: own})
      try {
        await scenario(daemon)
      } finally {
        await daemon.stop()
      }
    })
  }
})
