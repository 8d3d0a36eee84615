// A few thousand malformed or hostile requests: every one gets a 4xx with the error envelope,
// never a 5xx, and the daemon keeps serving.
import http from 'node:http'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ACME_KEY, FIXTURE_CONFIG, type TestDaemon, startTestDaemon} from '../support/daemon.js'

let d: TestDaemon
beforeAll(async () => {
  d = await startTestDaemon(FIXTURE_CONFIG)
})
afterAll(async () => d?.stop())

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const agent = new http.Agent({keepAlive: true, maxSockets: 16})

function send(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{status: number; body: string}> {
  const url = new URL(d.url)
  return new Promise((resolve, reject) => {
    const req = http.request({host: url.hostname, port: url.port, method, path, agent, headers: {'X-Cycles-API-Key': ACME_KEY, 'Content-Type': 'application/json', ...headers}}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString()}))
    })
    req.on('error', reject)
    if (body !== undefined) req.end(body)
    else req.end()
  })
}

const VALID = {
  idempotency_key: 'k',
  subject: {tenant: 'acme', workspace: 'prod'},
  action: {kind: 'llm.chat', name: 'x'},
  estimate: {unit: 'USD_MICROCENTS', amount: 5},
  dry_run: true,
}

function randomValue(rand: () => number, depth = 0): unknown {
  const pick = Math.floor(rand() * 10)
  if (depth > 3) return pick % 2 === 0 ? 'x' : 7
  switch (pick) {
    case 0: return null
    case 1: return rand() > 0.5
    case 2: return Math.floor(rand() * 2 ** 60) * (rand() > 0.5 ? -1 : 1)
    case 3: return rand() * 1e6
    case 4: return 'é'.repeat(Math.floor(rand() * 300))
    case 5: return []
    case 6: return [randomValue(rand, depth + 1)]
    case 7: return {[`k${Math.floor(rand() * 5)}`]: randomValue(rand, depth + 1)}
    case 8: return ''
    default: return 'tenant:acme/x'
  }
}

function mutate(rand: () => number): unknown {
  const body: Record<string, any> = structuredClone(VALID)
  body.idempotency_key = `fuzz-${Math.floor(rand() * 1e9)}`
  const paths = ['idempotency_key', 'subject', 'subject.tenant', 'subject.workspace', 'subject.dimensions', 'action', 'action.kind', 'action.name', 'action.tags', 'estimate', 'estimate.unit', 'estimate.amount', 'ttl_ms', 'grace_period_ms', 'overage_policy', 'dry_run', 'metadata', 'extra_field']
  const target = paths[Math.floor(rand() * paths.length)]
  const parts = target.split('.')
  let node = body
  for (const p of parts.slice(0, -1)) node = node[p]
  node[parts.at(-1)!] = randomValue(rand)
  return body
}

function isEnvelope(text: string): boolean {
  try {
    const b = JSON.parse(text)
    return typeof b.error === 'string' && typeof b.message === 'string' && typeof b.request_id === 'string' && /^[0-9a-f]{32}$/.test(b.trace_id)
  } catch {
    return false
  }
}

