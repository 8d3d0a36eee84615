// Two daemon instances on one Redis, enforce mode: concurrent clients never get more admitted than
// the budget holds, both instances agree on balances, open reservations expire and return their
// holds; the kill switch and a key revocation made through one instance reach the other within 1 s.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {TierControl} from '../../src/store/types.js'
import {readRecords} from '../support/daemon.js'
import {type RedisDaemon, client, clusterConfig, reserveBody, twoRedisDaemons, until} from './helpers.js'

describe('two daemon instances sharing one Redis', () => {
  let pair: Awaited<ReturnType<typeof twoRedisDaemons>>
  let a: RedisDaemon
  let b: RedisDaemon
  const http = client(128)

  beforeAll(async () => {
    pair = await twoRedisDaemons(clusterConfig({allocated: 10_000}))
    ;({a, b} = pair)
  })
  afterAll(async () => {
    http.close()
    await pair?.stop()
  })

  const balance = async (url: string) => {
    const res = await http.request(url, 'GET', '/v1/balances?tenant=acme')
    expect(res.status).toBe(200)
    return res.body.balances[0]
  }

  it('admits no more than the budget under concurrent reserves through both instances, and both agree', async () => {
    const admitted: Array<{id: string; via: string}> = []
    const statuses = new Map<number, number>()
    // 48 concurrent clients x 5 reserves of 100 against 10,000: exactly 100 can be admitted.
    await Promise.all(
      Array.from({length: 48}, async (_, c) => {
        for (let i = 0; i < 5; i++) {
          const via = (c + i) % 2 ? a.url : b.url
          const res = await http.request(via, 'POST', '/v1/reservations', reserveBody('llm.chat', 100, {ttl_ms: 60_000}))
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
          if (res.status === 200) {
            admitted.push({id: res.body.reservation_id, via})
            for (const bal of res.body.balances) expect(bal.remaining.amount).toBeGreaterThanOrEqual(0)
          } else {
            expect(res.status).toBe(409)
            expect(res.body.error).toBe('BUDGET_EXCEEDED')
          }
        }
      }),
    )
    expect(admitted).toHaveLength(100)
    expect(statuses.get(409)).toBe(140)
    const [ba, bb] = [await balance(a.url), await balance(b.url)]
    expect(ba).toEqual(bb)
    expect(ba).toMatchObject({remaining: {amount: 0}, reserved: {amount: 10_000}, spent: {amount: 0}})

    // Settle them through the other instance: half committed at 50, half released.
    await Promise.all(
      admitted.map(async ({id, via}, i) => {
        const other = via === a.url ? b.url : a.url
        const res =
          i % 2
            ? await http.request(other, 'POST', `/v1/reservations/${id}/commit`, {idempotency_key: `c-${id}`, actual: {unit: 'USD_MICROCENTS', amount: 50}})
            : await http.request(other, 'POST', `/v1/reservations/${id}/release`, {idempotency_key: `r-${id}`})
        expect(res.status).toBe(200)
      }),
    )
    const [sa, sb] = [await balance(a.url), await balance(b.url)]
    expect(sa).toEqual(sb)
    expect(sa).toMatchObject({remaining: {amount: 7500}, reserved: {amount: 0}, spent: {amount: 2500}})
  })

  it('expires reservations left open and returns their holds (swept by either instance)', async () => {
    const before = await balance(a.url)
    const ids: string[] = []
    await Promise.all(
      Array.from({length: 10}, async (_, i) => {
        const res = await http.request(i % 2 ? a.url : b.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 100, {ttl_ms: 1000, grace_period_ms: 0}))
        expect(res.status).toBe(200)
        ids.push(res.body.reservation_id)
      }),
    )
    expect((await balance(b.url)).reserved.amount).toBe(before.reserved.amount + 1000)
    await until('the holds to return', 10_000, async () => (await balance(b.url)).reserved.amount === before.reserved.amount)
    expect(await balance(a.url)).toEqual(await balance(b.url))
    expect((await balance(a.url)).remaining.amount).toBe(before.remaining.amount)
    for (const id of ids) {
      const res = await http.request(a.url, 'POST', `/v1/reservations/${id}/commit`, {idempotency_key: `late-${id}`, actual: {unit: 'USD_MICROCENTS', amount: 1}})
      expect(res.status).toBe(410)
    }
  })

  it('kill switch engaged through one instance reaches the other within 1 s; denied traffic is then admitted as shadow', async () => {
    // Exhaust what is left, so enforce mode denies.
    const left = (await balance(b.url)).remaining.amount
    expect((await http.request(b.url, 'POST', '/v1/reservations', reserveBody('llm.chat', left, {ttl_ms: 60_000}))).status).toBe(200)
    const denied = await http.request(b.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 100))
    expect(denied.status).toBe(409)

    const current = a.daemon.control
    const engaged: TierControl = {...current, killswitch: {engaged: true, reason: 'test incident', actor: 'test', changed_at_ms: Date.now()}, version: current.version + 1}
    const t0 = Date.now()
    expect((await a.store.apply({control: engaged})).ok).toBe(true)
    await until('instance B to see the kill switch', 1000, async () => b.daemon.control.killswitch.engaged, 5)
    const elapsed = Date.now() - t0
    expect(elapsed).toBeLessThanOrEqual(1000)
    const status = await http.request(b.url, 'GET', '/actuator/cycles/status')
    expect(status.body.killswitch.engaged).toBe(true)

    const admitted = await http.request(b.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 100))
    expect(admitted.status).toBe(200)
    expect(admitted.headers['x-cycles-shadow-decision']).toBe('DENY')
    const rec = b.records().find((r) => r.reservation_id === admitted.body.reservation_id)
    expect(rec).toMatchObject({mode: 'shadow', decision: 'ALLOW', would_decision: 'DENY'})

    // Release, again through A: B returns to enforcing within 1 s.
    const released: TierControl = {...engaged, killswitch: {engaged: false, actor: 'test', changed_at_ms: Date.now()}, version: engaged.version + 1}
    const t1 = Date.now()
    await a.store.apply({control: released})
    await until('instance B to see the release', 1000, async () => !b.daemon.control.killswitch.engaged, 5)
    expect(Date.now() - t1).toBeLessThanOrEqual(1000)
    expect((await http.request(b.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 100))).status).toBe(409)
    expect(readRecords(a.logDir).length).toBeGreaterThan(0)
  })

  it('a key revoked through one instance is refused by the other at once (cache invalidated over pub/sub)', async () => {
    const probe = () => http.request(b.url, 'GET', '/v1/balances?tenant=acme')
    expect((await probe()).status).toBe(200) // B has the key cached now
    const [key] = await a.store.listApiKeys('acme')
    await a.store.apply({apiKeys: [{...key, status: 'REVOKED', revoked_at_ms: Date.now()}]})
    await until('instance B to refuse the revoked key', 1000, async () => (await probe()).status === 401, 5)
    await a.store.apply({apiKeys: [{...key, status: 'ACTIVE'}]})
    await until('instance B to accept the key again', 1000, async () => (await probe()).status === 200, 5)
  })
})
