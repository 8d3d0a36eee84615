// Two daemons on one Redis, both running the period runner across a boundary: exactly one reset
// (one RESET_SPENT audit row, one budget.reset_spent event, spent cleared in both books).
import {describe, expect, it} from 'vitest'

import {EVENTS_COLLECTION} from '../../src/events/event.js'
import {KEY, clusterConfig, twoRedisDaemons} from '../cluster/helpers.js'
import {call} from '../support/daemon.js'

const at = (iso: string) => Date.parse(iso)

describe('periodic budget with two instances on one Redis', () => {
  it('resets exactly once at the boundary, whichever instance gets there first', async () => {
    let now = at('2026-11-28T23:59:30Z')
    const config = clusterConfig({allocated: 1_000_000}).replace('    overdraft_limit: 0\n', '    overdraft_limit: 0\n    period: day\n')
    expect(config).toContain('period: day')
    // The timers stay quiet (an hour apart): the test drives both runners' ticks itself.
    const cluster = await twoRedisDaemons(config, {now: () => now, periodIntervalMs: 3_600_000})
    try {
      const {a, b} = cluster
      const reserve = await call(a.url, 'POST', '/v1/reservations', {idempotency_key: 'r1', subject: {tenant: 'acme'}, action: {kind: 'llm.completion', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 4000}}, {'X-Cycles-API-Key': KEY})
      expect(reserve.status).toBe(200)
      const commit = await call(b.url, 'POST', `/v1/reservations/${reserve.body.reservation_id}/commit`, {idempotency_key: 'r1c', actual: {unit: 'USD_MICROCENTS', amount: 4000}}, {'X-Cycles-API-Key': KEY})
      expect(commit.status).toBe(200)
      expect((await a.store.getLedgers('real', ['tenant:acme'], 'USD_MICROCENTS'))[0]?.spent).toBe(4000)
      expect([...(await a.daemon.periods.tick()), ...(await b.daemon.periods.tick())]).toEqual([])

      now = at('2026-11-29T00:00:00Z')
      const rounds = await Promise.all([0, 1, 2, 3].flatMap(() => [a.daemon.periods.tick(), b.daemon.periods.tick()]))
      expect(rounds.flat()).toHaveLength(1)
      const real = (await a.store.getLedgers('real', ['tenant:acme'], 'USD_MICROCENTS'))[0]
      const shadow = (await b.store.getLedgers('shadow', ['tenant:acme'], 'USD_MICROCENTS'))[0]
      expect(real).toMatchObject({spent: 0, allocated: 1_000_000, remaining: 1_000_000})
      expect(shadow?.spent).toBe(0)
      const {entries} = await a.store.listAudit({operation: 'fundBudget', limit: 100})
      expect(entries.filter((e) => e.metadata?.operation === 'RESET_SPENT' && e.metadata?.trigger === 'period')).toHaveLength(1)
      const events = (await b.store.listDocs(EVENTS_COLLECTION, {limit: 1000})).filter((d) => d.value.event_type === 'budget.reset_spent')
      expect(events).toHaveLength(1)
    } finally {
      await cluster.stop()
    }
  })
})
