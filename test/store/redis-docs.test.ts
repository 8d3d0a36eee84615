// Redis-only behaviour of doc collections (doc-contract.ts covers what both stores share): guarded
// counters across two store instances on one server, the key layout, the expiry sweep, index
// members whose hash Redis already dropped, and doc reads riding in the turn's batch.
import {randomUUID} from 'node:crypto'

import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {RedisStore} from '../../src/store/redis/redis-store.js'
import type {Tx} from '../../src/store/types.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {ledger} from './contract.js'

let redis: RedisServer | undefined
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await destroyRedis(redis)
})

const HOUR = 3_600_000

describe('redis store: doc collections', () => {
  let store: RedisStore
  let now = 0
  let prefix = ''
  beforeEach(async () => {
    now = Date.now()
    prefix = `d${randomUUID().slice(0, 8)}:`
    store = await RedisStore.open({url: redis!.url, prefix, now: () => now})
  })
  afterEach(async () => {
    await store.close()
  })

  const guardedAdd = (): Tx => ({
    docConditions: [{collection: 'quota', id: 'runs', field: 'count', op: 'lt', value: 20}],
    docs: [{collection: 'quota', id: 'runs', add: {count: 1}}],
  })

  it('two instances on one server admit exactly 20 of 50 concurrent guarded adds', async () => {
    const other = await RedisStore.open({url: redis!.url, prefix})
    try {
      const results = await Promise.all(Array.from({length: 50}, (_, i) => (i % 2 === 0 ? store : other).apply(guardedAdd())))
      expect(results.filter((r) => r.ok)).toHaveLength(20)
      expect(results.filter((r) => !r.ok).map((r) => !r.ok && r.failed)).toEqual(Array.from({length: 30}, () => 'condition'))
      expect((await other.getDocs('quota', ['runs']))[0]).toMatchObject({version: 20, value: {count: 20}})
    } finally {
      await other.close()
    }
  })

  it('a Redis error in one transaction of a call keeps the doc writes of the others', async () => {
    // Doc hashes are written once at the end of the call: the failed transaction must not lose them.
    await store.client.set(store.keys.doc('quota', 'broken'), 'not a hash')
    const results = await Promise.allSettled([
      store.apply(guardedAdd()),
      store.apply({docs: [{collection: 'quota', id: 'runs', add: {count: 100}}, {collection: 'quota', id: 'broken', add: {count: 1}}]}),
      store.apply(guardedAdd()),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/)
    expect((await store.getDocs('quota', ['runs']))[0]).toMatchObject({version: 2, value: {count: 2}})
    expect(await store.client.hget(store.keys.doc('quota', 'runs'), '.count')).toBe('2')
  })

  it('keeps a doc as a hash with its expiry, an index member and an expiry member', async () => {
    await store.apply({docs: [{collection: 'c', id: 'a', set: {n: 1, s: 'x'}, expires_at_ms: now + HOUR}, {collection: 'c', id: 'b', set: {}}]})
    const c = store.client
    expect(await c.hgetall(store.keys.doc('c', 'a'))).toEqual({v: '1', x: String(now + HOUR), '.n': '1', '.s': '"x"'})
    expect(await c.pexpiretime(store.keys.doc('c', 'a'))).toBe(now + HOUR)
    expect(await c.pttl(store.keys.doc('c', 'b'))).toBe(-1)
    expect(await c.zrange(store.keys.docIndex('c'), 0, -1, 'WITHSCORES')).toEqual(['a', '0', 'b', '0'])
    expect(await c.zrange(store.keys.docExpiry(), 0, -1, 'WITHSCORES')).toEqual(['c:a', String(now + HOUR)])
    // An add that keeps the expiry writes only the version and the field.
    await store.apply({docs: [{collection: 'c', id: 'a', add: {n: 2}}]})
    expect(await c.hgetall(store.keys.doc('c', 'a'))).toEqual({v: '2', x: String(now + HOUR), '.n': '3', '.s': '"x"'})
    // A delete removes the hash and both members.
    await store.apply({docs: [{collection: 'c', id: 'a', delete: true}]})
    expect(await c.exists(store.keys.doc('c', 'a'))).toBe(0)
    expect(await c.zrange(store.keys.docIndex('c'), 0, -1)).toEqual(['b'])
    expect(await c.zcard(store.keys.docExpiry())).toBe(0)
  })

  it('the sweep removes due docs with their members and keeps rewritten ones', async () => {
    await store.apply({
      docs: [
        {collection: 's', id: 'due', set: {n: 1}, expires_at_ms: now + HOUR},
        {collection: 's', id: 'later', set: {n: 1}, expires_at_ms: now + HOUR},
        {collection: 's', id: 'again', set: {n: 1}, expires_at_ms: now + HOUR},
        {collection: 's:x', id: 'a:b', set: {n: 1}, expires_at_ms: now + HOUR},
        {collection: 's', id: 'forever', set: {n: 1}},
      ],
    })
    await store.apply({docs: [{collection: 's', id: 'later', add: {n: 1}, expires_at_ms: now + 3 * HOUR}]})
    now += 2 * HOUR
    // Expired, then created again without an expiry.
    await store.apply({docs: [{collection: 's', id: 'again', set: {n: 2}}]})
    expect(await store.sweepDocs()).toBe(3)
    const c = store.client
    expect(await c.exists(store.keys.doc('s', 'due'), store.keys.doc('s:x', 'a:b'))).toBe(0)
    expect(await c.zrange(store.keys.docIndex('s'), 0, -1)).toEqual(['again', 'forever', 'later'])
    expect(await c.zcard(store.keys.docIndex('s:x'))).toBe(0)
    expect(await c.zrange(store.keys.docExpiry(), 0, -1)).toEqual(['s:later'])
    expect((await store.listDocs('s')).map((d) => [d.id, d.version, d.value.n])).toEqual([
      ['again', 1, 2],
      ['forever', 1, 1],
      ['later', 2, 2],
    ])
    expect(await store.sweepDocs()).toBe(0)
  })

  it('listing drops index members whose hash is gone and still fills the page', async () => {
    await store.apply({docs: ['a', 'b', 'c', 'd'].map((id) => ({collection: 'g', id, set: {id}}))})
    // As when Redis expired the hashes on its own clock before any sweep.
    await store.client.del(store.keys.doc('g', 'a'), store.keys.doc('g', 'b'))
    expect((await store.listDocs('g', {limit: 2})).map((d) => d.id)).toEqual(['c', 'd'])
    expect(await store.client.zrange(store.keys.docIndex('g'), 0, -1)).toEqual(['c', 'd'])
  })

  it('doc reads ride in the turn\'s script call with the other reads and see its writes', async () => {
    expect((await store.apply({createLedgers: [{...ledger('tenant:r', 100), book: 'real'}]})).ok).toBe(true)
    const calls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(String(await store.client.info('commandstats')))?.[1] ?? 0)
    const before = await calls()
    const [applied, docs, ledgers] = await Promise.all([
      store.apply({docs: [{collection: 'r', id: 'a', add: {n: 4}}]}),
      store.getDocs('r', ['a', 'b']),
      store.getLedgers('real', ['tenant:r'], 'USD_MICROCENTS'),
    ])
    expect(await calls()).toBe(before + 1)
    expect(applied.ok).toBe(true)
    expect(docs).toEqual([{collection: 'r', id: 'a', version: 1, value: {n: 4}}, undefined])
    expect(ledgers[0]).toMatchObject({allocated: 100})
  })
})
