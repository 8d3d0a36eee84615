// The enforcement ramp with two daemons on one Redis: the percent set through instance A is in force
// on B, and each run gets the same mode on both instances (the documented hash, no local state);
// shadow-mode spend from either instance lands in the one real book.
import {createHash} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {call} from '../support/daemon.js'
import {KEY, type RedisDaemon, clusterConfig, twoRedisDaemons, until} from './helpers.js'

const ADMIN = 'admin_key_for_tests_0123456789'
const config = `${clusterConfig({allocated: 1_000_000})}admin_key: ${ADMIN}\n`
const auth = {'X-Cycles-API-Key': KEY}
const bucket = (id: string) => parseInt(createHash('sha256').update(`acme\n${id}`).digest('hex').slice(0, 8), 16) % 100

describe('the enforcement ramp on two instances sharing Redis', () => {
  let a: RedisDaemon
  let b: RedisDaemon
  let n = 0

  let stop: (() => Promise<void>) | undefined
  beforeAll(async () => {
    ;({a, b, stop} = await twoRedisDaemons(config, {adminPort: 0}))
  })
  afterAll(async () => stop?.())

  it('gives each run the same mode on both instances', async () => {
    const set = await call(a.daemon.adminUrl, 'PUT', '/v1/admin/control/tiers/medium', {mode: 'enforce', enforce_percent: 30, reason: 'ramp'}, {'X-Admin-API-Key': ADMIN})
    expect(set.status, set.text).toBe(200)
    await until('B to apply the percent', 2000, async () => b.daemon.control.enforce_percent?.medium === 30)
    const runs = Array.from({length: 80}, (_, i) => `run-${i}`)
    const ids: Array<[string, string, string]> = []
    for (const run of runs) {
      const body = () => ({idempotency_key: `k-${++n}`, subject: {tenant: 'acme', dimensions: {run_id: run}}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 10}})
      const onA = await call(a.url, 'POST', '/v1/reservations', body(), auth)
      const onB = await call(b.url, 'POST', '/v1/reservations', body(), auth)
      expect([onA.status, onB.status]).toEqual([200, 200])
      ids.push([run, onA.headers.get('x-request-id')!, onB.headers.get('x-request-id')!])
    }
    const recA = new Map(a.records().map((r) => [r.request_id, r]))
    const recB = new Map(b.records().map((r) => [r.request_id, r]))
    const modeA = ids.map(([, ra]) => recA.get(ra)!.mode)
    const modeB = ids.map(([, , rb]) => recB.get(rb)!.mode)
    expect(modeB).toEqual(modeA)
    expect(modeA).toEqual(runs.map((run) => (bucket(run) < 30 ? 'enforce' : 'shadow')))
    expect(new Set(modeA).size).toBe(2)
    expect(ids.every(([, ra, rb]) => recA.get(ra)!.enforce_percent === 30 && recB.get(rb)!.enforce_percent === 30)).toBe(true)
    // Every reservation, enforced or shadowed, from either instance, holds in the one real book.
    const [real] = await a.store.getLedgers('real', ['tenant:acme'], 'USD_MICROCENTS')
    expect(real!.reserved).toBe(runs.length * 2 * 10)
  })
})
