// A flood of failed admin authentications (issue 9 §4): tens of thousands of wrong-key requests as
// fast as one client can send them must be rate-limited (429 LIMIT_EXCEEDED with Retry-After), end up
// as one audit row per source and window with the counts, and never evict a successful write's row.
// Both stores. The daemon's clock is a test clock so the window can be closed without waiting.
import http from 'node:http'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RedisStore} from '../../src/store/redis/redis-store.js'
import type {Store} from '../../src/store/types.js'
import {type TestDaemon, startTestDaemon} from '../support/daemon.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {specErrors} from '../support/spec.js'
import {ADMIN_CONFIG, admin} from './support.js'

const FLOOD = 20_000
const LIMIT = 300
const WINDOW_MS = 60_000

/** `count` GETs with a wrong admin key over `concurrency` keep-alive sockets; statuses tallied. */
async function flood(baseUrl: string, count: number, concurrency = 32): Promise<{byStatus: Record<number, number>; sample429?: {headers: http.IncomingHttpHeaders; body: string}}> {
  const agent = new http.Agent({keepAlive: true, maxSockets: concurrency})
  const {hostname, port} = new URL(baseUrl)
  const byStatus: Record<number, number> = {}
  let sample429: {headers: http.IncomingHttpHeaders; body: string} | undefined
  let sent = 0
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({agent, hostname, port, path: '/v1/admin/tenants', method: 'GET', headers: {'X-Admin-API-Key': `wrong-${sent}`}}, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c) => (body += c))
        res.on('end', () => {
          byStatus[res.statusCode!] = (byStatus[res.statusCode!] ?? 0) + 1
          if (res.statusCode === 429 && !sample429) sample429 = {headers: res.headers, body}
          resolve()
        })
      })
      req.on('error', reject)
      req.end()
    })
  const worker = async () => {
    while (sent < count) {
      sent++
      await one()
    }
  }
  await Promise.all(Array.from({length: concurrency}, worker))
  agent.destroy()
  return {byStatus, sample429}
}

function floodSuite(name: string, makeStore: () => Promise<Store | undefined>) {
  describe(`failed-auth flood (${name})`, () => {
    let d: TestDaemon
    let clock = Date.now()
    beforeAll(async () => {
      const store = await makeStore()
      d = await startTestDaemon(ADMIN_CONFIG, {adminPort: 0, now: () => clock, ...(store ? {store} : {}), adminAuthFailures: {maxFailures: LIMIT, windowMs: WINDOW_MS}})
    })
    afterAll(async () => d?.stop())

    // 20,000 requests take 15-20 s on a quiet 2-core host; allow for a loaded one.
    it('is rate-limited, leaves one counted row per source and window, and keeps the successful write', {timeout: 240_000}, async () => {
      const url = d.daemon.adminUrl
      const created = await admin(url, 'POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: 'survivor'})
      expect(created.status).toBe(201)
      const keyId = created.body.key_id

      const {byStatus, sample429} = await flood(url, FLOOD)
      expect(byStatus).toEqual({401: LIMIT, 429: FLOOD - LIMIT})
      expect(Number(sample429!.headers['retry-after'])).toBeGreaterThanOrEqual(1)
      expect(Number(sample429!.headers['retry-after'])).toBeLessThanOrEqual(WINDOW_MS / 1000)
      const envelope = JSON.parse(sample429!.body)
      expect(specErrors('admin', 'ErrorResponse', envelope)).toBeUndefined()
      expect(envelope.error).toBe('LIMIT_EXCEEDED')
      expect(envelope.request_id).toBe(sample429!.headers['x-request-id'])

      // While the source is over its limit even the right key is refused: otherwise a 429 would tell a
      // guesser which keys are wrong.
      const blocked = await admin(url, 'GET', '/v1/admin/tenants')
      expect(blocked.status).toBe(429)

      // Nothing per request was written during the window.
      const during = await admin(url, 'GET', '/v1/admin/audit/logs?tenant_id=__unauth__&limit=100')
      expect(during.status).toBe(429) // still the same source, still blocked
      clock += WINDOW_MS

      const after = await admin(url, 'GET', '/v1/admin/audit/logs?tenant_id=__unauth__&limit=100')
      expect(after.status, after.text).toBe(200)
      expect(after.body.logs).toHaveLength(1)
      const row = after.body.logs[0]
      expect(specErrors('admin', 'AuditLogEntry', row)).toBeUndefined()
      expect(row).toMatchObject({tenant_id: '__unauth__', operation: 'unauthenticatedRequests', status: 401, error_code: 'LIMIT_EXCEEDED'})
      // the flood, the blocked right-key request and the blocked audit query, all from this source
      expect(row.metadata).toMatchObject({aggregated: true, count: FLOOD + 2, auth_failures: LIMIT, rate_limited: FLOOD - LIMIT + 2, by_status: {'401': LIMIT, '429': FLOOD - LIMIT + 2}})
      expect(row.source_ip).toMatch(/127\.0\.0\.1/)

      const survivor = await admin(url, 'GET', `/v1/admin/audit/logs?operation=createApiKey&resource_id=${keyId}`)
      expect(survivor.body.logs).toHaveLength(1)
      expect(survivor.body.logs[0].status).toBe(201)

      // the source may authenticate again in the next window
      expect((await admin(url, 'GET', '/v1/admin/tenants')).status).toBe(200)
    })
  })
}

floodSuite('embedded store', async () => undefined)

let redis: RedisServer | undefined
floodSuite('Redis store', async () => {
  redis = await startRedis()
  return RedisStore.open({url: redis.url, prefix: 'flood:'})
})
afterAll(async () => destroyRedis(redis))
