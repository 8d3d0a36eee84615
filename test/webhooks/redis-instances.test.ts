// Two daemons on one real redis-server: each event is delivered by exactly one of them, and a
// delivery claimed by an instance that died is picked up by the other once the claim expires.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RedisStore} from '../../src/store/redis/redis-store.js'
import {LEASES_COLLECTION, QUEUE_COLLECTION} from '../../src/webhooks/model.js'
import {newPrefix} from '../cluster/helpers.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {type Receiver, type WebhookDaemon, emit, startReceiver, startWebhookDaemon, subscribe, testClock} from './support.js'

let redis: RedisServer
beforeAll(async () => {
  redis = await startRedis()
}, 120_000)
afterAll(async () => {
  await destroyRedis(redis)
})

async function pair(): Promise<{a: WebhookDaemon; b: WebhookDaemon; clock: ReturnType<typeof testClock>; stop(): Promise<void>}> {
  // Redis also expires keys on its own clock: start the test clock at the real time.
  const clock = testClock(Date.now())
  const prefix = newPrefix()
  const a = await startWebhookDaemon({clock, instanceId: 'a', store: await RedisStore.open({url: redis.url, prefix, now: clock.now})})
  const b = await startWebhookDaemon({clock, instanceId: 'b', optIn: false, store: await RedisStore.open({url: redis.url, prefix, now: clock.now})})
  return {a, b, clock, stop: async () => Promise.all([a.stop(), b.stop()]).then(() => undefined)}
}

describe('webhooks with two daemons on one Redis', () => {
  it('deliver each event once, whichever instance scans or sends', async () => {
    const {a, b, clock, stop} = await pair()
    let r: Receiver | undefined
    try {
      r = await startReceiver('healthy')
      const {id} = await subscribe(a, r)
      const sent: string[] = []
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 10; i++) sent.push((await emit(round % 2 === 0 ? a.daemon.store : b.daemon.store, clock.t, {event_type: 'reservation.denied'})).event_id)
        clock.advance(5)
        // Both instances scan and send at the same time.
        const [ta, tb] = await Promise.all([a.daemon.webhooks.tick(), b.daemon.webhooks.tick()])
        expect(ta.enqueued + tb.enqueued).toBe(10)
      }
      await Promise.all([a.daemon.webhooks.tick(), b.daemon.webhooks.tick()])
      const got = r.delivered().map((e) => e.event_id)
      expect(got.length).toBe(40)
      expect(new Set(got)).toEqual(new Set(sent))
      const history = await b.admin('GET', `/v1/admin/webhooks/${id}/deliveries?limit=100`)
      expect(history.body.deliveries).toHaveLength(40)
      expect(history.body.deliveries.every((x: {status: string; attempts: number}) => x.status === 'SUCCESS' && x.attempts === 1)).toBe(true)
    } finally {
      await r?.close()
      await stop()
    }
  })

  it("a delivery claimed by an instance that died is sent by the other once the claim expires", async () => {
    const {a, b, clock, stop} = await pair()
    let r: Receiver | undefined
    try {
      r = await startReceiver('healthy')
      await subscribe(a, r)
      const event = await emit(a.daemon.store, clock.t, {event_type: 'reservation.denied'})
      clock.advance(5)
      expect(await a.daemon.webhooks.scan()).toBe(1)
      const [queued] = await a.daemon.store.listDocs(QUEUE_COLLECTION, {})
      // Instance a claims it and is killed before sending (its lease stays until it expires).
      expect((await a.daemon.store.apply({docs: [{collection: LEASES_COLLECTION, id: queued.id, set: {owner: 'a'}, expectVersion: 0, expires_at_ms: clock.t + 60_000}]})).ok).toBe(true)
      expect((await b.daemon.webhooks.tick()).sent).toBe(0)
      clock.advance(60_001)
      expect((await b.daemon.webhooks.tick()).sent).toBe(1)
      expect(r.delivered().map((e) => e.event_id)).toEqual([event.event_id])
      expect(await b.daemon.store.listDocs(QUEUE_COLLECTION, {})).toEqual([])
    } finally {
      await r?.close()
      await stop()
    }
  })
})