describe('hostile input', () => {
  it('3,000 randomly broken requests: 4xx with the envelope (or a valid 200), never 5xx', async () => {
    const rand = prng(20261121)
    const statuses = new Map<number, number>()
    const problems: string[] = []
    const endpoints = ['/v1/reservations', '/v1/decide', '/v1/events', '/v1/reservations/abc/commit', '/v1/reservations/abc/extend', '/v1/reservations/abc/release']
    for (let batch = 0; batch < 150; batch++) {
      await Promise.all(Array.from({length: 20}, async () => {
        const endpoint = endpoints[Math.floor(rand() * endpoints.length)]
        const res = await send('POST', endpoint, JSON.stringify(mutate(rand)))
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        if (res.status >= 500) problems.push(`${res.status} ${endpoint} ${res.body}`)
        else if (res.status >= 400 && !isEnvelope(res.body)) problems.push(`no envelope: ${res.status} ${res.body}`)
      }))
    }
    expect(problems).toEqual([])
    expect([...statuses.keys()].every((s) => s === 200 || s === 201 || (s >= 400 && s < 500))).toBe(true)
    expect(statuses.get(400)).toBeGreaterThan(1000)
  }, 60_000)

  it.each<[string, () => Promise<{status: number; body: string}>, number]>([
    ['random bytes', () => send('POST', '/v1/reservations', Buffer.from([0xff, 0x00, 0x7b, 0x22])), 400],
    ['invalid UTF-8 inside a string', () => send('POST', '/v1/decide', Buffer.concat([Buffer.from('{"idempotency_key":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])), 400],
    ['deeply nested array', () => send('POST', '/v1/decide', '['.repeat(30_000) + ']'.repeat(30_000)), 400],
    ['deeply nested metadata', () => send('POST', '/v1/decide', JSON.stringify({...VALID, dry_run: undefined, metadata: JSON.parse('{"a":'.repeat(500) + '1' + '}'.repeat(500))})), 400],
    ['10 MiB body', () => send('POST', '/v1/reservations', 'x'.repeat(10 * 1024 * 1024)), 400],
    ['JSON null', () => send('POST', '/v1/reservations', 'null'), 400],
    ['JSON array', () => send('POST', '/v1/reservations', '[1,2]'), 400],
    ['overlong reservation id', () => send('POST', `/v1/reservations/${'a'.repeat(300)}/commit`, JSON.stringify({idempotency_key: 'x', actual: {unit: 'TOKENS', amount: 1}})), 400],
    ['bad percent-encoding in path', () => send('GET', '/v1/reservations/%E0%A4%A'), 404],
    ['unknown method on a known path', () => send('DELETE', '/v1/reservations'), 405],
    ['huge number', () => send('POST', '/v1/decide', JSON.stringify(VALID).replace('"amount":5', '"amount":1e400')), 400],
    ['prototype pollution attempt', () => send('POST', '/v1/decide', '{"__proto__":{"admin":true},"idempotency_key":"p","subject":{"tenant":"acme"},"action":{"kind":"a","name":"b"},"estimate":{"unit":"TOKENS","amount":1}}'), 400],
    ['overlong header trace id', () => send('GET', '/v1/balances?tenant=acme', undefined, {'X-Cycles-Trace-Id': 'f'.repeat(5000), traceparent: '00-' + 'z'.repeat(5000)}), 200],
    ['limit out of range', () => send('GET', '/v1/balances?tenant=acme&limit=100000'), 400],
    ['garbage cursor', () => send('GET', '/v1/balances?tenant=acme&cursor=%%%'), 400],
  ])('%s → %i', async (_name, request, expected) => {
    const res = await request()
    expect(res.status).toBe(expected)
    if (expected >= 400) expect(isEnvelope(res.body)).toBe(true)
  })

  it('still serves normal traffic afterwards', async () => {
    const res = await send('POST', '/v1/reservations', JSON.stringify({...VALID, idempotency_key: 'after-fuzz'}))
    expect(res.status).toBe(200)
    expect(JSON.parse(res.body).decision).toBe('ALLOW')
    const health = await send('GET', '/actuator/health/readiness')
    expect(health.status).toBe(200)
  })
})

describe('expiry sweep', () => {
  it('releases 6,000 abandoned reservations in one tick (in batches), not 1,000 per tick', async () => {
    let now = Date.parse('2026-11-27T10:00:00.000Z')
    const config = FIXTURE_CONFIG.replace('medium: { mode: shadow', 'medium: { mode: enforce')
    const sweep = await startTestDaemon(config, {now: () => now, sweepIntervalMs: 3_600_000})
    try {
      const {daemon} = sweep
      const n = 6000
      for (let i = 0; i < n; i++) {
        const res = await daemon.service.reserve({request_id: `r${i}`, trace_id: 'a'.repeat(32), tenant: 'acme'}, {
          idempotency_key: `abandoned-${i}`,
          subject: {tenant: 'acme', workspace: 'prod'},
          action: {kind: 'llm.chat', name: 'x'},
          estimate: {unit: 'USD_MICROCENTS', amount: 1000},
          ttl_ms: 1000,
        })
        expect(res.status).toBe(200)
      }
      const [held] = await daemon.store.getLedgers('real', ['tenant:acme/workspace:prod'], 'USD_MICROCENTS')
      expect(held!.reserved).toBe(n * 1000)

      now += 3_600_000 // long past every TTL and grace period
      const tick = await daemon.sweepExpired()
      expect(tick).toEqual({expired: n, batches: 7})
      const [released] = await daemon.store.getLedgers('real', ['tenant:acme/workspace:prod'], 'USD_MICROCENTS')
      expect(released!.reserved).toBe(0)
      expect(await daemon.store.dueForExpiry(now, 10)).toEqual([])
      expect(await daemon.sweepExpired()).toEqual({expired: 0, batches: 1})
    } finally {
      await sweep.stop()
    }
  }, 60_000)
})
