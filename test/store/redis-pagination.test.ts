// Redis GET /v1/reservations pagination (issue 9 §8): cursors resume where the previous page
// stopped, so paging through many reservations sees each exactly once and a deep page costs the
// store no more reads than the first (counted with Redis INFO commandstats, not timed).
import {randomUUID} from 'node:crypto'

import {Redis} from 'ioredis'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RedisStore} from '../../src/store/redis/redis-store.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {reservation} from './contract.js'

const N = 2000
const LIMIT = 50
/** The commands a listing page sends. */
const LISTING_COMMANDS = ['hmget', 'zrevrangebyscore', 'zrangebyscore']

describe('Redis reservation listing pages with keyset cursors', () => {
  let redis: RedisServer
  let store: RedisStore
  let admin: Redis

  beforeAll(async () => {
    redis = await startRedis()
    store = await RedisStore.open({url: redis.url, prefix: `p${randomUUID().slice(0, 8)}:`})
    admin = new Redis(redis.url)
    // Groups of three equal timestamps, written in a scrambled order.
    const order = Array.from({length: N}, (_, i) => (i * 7919) % N)
    for (let from = 0; from < N; from += 200) {
      const results = await Promise.all(
        order.slice(from, from + 200).map((i) => store.apply({reservation: {value: reservation(`r${String(i).padStart(5, '0')}`, {created_at_ms: 1_000_000 + Math.floor(i / 3)})}})),
      )
      expect(results.every((r) => r.ok)).toBe(true)
    }
  })
  afterAll(async () => {
    admin?.disconnect()
    await store?.close()
    await destroyRedis(redis)
  })

  const listingCalls = async (): Promise<Record<string, number>> => {
    const stats = String(await admin.info('commandstats'))
    const calls: Record<string, number> = {}
    for (const name of LISTING_COMMANDS) calls[name] = Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
    return calls
  }

  it(`pages through ${N} reservations, each exactly once in listing order, with bounded reads per page`, async () => {
    const seen: string[] = []
    const perPage: Array<Record<string, number>> = []
    let cursor: string | undefined
    for (let page = 0; page <= N / LIMIT; page++) {
      await admin.config('RESETSTAT')
      const result = await store.listReservations({tenant: 'acme', limit: LIMIT, cursor})
      perPage.push(await listingCalls())
      seen.push(...result.reservations.map((r) => r.reservation_id))
      cursor = result.next_cursor
      if (!cursor) break
    }
    const expected = Array.from({length: N}, (_, i) => ({id: `r${String(i).padStart(5, '0')}`, at: Math.floor(i / 3)}))
      .sort((a, b) => b.at - a.at || a.id.localeCompare(b.id))
      .map((r) => r.id)
    expect(seen).toEqual(expected)
    expect(new Set(seen).size).toBe(N)
    expect(perPage).toHaveLength(N / LIMIT)
    // Every page, the last as much as the first: a few index reads (the rest of the cursor's group of
    // equal timestamps, then older ones) and one record read per reservation returned, plus a few.
    for (const calls of perPage) {
      expect(calls.zrevrangebyscore + calls.zrangebyscore).toBeLessThanOrEqual(4)
      expect(calls.hmget).toBeLessThanOrEqual(LIMIT + 1 + 8)
    }
    const deepest = perPage[perPage.length - 1]
    expect(deepest.hmget).toBeLessThanOrEqual(perPage[0].hmget + 3)
  })

  it('a filter that matches few still pages exactly once, resuming after the last match', async () => {
    // Reservations r00000, r00100, ... (every 100th) are COMMITTED.
    const committed = Array.from({length: N / 100}, (_, k) => `r${String(k * 100).padStart(5, '0')}`)
    for (const id of committed) {
      const r = (await store.getReservation(id))!
      expect((await store.apply({reservation: {value: {...r, status: 'COMMITTED'}, expectStatus: 'ACTIVE'}})).ok).toBe(true)
    }
    const seen: string[] = []
    let cursor: string | undefined
    for (let guard = 0; guard < 50; guard++) {
      const result = await store.listReservations({tenant: 'acme', status: 'COMMITTED', limit: 3, cursor})
      seen.push(...result.reservations.map((r) => r.reservation_id))
      cursor = result.next_cursor
      if (!cursor) break
    }
    expect(seen).toEqual([...committed].reverse())
  })
})
