// Shedding by queueing time and memory, not only by the in-flight count: deterministic, with an
// injected clock, memory probe and event-loop lag.
import {afterEach, describe, expect, it} from 'vitest'

import {JsonServer, type SheddingOptions} from '../../src/daemon/http/json-server.js'
import {ACME_KEY, FIXTURE_CONFIG, call, startTestDaemon, type TestDaemon} from '../support/daemon.js'
import {ADMIN_CONFIG, admin} from '../admin/support.js'

const servers: Array<{close(): Promise<void>}> = []
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close()
})

async function serve(shedding: SheddingOptions): Promise<{server: JsonServer; url: string; handled: () => number}> {
  let handled = 0
  const server = new JsonServer({shedding: {sampleIntervalMs: 0, ...shedding}})
  server.route('POST', '/work', async () => {
    handled++
    return {status: 200, body: '{"ok":true}'}
  })
  const url = await server.listen(0, '127.0.0.1')
  servers.push(server)
  return {server, url, handled: () => handled}
}

function expectShed(res: Awaited<ReturnType<typeof call>>): void {
  expect(res.status).toBe(429)
  expect(res.headers.get('retry-after')).toBe('1')
  expect(res.body).toMatchObject({error: 'LIMIT_EXCEEDED', message: 'Daemon is at capacity; retry shortly'})
  expect(typeof res.body.request_id).toBe('string')
  expect(res.body.trace_id).toMatch(/^[0-9a-f]{32}$/)
}

describe('shedding', () => {
  it('sheds while resident memory or the heap is over its bound, and serves again below it', async () => {
    let memory = {rss: 100, heapUsed: 10}
    const {server, url, handled} = await serve({maxRssBytes: 1000, maxHeapUsedBytes: 500, memory: () => memory, loopLagMs: () => 0})
    server.sampleLoad()
    expect((await call(url, 'POST', '/work', {})).status).toBe(200)

    memory = {rss: 1001, heapUsed: 10}
    server.sampleLoad()
    expectShed(await call(url, 'POST', '/work', {}))
    memory = {rss: 100, heapUsed: 501}
    server.sampleLoad()
    expectShed(await call(url, 'POST', '/work', {}))

    memory = {rss: 999, heapUsed: 499}
    server.sampleLoad()
    expect((await call(url, 'POST', '/work', {})).status).toBe(200)
    expect(handled()).toBe(2)
    expect(server.shedByReason).toEqual({in_flight: 0, queue_time: 0, memory: 2})
    expect(server.shed).toBe(2)
  })

  it('sheds a request that waited longer than the queueing budget before its handler', async () => {
    // Each reading of the clock is 300 ms after the one before: receipt at t, handler at t + 300.
    let t = 0
    const clock = () => (t += 300)
    let lag = 0
    const {server, url, handled} = await serve({maxQueueMs: 500, clock, loopLagMs: () => lag, memory: () => ({rss: 0, heapUsed: 0})})
    server.sampleLoad()
    expect((await call(url, 'POST', '/work', {})).status).toBe(200) // waited 300 ms

    lag = 250 // plus the event loop's lag: 550 ms
    server.sampleLoad()
    expectShed(await call(url, 'POST', '/work', {}))

    lag = 199 // 499 ms: under the budget
    server.sampleLoad()
    expect((await call(url, 'POST', '/work', {})).status).toBe(200)
    expect(handled()).toBe(2)
    expect(server.shedByReason).toEqual({in_flight: 0, queue_time: 1, memory: 0})
  })

  it('a queueing budget of 0 turns that check off', async () => {
    const {server, url} = await serve({maxQueueMs: 0, loopLagMs: () => 60_000, memory: () => ({rss: 0, heapUsed: 0})})
    server.sampleLoad()
    expect((await call(url, 'POST', '/work', {})).status).toBe(200)
    expect(server.shed).toBe(0)
  })
})

describe('daemon status reports shed counts', () => {
  let d: TestDaemon | undefined
  afterEach(async () => {
    await d?.stop()
    d = undefined
  })

  it('counts by reason, and a shed request is never evaluated or logged', async () => {
    let rss = 0
    d = await startTestDaemon(FIXTURE_CONFIG, {shedding: {maxRssBytes: 1_000_000, memory: () => ({rss, heapUsed: 0}), loopLagMs: () => 0, sampleIntervalMs: 0}})
    const body = {idempotency_key: 'k1', subject: {tenant: 'acme'}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}}
    rss = 2_000_000
    d.daemon.runtime.sampleLoad()
    expectShed(await call(d.url, 'POST', '/v1/decide', body, {'X-Cycles-API-Key': ACME_KEY}))
    rss = 0
    d.daemon.runtime.sampleLoad()
    expect((await call(d.url, 'POST', '/v1/decide', body, {'X-Cycles-API-Key': ACME_KEY})).status).toBe(200)
    // Probes are answered even while shedding.
    rss = 2_000_000
    d.daemon.runtime.sampleLoad()
    expect((await call(d.url, 'GET', '/actuator/health/readiness')).status).toBe(200)
    const status = (await call(d.url, 'GET', '/actuator/cycles/status')).body
    expect(status.shed).toBe(1)
    expect(status.shed_by_reason).toEqual({in_flight: 0, queue_time: 0, memory: 1})
    expect(status.decisions.ALLOW).toBe(1)
    expect(d.records()).toHaveLength(1)
  })

  it('never sheds the admin plane by queueing time: the kill switch stays reachable while the runtime plane sheds', async () => {
    d = await startTestDaemon(ADMIN_CONFIG, {adminPort: 0, shedding: {maxQueueMs: 100, loopLagMs: () => 5_000, sampleIntervalMs: 0}})
    d.daemon.runtime.sampleLoad()
    const body = {idempotency_key: 'k2', subject: {tenant: 'acme'}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}}
    expectShed(await call(d.url, 'POST', '/v1/decide', body, {'X-Cycles-API-Key': ACME_KEY}))
    const engaged = await admin(d.daemon.adminUrl, 'POST', '/v1/admin/killswitch/engage', {reason: 'overload drill'})
    expect(engaged.status, engaged.text).toBe(200)
    expect((await admin(d.daemon.adminUrl, 'GET', '/v1/admin/tenants')).status).toBe(200)
  })
})
