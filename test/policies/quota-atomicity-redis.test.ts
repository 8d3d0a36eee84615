// Quota atomicity across instances (issue 14 acceptance): two daemons on one Redis, many concurrent
// clients. A per_run quota of N admits exactly N reservations per run whichever instance answers, the
// rest get 409 ACTION_QUOTA_EXCEEDED, and a quota denial never changes a balance: the ledger holds
// exactly N estimates per run. The counter lives in the ledgers' transaction (one Redis script), so
// no interleaving can admit an N+1st. Release gives the run its call back (per_run lifecycle).
import {randomUUID} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {counterId} from '../../src/policies/evaluate.js'
import {QUOTA_COUNTERS_COLLECTION} from '../../src/policies/types.js'
import {client, clusterConfig, twoRedisDaemons} from '../cluster/helpers.js'

const N = 5
const RUNS = 8
const PER_RUN = 40
const ESTIMATE = 10
const ALLOCATED = 1_000_000

const CONFIG = `${clusterConfig({allocated: ALLOCATED})}
policies:
  - id: pol_runs
    tenant: acme
    name: per-run email cap
    scope_pattern: "tenant:acme"
    action_quotas: [{action_kind: email.send, max_calls: ${N}, window: per_run}]
`

describe('per_run quota on two daemons sharing one Redis', () => {
  let cluster: Awaited<ReturnType<typeof twoRedisDaemons>>
  const http = client(128)

  beforeAll(async () => {
    cluster = await twoRedisDaemons(CONFIG)
  })
  afterAll(async () => {
    http.close()
    await cluster?.stop()
  })

  const reserve = (i: number, run: string) =>
    http.request([cluster.a, cluster.b][i % 2].url, 'POST', '/v1/reservations', {
      idempotency_key: randomUUID(),
      subject: {tenant: 'acme', dimensions: {run_id: run}},
      action: {kind: 'email.send', name: 'notify'},
      estimate: {unit: 'USD_MICROCENTS', amount: ESTIMATE},
    })

  it(`admits exactly ${N} per run out of ${PER_RUN} concurrent reserves per run, and denials hold nothing`, async () => {
    const runs = Array.from({length: RUNS}, (_, r) => `run-${r}`)
    const replies = await Promise.all(runs.flatMap((run) => Array.from({length: PER_RUN}, (_, i) => reserve(i, run).then((res) => ({run, res})))))
    for (const run of runs) {
      const mine = replies.filter((x) => x.run === run).map((x) => x.res)
      expect(mine.filter((r) => r.status === 200)).toHaveLength(N)
      const denied = mine.filter((r) => r.status !== 200)
      expect(denied).toHaveLength(PER_RUN - N)
      for (const r of denied) {
        expect(r.status).toBe(409)
        expect(r.body.error).toBe('ACTION_QUOTA_EXCEEDED')
      }
    }
    const [balance] = (await http.request(cluster.b.url, 'GET', '/v1/balances?tenant=acme')).body.balances
    expect(balance.reserved.amount).toBe(RUNS * N * ESTIMATE)
    expect(balance.remaining.amount).toBe(ALLOCATED - RUNS * N * ESTIMATE)
    const ids = runs.map((run) => counterId({tenant_id: 'acme', scope: 'tenant:acme', action_kind: 'email.send', window: 'per_run', window_key: run}))
    const docs = await cluster.a.store.getDocs(QUOTA_COUNTERS_COLLECTION, ids)
    expect(docs.map((d) => d?.value.used)).toEqual(runs.map(() => N))
  })

  it('a release gives the run one call back, on the other instance too', async () => {
    const run = 'run-release'
    const admitted: string[] = []
    for (let i = 0; i < N; i++) {
      const res = await reserve(i, run)
      expect(res.status).toBe(200)
      admitted.push(res.body.reservation_id)
    }
    expect((await reserve(0, run)).status).toBe(409)
    const released = await http.request(cluster.a.url, 'POST', `/v1/reservations/${admitted[0]}/release`, {idempotency_key: randomUUID()})
    expect(released.status).toBe(200)
    const [doc] = await cluster.b.store.getDocs(QUOTA_COUNTERS_COLLECTION, [counterId({tenant_id: 'acme', scope: 'tenant:acme', action_kind: 'email.send', window: 'per_run', window_key: run})])
    expect(doc?.value.used).toBe(N - 1)
    expect((await reserve(1, run)).status).toBe(200)
    expect((await reserve(0, run)).status).toBe(409)
  })
})
