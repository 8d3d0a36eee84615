// The kill switch and tier modes through the admin plane: engaged on instance A, in force on
// instance B within 1 s (Redis); applied at once by a lone embedded daemon; audited with the reason.
import {execFile} from 'node:child_process'
import path from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {ROOT, client, clusterConfig, newPrefix, redisDaemon, requireBuild, reserveBody, until} from './helpers.js'

const ADMIN = 'admin_key_for_tests_0123456789'
const config = `${clusterConfig({allocated: 100})}admin_key: ${ADMIN}\n`
const admin = (d: TestDaemon, method: string, p: string, body?: unknown) => call(d.daemon.adminUrl, method, p, body, {'X-Admin-API-Key': ADMIN})

describe('kill switch and tier modes on the admin plane', () => {
  let redis: RedisServer
  let a: Awaited<ReturnType<typeof redisDaemon>>
  let b: Awaited<ReturnType<typeof redisDaemon>>
  let solo: TestDaemon
  const http = client(16)

  beforeAll(async () => {
    redis = await startRedis()
    const prefix = newPrefix()
    a = await redisDaemon(redis.url, prefix, config, {adminPort: 0})
    b = await redisDaemon(redis.url, prefix, config, {adminPort: 0})
    solo = await startTestDaemon(config, {adminPort: 0})
  })
  afterAll(async () => {
    http.close()
    await a?.stop()
    await b?.stop()
    await solo?.stop()
    await destroyRedis(redis)
  })

  it('engaged through instance A is in force on instance B within 1 s, and released the same way', async () => {
    expect((await http.request(b.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 1000))).status).toBe(409)
    const t0 = Date.now()
    const engaged = await admin(a, 'POST', '/v1/admin/killswitch/engage', {reason: 'runaway enforcement at 2 a.m.', actor: 'oncall'})
    expect(engaged.status).toBe(200)
    expect(engaged.body).toMatchObject({killswitch: {engaged: true, reason: 'runaway enforcement at 2 a.m.'}, effective: {low: 'shadow', medium: 'shadow', high: 'shadow'}})
    expect(a.daemon.control.killswitch.engaged).toBe(true) // the instance that took the call: at once
    await until('B to apply the kill switch', 1000, async () => b.daemon.control.killswitch.engaged, 5)
    expect(Date.now() - t0).toBeLessThanOrEqual(1000)
    const admitted = await http.request(b.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 1000))
    expect(admitted.status).toBe(200)
    expect(b.records().find((r) => r.reservation_id === admitted.body.reservation_id)).toMatchObject({mode: 'shadow', would_decision: 'DENY'})
    expect((await admin(b, 'GET', '/v1/admin/killswitch')).body.killswitch.engaged).toBe(true)

    const t1 = Date.now()
    expect((await admin(b, 'POST', '/v1/admin/killswitch/release', {reason: 'fixed'})).status).toBe(200)
    await until('A to apply the release', 1000, async () => !a.daemon.control.killswitch.engaged, 5)
    expect(Date.now() - t1).toBeLessThanOrEqual(1000)
    expect((await http.request(a.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 1000))).status).toBe(409)

    const audit = await admin(a, 'GET', '/v1/admin/audit/logs?limit=50')
    expect(audit.status).toBe(200)
    const ops = JSON.stringify(audit.body)
    expect(ops).toContain('control.killswitch.engage')
    expect(ops).toContain('runaway enforcement at 2 a.m.')
    expect(ops).toContain('control.killswitch.release')
  })

  it('sets a tier mode through one instance for all; validates input; requires a reason to engage', async () => {
    const t0 = Date.now()
    const set = await admin(b, 'PUT', '/v1/admin/control/tiers/medium', {mode: 'shadow', reason: 'calibrating'})
    expect(set.status).toBe(200)
    expect(set.body.tiers.medium).toBe('shadow')
    await until('A to apply the tier change', 1000, async () => a.daemon.control.tiers.medium === 'shadow', 5)
    expect(Date.now() - t0).toBeLessThanOrEqual(1000)
    expect((await http.request(a.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 1000))).status).toBe(200)
    expect((await admin(a, 'PUT', '/v1/admin/control/tiers/medium', {mode: 'enforce'})).status).toBe(200)

    expect((await admin(a, 'PUT', '/v1/admin/control/tiers/extreme', {mode: 'shadow'})).status).toBe(400)
    expect((await admin(a, 'PUT', '/v1/admin/control/tiers/low', {mode: 'off'})).status).toBe(400)
    expect((await admin(a, 'POST', '/v1/admin/killswitch/engage', {})).status).toBe(400)
    expect((await call(a.daemon.adminUrl, 'POST', '/v1/admin/killswitch/engage', {reason: 'x'})).status).toBe(401)
  })

  it('a lone embedded daemon applies the kill switch at once', async () => {
    expect((await call(solo.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 1000), {'X-Cycles-API-Key': 'cyc_cluster_acme_0123456789abcdef'})).status).toBe(409)
    expect((await admin(solo, 'POST', '/v1/admin/killswitch/engage', {reason: 'drill'})).status).toBe(200)
    expect(solo.daemon.control.killswitch.engaged).toBe(true)
    expect((await call(solo.url, 'POST', '/v1/reservations', reserveBody('llm.chat', 1000), {'X-Cycles-API-Key': 'cyc_cluster_acme_0123456789abcdef'})).status).toBe(200)
    expect((await admin(solo, 'GET', '/v1/admin/control')).body.killswitch).toMatchObject({engaged: true, reason: 'drill'})
  })

  it('cycles killswitch engage | status | release and cycles tier set drive it from the CLI', async () => {
    requireBuild()
    const cli = async (...args: string[]) => {
      const {stdout} = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/run.js'), ...args, '--admin-url', a.daemon.adminUrl, '--json'], {
        env: {...process.env, CYCLES_ADMIN_API_KEY: ADMIN},
      })
      return JSON.parse(stdout)
    }
    expect(await cli('killswitch', 'engage', '--reason', 'from the cli')).toMatchObject({killswitch: {engaged: true, reason: 'from the cli'}})
    await until('B to apply the CLI kill switch', 1000, async () => b.daemon.control.killswitch.engaged, 5)
    expect((await cli('killswitch', 'status')).effective).toEqual({low: 'shadow', medium: 'shadow', high: 'shadow'})
    expect((await cli('killswitch', 'release')).killswitch.engaged).toBe(false)
    expect((await cli('tier', 'set', 'low', 'shadow', '--reason', 'cli test')).tiers.low).toBe('shadow')
    await until('B to apply the CLI tier change', 1000, async () => b.daemon.control.tiers.low === 'shadow' && !b.daemon.control.killswitch.engaged, 5)
  })
})
