// Redis-only behaviour of the group commit (the contract suite covers what both stores share):
// transactions submitted in one turn leave in one script call, and a Redis error inside one of them
// (here WRONGTYPE on a key that is not a hash) fails that transaction alone — the transactions
// before and after it in the same call are applied, their ledger counters included. Also the
// Redis encodings: the hand-encoded call with multi-byte text, ledger reads answered from the
// call's own state, a transition's cycles_update_json, and the idempotency record's form.
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

  it('answers a ledger read issued with a transaction in the same call from the post-transaction state', async () => {
    const ops = await Promise.all([
      store.apply({
        conditions: [{scope: A, unit: U, field: 'status', op: 'eq', value: 'ACTIVE'}],
        deltas: [{book: 'real', scope: A, unit: U, add: {spent: 30, reserved: 20}, set: {status: 'FROZEN', is_over_limit: true, caps: {max_tokens: 5}}}],
      }),
      store.getLedgers('real', [A, 'tenant:nobody'], U),
    ])
    expect(ops[0].ok).toBe(true)
    const direct = await (async () => {
      await new Promise((r) => setTimeout(r, 5))
      return store.getLedgers('real', [A, 'tenant:nobody'], U)
    })()
    expect(ops[1]).toEqual(direct)
    expect(ops[1][0]).toMatchObject({spent: 30, reserved: 20, remaining: 950, status: 'FROZEN', is_over_limit: true, caps: {max_tokens: 5}})
    expect(ops[1][1]).toBeUndefined()
    const raw = await store.client.hgetall(store.keys.ledger('real', A, U))
    expect(raw).toMatchObject({spent: '30', reserved: '20', remaining: '950', status: 'FROZEN', is_over_limit: 'true'})
  })

  it('sends multi-byte text exactly (the call is encoded by hand)', async () => {
    const text = 'é – 日本語 – 🚀 – \u0000 – "quotes" \\ end'
    // Fields whose UTF-8 length has more digits than their length in characters move their header.
    const r = reservation('mb1', {
      subject: {tenant: 'acme', workspace: text, agent: 'bot'},
      action: {kind: 'llm.completion', name: 'é'.repeat(60)},
      idempotency_key: '日本語日本',
      metadata: {note: text, long: text.repeat(200)},
    })
    const body = JSON.stringify({decision: 'ALLOW', note: text})
    const applied = await store.apply({
      reservation: {value: r, expectStatus: 'absent'},
      idempotency: {key: `acme:reserve:${text}`, record: {hash: 'h', status: 200, body, reservation_id: 'mb1'}, ttl_ms: 60_000},
    })
    expect(applied.ok).toBe(true)
    expect(await store.getReservation('mb1')).toEqual(r)
    expect(await store.getIdempotency(`acme:reserve:${text}`)).toEqual({hash: 'h', status: 200, body, reservation_id: 'mb1'})
    expect(await store.client.hmget(store.keys.reservation('mb1'), 'subject_json', 'action_json', 'idempotency_key')).toEqual([JSON.stringify(r.subject), JSON.stringify(r.action), '日本語日本'])
  })

  it('a transition writes only what changed (cycles_update_json); reads put the record together again', async () => {
    const r = reservation('t1', {metadata: {a: 1}, would_reason_code: 'BUDGET_EXCEEDED'})
    expect((await store.apply({reservation: {value: r, expectStatus: 'absent'}})).ok).toBe(true)
    const created = await store.client.hget(store.keys.reservation('t1'), 'cycles_json')
    const {would_reason_code: _dropped, ...rest} = r
    const committed = {
      ...rest,
      status: 'COMMITTED' as const,
      finalized_at_ms: 20_000,
      committed: {unit: 'USD_MICROCENTS' as const, amount: 80},
      committed_actual: 80,
      finalize: {endpoint: 'commit' as const, key: 'c', hash: 'x', status: 200, body: '{"status":"COMMITTED"}'},
    }
    expect((await store.apply({reservation: {value: committed, expectStatus: 'ACTIVE'}})).ok).toBe(true)
    const hash = await store.client.hgetall(store.keys.reservation('t1'))
    expect(hash.cycles_json).toBe(created)
    const update = JSON.parse(hash.cycles_update_json) as Record<string, unknown>
    expect(update).not.toHaveProperty('subject')
    expect(update).not.toHaveProperty('would_reason_code')
    expect(update).toMatchObject({status: 'COMMITTED', committed_actual: 80})
    expect(hash).toMatchObject({state: 'COMMITTED', committed_at: '20000', charged_amount: '80'})
    const back = await store.getReservation('t1')
    expect(back).toEqual(committed)
    expect(Object.keys(back!)).toEqual(Object.keys(committed))
    const listed = await store.listReservations({tenant: 'acme'})
    expect(listed.reservations.find((x) => x.reservation_id === 't1')).toEqual(committed)

    // An unguarded upsert replaces the whole record, what the transition added included.
    const replaced = reservation('t1', {status: 'ACTIVE', extension_count: 3})
    expect((await store.apply({reservation: {value: replaced}})).ok).toBe(true)
    expect(await store.client.hexists(store.keys.reservation('t1'), 'cycles_update_json')).toBe(0)
    expect(await store.getReservation('t1')).toEqual(replaced)
  })

  it('stores an idempotency record as its header and the body verbatim, and still reads the all-JSON form', async () => {
    const body = '{"decision":"ALLOW","balances":[{"scope":"tenant:acme"}]}'
    const record = {hash: 'abc', status: 200, body, reservation_id: 'r1', expires_at_ms: 123}
    expect((await store.apply({idempotency: {key: 'acme:reserve:k1', record, ttl_ms: 60_000}})).ok).toBe(true)
    const stored = await store.client.get(store.keys.idempotency('acme:reserve:k1'))
    expect(stored).toBe(`${JSON.stringify({hash: 'abc', status: 200, reservation_id: 'r1', expires_at_ms: 123})}\n${body}`)
    expect(await store.getIdempotency('acme:reserve:k1')).toEqual(record)
    await store.client.set(store.keys.idempotency('acme:reserve:old'), JSON.stringify({...record, body: 'line\nbreak'}))
    expect(await store.getIdempotency('acme:reserve:old')).toEqual({...record, body: 'line\nbreak'})
  })

  it('falls back to EVAL once when Redis lost the script (restart, SCRIPT FLUSH)', async () => {
    await store.client.script('FLUSH')
    expect((await store.apply(hold('nf1', 100))).ok).toBe(true)
    const [l] = await store.getLedgers('real', [A], U)
    expect(l).toMatchObject({reserved: 100, remaining: 900})
    expect((await store.getReservation('nf1'))?.status).toBe('ACTIVE')
  })
})
