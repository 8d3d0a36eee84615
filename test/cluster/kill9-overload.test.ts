// Process-level failure tests on the built CLI with the Redis store: `kill -9` under load loses no
// acknowledged decision from the decision log (nor its reservation from Redis); overload — far more
// concurrent connections than the daemon serves at once — gets answers or 429/503 envelopes, memory
// stays bounded and the daemon survives.
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RedisStore} from '../../src/store/redis/redis-store.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {type ChildDaemon, client, clusterConfig, newPrefix, redisDaemon, reserveBody, spawnDaemon, until} from './helpers.js'

/** Decision records; a torn last line (the write a kill -9 interrupted, never acknowledged) is skipped. */
function recordsTolerant(logDir: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  if (!fs.existsSync(logDir)) return out
  for (const f of fs.readdirSync(logDir).sort()) {
    if (!f.endsWith('.jsonl')) continue
    for (const line of fs.readFileSync(path.join(logDir, f), 'utf8').split('\n')) {
      if (line.trim() === '') continue
      try {
        out.push(JSON.parse(line))
      } catch {
        // torn tail
      }
    }
  }
  return out
}

describe('daemon processes on Redis under kill -9 and overload', () => {
  let redis: RedisServer
  const children: ChildDaemon[] = []

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    for (const c of children) await c.kill('SIGKILL')
    await destroyRedis(redis)
  })

  it('kill -9 under load: every acknowledged decision is in the log and every acknowledged reservation in Redis', async () => {
    const child = await spawnDaemon(redis.url, clusterConfig({allocated: 1_000_000_000}))
    children.push(child)
    const http = client(32)
    const acked: Array<{request_id: string; reservation_id?: string; endpoint: string}> = []
    let killed = false
    const workers = Array.from({length: 16}, async () => {
      while (!killed) {
        try {
          const res = await http.request(child.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 10), 5000)
          if (res.status !== 200) continue
          acked.push({request_id: String(res.headers['x-request-id']), reservation_id: res.body.reservation_id, endpoint: 'reserve'})
          const c = await http.request(child.url, 'POST', `/v1/reservations/${res.body.reservation_id}/commit`, {idempotency_key: 'c', actual: {unit: 'USD_MICROCENTS', amount: 5}}, 5000)
          if (c.status === 200) acked.push({request_id: String(c.headers['x-request-id']), reservation_id: res.body.reservation_id, endpoint: 'commit'})
        } catch {
          // connection reset by the kill: not acknowledged
          if (killed) return
        }
      }
    })
    // Both kinds, counted apart: the checks below must look at real reservations and commits.
    const acknowledged = (endpoint: string) => acked.filter((a) => a.endpoint === endpoint).length
    await until('acknowledged load', 10_000, async () => acknowledged('reserve') >= 150 && acknowledged('commit') >= 100)
    await child.kill('SIGKILL')
    killed = true
    await Promise.all(workers)
    http.close()

    const logged = new Set(recordsTolerant(child.logDir).map((r) => r.request_id))
    const missing = acked.filter((a) => !logged.has(a.request_id))
    expect(missing).toEqual([])

    const store = await RedisStore.open({url: redis.url})
    try {
      for (const a of acked) {
        const r = await store.getReservation(a.reservation_id!)
        expect(r, a.reservation_id).toBeDefined()
        if (a.endpoint === 'commit') expect(r!).toMatchObject({status: 'COMMITTED', committed: {unit: 'USD_MICROCENTS', amount: 5}})
      }
    } finally {
      await store.close()
    }
  })

  it('overload: 1,500 concurrent connections get answers or 429/503 envelopes, memory stays bounded, no crash', async () => {
    const child = await spawnDaemon(redis.url, clusterConfig({allocated: 1_000_000_000}))
    children.push(child)
    const http = client(1500)
    const statuses = new Map<number, number>()
    const bad: string[] = []
    let transportErrors = 0
    let peakRss = 0
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, child.rssMb())
      } catch {
        // process gone: asserted below
      }
    }, 100)
    const deadline = Date.now() + 3000
    await Promise.all(
      Array.from({length: 1500}, async () => {
        while (Date.now() < deadline) {
          try {
            const res = await http.request(child.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 1), 20_000)
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
            if (res.status !== 200) {
              if (![429, 503].includes(res.status) || !res.body?.error || !res.body.request_id) bad.push(`${res.status} ${JSON.stringify(res.body)}`)
            }
          } catch {
            transportErrors++
          }
        }
      }),
    )
    clearInterval(sampler)
    http.close()
    expect(child.proc.exitCode).toBeNull()
    expect(bad.slice(0, 5)).toEqual([])
    expect(statuses.get(200) ?? 0).toBeGreaterThan(1000)
    expect(transportErrors).toBe(0)
    expect(peakRss).toBeGreaterThan(0)
    expect(peakRss).toBeLessThan(512)
    const after = client(4)
    expect((await after.request(child.url, 'GET', '/actuator/health/readiness')).status).toBe(200)
    after.close()
    await child.kill('SIGTERM')
  })

  it('sheds beyond its in-flight limit with 429 LIMIT_EXCEEDED and the envelope', async () => {
    const d = await redisDaemon(redis.url, newPrefix(), clusterConfig({allocated: 1_000_000_000}), {maxInFlight: 8})
    const http = client(400)
    try {
      const replies = await Promise.all(Array.from({length: 400}, () => http.request(d.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 1))))
      const shed = replies.filter((r) => r.status === 429)
      expect(shed.length).toBeGreaterThan(0)
      for (const r of shed) {
        expect(r.body).toMatchObject({error: 'LIMIT_EXCEEDED', request_id: expect.any(String), trace_id: expect.any(String)})
        expect(r.headers['retry-after']).toBe('1')
      }
      expect(replies.every((r) => r.status === 200 || r.status === 429)).toBe(true)
    } finally {
      http.close()
      await d.stop()
    }
  })
})
