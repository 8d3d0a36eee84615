// Commits above their estimate, many at once, on one daemon and on two daemons sharing one Redis
// (issue 9 §2): each must get the settlement the protocol specifies (cycles-protocol.md §2.3),
// none may fail because another commit moved the ledger in between, and the final balance must be
// the one computed independently from the amounts.
import {randomUUID} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {client, clusterConfig, newPrefix, redisDaemon, reserveBody} from './helpers.js'

const CLIENTS = 128
const ESTIMATE = 100
const OVER = 30
/** What is left of the budget once every reservation holds its estimate. */
const LEFT = 1000

describe('concurrent commits above their estimate on Redis', () => {
  let redis: RedisServer
  const http = client(CLIENTS)

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    http.close()
    await destroyRedis(redis)
  })

  /** Hold CLIENTS reservations, then commit every one at once with actual = estimate + OVER, spread over the daemons. */
  async function run(instances: number, policy: 'ALLOW_IF_AVAILABLE' | 'ALLOW_WITH_OVERDRAFT', overdraft: number) {
    const prefix = newPrefix()
    const config = clusterConfig({allocated: CLIENTS * ESTIMATE + LEFT, overdraft})
    const daemons: Array<Awaited<ReturnType<typeof redisDaemon>>> = []
    for (let i = 0; i < instances; i++) daemons.push(await redisDaemon(redis.url, prefix, config))
    try {
      const ids: string[] = []
      for (let i = 0; i < CLIENTS; i += 16) {
        const batch = await Promise.all(
          Array.from({length: 16}, (_, j) =>
            http.request(daemons[(i + j) % instances].url, 'POST', '/v1/reservations', reserveBody('llm.chat', ESTIMATE, {overage_policy: policy})),
          ),
        )
        for (const res of batch) {
          expect(res.status).toBe(200)
          ids.push(res.body.reservation_id)
        }
      }
      const commits = await Promise.all(
        ids.map((id, i) =>
          http.request(daemons[i % instances].url, 'POST', `/v1/reservations/${id}/commit`, {
            idempotency_key: randomUUID(),
            actual: {unit: 'USD_MICROCENTS', amount: ESTIMATE + OVER},
          }),
        ),
      )
      const balance = (await http.request(daemons[0].url, 'GET', '/v1/balances?tenant=acme')).body.balances[0]
      return {statuses: commits.map((c) => c.status), bodies: commits.map((c) => c.body), balance}
    } finally {
      for (const d of daemons) await d.stop()
    }
  }

  for (const instances of [1, 2]) {
    it(`ALLOW_IF_AVAILABLE, ${instances} daemon(s): every commit succeeds and the extras drain exactly what was left`, async () => {
      const {statuses, bodies, balance} = await run(instances, 'ALLOW_IF_AVAILABLE', 0)
      expect(statuses.filter((s) => s !== 200)).toEqual([])
      // Independently: 128 extras of 30 (3,840) asked, 1,000 left; capping never creates debt.
      const charged = bodies.map((b) => b.charged.amount as number)
      expect(charged.every((c) => c >= ESTIMATE && c <= ESTIMATE + OVER)).toBe(true)
      expect(charged.reduce((a, b) => a + b, 0)).toBe(CLIENTS * ESTIMATE + LEFT)
      expect(charged.filter((c) => c === ESTIMATE + OVER)).toHaveLength(Math.floor(LEFT / OVER))
      expect(balance).toMatchObject({
        remaining: {amount: 0},
        reserved: {amount: 0},
        spent: {amount: CLIENTS * ESTIMATE + LEFT},
        is_over_limit: true,
      })
      expect(balance.debt).toBeUndefined()
    })

    it(`ALLOW_WITH_OVERDRAFT, ${instances} daemon(s): every commit is charged in full and the shortfall becomes debt`, async () => {
      const {statuses, bodies, balance} = await run(instances, 'ALLOW_WITH_OVERDRAFT', 5000)
      expect(statuses.filter((s) => s !== 200)).toEqual([])
      expect(bodies.every((b) => b.charged.amount === ESTIMATE + OVER)).toBe(true)
      // 3,840 over the estimates: 1,000 from what was left, 2,840 as debt (within the 5,000 limit).
      expect(balance).toMatchObject({
        remaining: {amount: -(CLIENTS * OVER - LEFT)},
        reserved: {amount: 0},
        spent: {amount: CLIENTS * ESTIMATE + LEFT},
        debt: {amount: CLIENTS * OVER - LEFT},
      })
      expect(balance.is_over_limit).toBeUndefined()
    })
  }
})
