// Redis stopped mid-traffic, then restarted: the daemon does not crash, answers per tier during the
// outage (shadow admitted and logged with store_error; enforce per on_store_error: deny = 503
// INTERNAL_ERROR with the envelope, allow = admitted), reports not-ready, serves normally after the
// restart, and nothing it acknowledged is lost.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {client, clusterConfig, newPrefix, redisDaemon, reserveBody, until} from './helpers.js'

const CONFIG = clusterConfig({allocated: 1_000_000_000, low: 'shadow', highOnStoreError: 'allow'})

describe('Redis stopped mid-traffic, then restarted', () => {
  let redis: RedisServer
  let d: Awaited<ReturnType<typeof redisDaemon>>
  const http = client(64)

  beforeAll(async () => {
    redis = await startRedis({persistent: true})
    d = await redisDaemon(redis.url, newPrefix(), CONFIG)
  })
  afterAll(async () => {
    http.close()
    await d?.stop()
    await destroyRedis(redis)
  })

  it('keeps answering per on_store_error, recovers without a restart, loses nothing acknowledged', async () => {
    const acknowledged: string[] = []
    const committed: string[] = []
    const unexpected: string[] = []
    let outageAnswers = 0
    let stop = false
    // Background enforce-mode traffic across the whole outage.
    const workers = Array.from({length: 8}, async () => {
      while (!stop) {
        const res = await http.request(d.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 10), 5000)
        if (res.status === 200) {
          acknowledged.push(res.body.reservation_id)
          const c = await http.request(d.url, 'POST', `/v1/reservations/${res.body.reservation_id}/commit`, {idempotency_key: 'c', actual: {unit: 'USD_MICROCENTS', amount: 7}}, 5000)
          if (c.status === 200) committed.push(res.body.reservation_id)
          else if (c.status === 503 && c.body?.error === 'INTERNAL_ERROR') outageAnswers++
          else unexpected.push(`commit ${c.status} ${JSON.stringify(c.body)}`)
        } else if (res.status === 503 && res.body?.error === 'INTERNAL_ERROR' && res.body.request_id && res.body.trace_id) {
          outageAnswers++
          await new Promise((r) => setTimeout(r, 20))
        } else unexpected.push(`reserve ${res.status} ${JSON.stringify(res.body)}`)
      }
    })

    await until('some acknowledged traffic', 5000, async () => committed.length >= 20)
    await redis.stop()
    const acknowledgedBeforeOutage = acknowledged.length

    // During the outage.
    const ready = await http.request(d.url, 'GET', '/actuator/health/readiness')
    expect(ready.status).toBe(503)
    expect(ready.body.status).toBe('DOWN')

    const shadow = await http.request(d.url, 'POST', '/v1/reservations', reserveBody('search.web', 5))
    expect(shadow.status).toBe(200)
    expect(shadow.body.decision).toBe('ALLOW')
    expect(shadow.headers['x-cycles-store']).toBe('unavailable')
    const unrecorded = shadow.body.reservation_id as string
    expect(unrecorded.startsWith('unrecorded_')).toBe(true)
    const shadowCommit = await http.request(d.url, 'POST', `/v1/reservations/${unrecorded}/commit`, {idempotency_key: 'x', actual: {unit: 'USD_MICROCENTS', amount: 4}})
    expect(shadowCommit.status).toBe(200)
    expect(shadowCommit.body).toEqual({status: 'COMMITTED', charged: {unit: 'USD_MICROCENTS', amount: 4}})

    const denied = await http.request(d.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 5))
    expect(denied.status).toBe(503)
    expect(denied.body).toMatchObject({error: 'INTERNAL_ERROR'})
    expect(Object.keys(denied.body).sort()).toEqual(['error', 'message', 'request_id', 'trace_id'])

    const allowed = await http.request(d.url, 'POST', '/v1/decide', reserveBody('payment.charge', 5))
    expect(allowed.status).toBe(200)
    expect(allowed.body.decision).toBe('ALLOW')

    await new Promise((r) => setTimeout(r, 500)) // let the background traffic run into the outage
    await redis.restart()
    await until('readiness after the restart', 15_000, async () => (await http.request(d.url, 'GET', '/actuator/health/readiness')).status === 200, 100)
    const afterRestart = acknowledged.length
    await until('normal service after the restart', 10_000, async () => acknowledged.length > afterRestart + 20, 50)
    stop = true
    await Promise.all(workers)

    expect(unexpected).toEqual([])
    expect(outageAnswers).toBeGreaterThan(0)
    expect(acknowledgedBeforeOutage).toBeGreaterThan(0)

    // Nothing acknowledged was lost: every acknowledged reservation and commit is in Redis.
    for (const id of acknowledged) {
      const r = await d.store.getReservation(id)
      expect(r, id).toBeDefined()
      if (committed.includes(id)) expect(r!.status).toBe('COMMITTED')
    }
    // The outage answers are in the decision log with the failure noted.
    await d.daemon.decisions.flushed()
    const records = d.records()
    expect(records.find((r) => r.reservation_id === unrecorded && r.endpoint === 'reserve')).toMatchObject({mode: 'shadow', decision: 'ALLOW', store_error: expect.any(String)})
    expect(records.find((r) => r.request_id === denied.body.request_id)).toMatchObject({mode: 'enforce', decision: 'DENY', http_status: 503, store_error: expect.any(String)})
    expect(records.some((r) => r.endpoint === 'decide' && r.tier === 'high' && r.decision === 'ALLOW' && r.store_error)).toBe(true)
    expect(d.daemon.ready).toBe(true)
  })
})
