// Revocation across instances (issue 9 §5): once a key revocation or a tenant suspension made
// through instance A is acknowledged, the very next request on instance B (same Redis) is refused —
// every time, not just usually. And once the change is undone, B serves the next request again.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type RedisDaemon, client, clusterConfig, twoRedisDaemons} from './helpers.js'

const TRIALS = 1000

describe('revocation and suspension through one instance apply on the other at once', () => {
  let pair: Awaited<ReturnType<typeof twoRedisDaemons>>
  let a: RedisDaemon
  let b: RedisDaemon
  const http = client(8)

  beforeAll(async () => {
    pair = await twoRedisDaemons(clusterConfig({allocated: 10_000}))
    ;({a, b} = pair)
  })
  afterAll(async () => {
    http.close()
    await pair?.stop()
  })

  const probeB = () => http.request(b.url, 'GET', '/v1/balances?tenant=acme')

  it(`a key revoked through A is refused by B on the next request, ${TRIALS} times out of ${TRIALS}`, async () => {
    const [key] = await a.store.listApiKeys('acme')
    expect((await probeB()).status).toBe(200) // B has the key cached
    const served: number[] = []
    const refusedAfterRestore: number[] = []
    for (let i = 0; i < TRIALS; i++) {
      const revoked = await a.store.apply({apiKeys: [{...key, status: 'REVOKED', revoked_at_ms: Date.now()}]})
      expect(revoked.ok).toBe(true)
      const res = await probeB()
      if (res.status !== 401) served.push(i)
      else expect(res.body.error).toBe('UNAUTHORIZED')
      expect((await a.store.apply({apiKeys: [{...key, status: 'ACTIVE'}]})).ok).toBe(true)
      if ((await probeB()).status !== 200) refusedAfterRestore.push(i)
    }
    expect(served).toEqual([])
    expect(refusedAfterRestore).toEqual([])
  })

  it(`a tenant suspended through A is refused by B on the next request, ${TRIALS} times out of ${TRIALS}`, async () => {
    const tenant = (await a.store.getTenant('acme'))!
    expect(tenant.status).toBe('ACTIVE')
    expect((await probeB()).status).toBe(200)
    const served: number[] = []
    const refusedAfterRestore: number[] = []
    for (let i = 0; i < TRIALS; i++) {
      expect((await a.store.apply({tenants: [{...tenant, status: 'SUSPENDED', suspended_at_ms: Date.now()}]})).ok).toBe(true)
      const res = await probeB()
      if (res.status !== 401) served.push(i)
      else expect(res.body.message).toContain('suspended')
      expect((await a.store.apply({tenants: [tenant]})).ok).toBe(true)
      if ((await probeB()).status !== 200) refusedAfterRestore.push(i)
    }
    expect(served).toEqual([])
    expect(refusedAfterRestore).toEqual([])
  })
})
