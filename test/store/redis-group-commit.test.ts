// Redis-only behaviour of the group commit (the contract suite covers what both stores share):
// transactions submitted in one turn leave in one script call, and a Redis error inside one of them
// (here WRONGTYPE on a key that is not a hash) fails that transaction alone — the transactions
// before and after it in the same call are applied, their ledger counters included.
import {randomUUID} from 'node:crypto'

import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {RedisStore} from '../../src/store/redis/redis-store.js'
import type {Tx} from '../../src/store/types.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {ledger, reservation} from './contract.js'

let redis: RedisServer | undefined
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await destroyRedis(redis)
})

const U = 'USD_MICROCENTS' as const
const A = 'tenant:acme/workspace:prod/agent:bot'

describe('redis store: group commit', () => {
  let store: RedisStore
  beforeEach(async () => {
    store = await RedisStore.open({url: redis!.url, prefix: `g${randomUUID().slice(0, 8)}:`})
    expect((await store.apply({createLedgers: [{...ledger(A, 1000), book: 'real'}]})).ok).toBe(true)
  })
  afterEach(async () => {
    await store.close()
  })

  const evalshaCalls = async (): Promise<number> => {
    const stats = String(await store.client.info('commandstats'))
    return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0)
  }

  const hold = (id: string, amount: number): Tx => ({
    conditions: [{scope: A, unit: U, field: 'remaining', op: 'gte', value: amount}],
    deltas: [{book: 'real', scope: A, unit: U, add: {reserved: amount}}],
    reservation: {value: reservation(id), expectStatus: 'absent'},
  })

  it('sends the transactions of one turn in one call', async () => {
    const before = await evalshaCalls()
    const results = await Promise.all(Array.from({length: 12}, (_, i) => store.apply(hold(`b${i}`, 100))))
    expect(await evalshaCalls()).toBe(before + 1)
    expect(results.filter((r) => r.ok)).toHaveLength(10)
    expect(results.slice(10).map((r) => (r.ok ? 'ok' : r.failed))).toEqual(['condition', 'condition'])
    const [l] = await store.getLedgers('real', [A], U)
    expect(l).toMatchObject({reserved: 1000, remaining: 0})
  })

  it('a Redis error in one transaction fails that one only', async () => {
    const broken = 'tenant:broken'
    await store.client.set(store.keys.ledger('real', broken, U), 'not a hash')
    const results = await Promise.allSettled([
      store.apply(hold('e1', 100)),
      store.apply({conditions: [{scope: broken, unit: U, field: 'remaining', op: 'gte', value: 0}], deltas: [{book: 'real', scope: A, unit: U, add: {reserved: 1}}]}),
      store.apply(hold('e3', 200)),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/)
    const [l] = await store.getLedgers('real', [A], U)
    expect(l).toMatchObject({reserved: 300, remaining: 700})
    expect((await store.getReservation('e1'))?.status).toBe('ACTIVE')
    expect((await store.getReservation('e3'))?.status).toBe('ACTIVE')
  })
})
