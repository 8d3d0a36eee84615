// The auto-rollback guard in a real daemon (embedded store, small window): a planted regression — the
// enforced tier's budget cut to a tenth — sends the tier back to shadow within window_seconds + 1 s,
// with an audit row carrying the figures, a log line and rollout.guard_trips; healthy enforcement does
// not trip; an enforced BUDGET_FROZEN trips only when nobody froze the budget.
import {afterEach, describe, expect, it} from 'vitest'

import type {TestDaemon} from '../support/daemon.js'
import {admin, rolloutConfig, search, startRolloutDaemon, traffic, until} from './helpers.js'

const W = 2
const GUARD = `{ ratio: 3, min_denial_rate: 0.01, min_requests: 10, window_seconds: ${W} }`
const A = 1_000_000_000
const ESTIMATE = 150_000_000 // 15 % of the budget: fits before the cut, never after it (a tenth)

let d: TestDaemon | undefined
afterEach(async () => {
  await d?.stop()
  d = undefined
})

const enforceLow = (t: TestDaemon) =>
  admin(t, 'POST', '/v1/admin/rollout/steps', {plan_id: 'guard-test', step: 1, tier: 'low', mode: 'enforce', enforce_percent: 100, reason: 'enforce low', actor: 'test'})

describe('the auto-rollback guard in the daemon', () => {
  it('a limit cut to a tenth trips it: the tier is back in shadow within window_seconds + 1 s, audited, logged, recorded', async () => {
    const logs: string[] = []
    d = await startRolloutDaemon(rolloutConfig({lowAllocated: A, guard: GUARD}), undefined, {log: (l) => logs.push(l)})
    const t = d
    expect((await enforceLow(t)).body.tiers.low.baseline.denial_rate).toBe(0)
    const load = traffic(t, ESTIMATE, 1000)
    try {
      // Healthy enforcement with a full window of traffic (at least min_requests): every request allowed, no trip.
      await until('a whole healthy window', 30_000, () => (t.daemon.guard.window('low')?.requests ?? 0) >= 10)
      const healthy = (await admin(t, 'GET', '/v1/admin/rollout')).body.tiers.low
      expect(healthy.mode).toBe('enforce')
      expect(healthy.guard.state).toBe('armed')
      expect(healthy.guard.window.denials).toBe(0)
      expect(t.daemon.status().guard).toEqual({low: 'armed', medium: 'idle', high: 'idle'})

      const cutAt = Date.now() // before the cut is sent: denials cannot start earlier
      const cut = await admin(t, 'POST', '/v1/admin/budgets/fund?tenant_id=acme&scope=tenant:acme/workspace:search&unit=USD_MICROCENTS', {
        operation: 'RESET',
        amount: {unit: 'USD_MICROCENTS', amount: A / 10},
        reason: 'planted regression',
      })
      expect(cut.status).toBe(200)
      await until('the guard to send low back to shadow', (W + 1) * 1000, () => t.daemon.control.tiers.low === 'shadow')
      const tookMs = Date.now() - cutAt
      logs.push(`(test) back in shadow ${tookMs} ms after the cut`)
      const trip = t.daemon.control.rollout?.guard_trips?.low
      expect(trip).toMatchObject({kind: 'denial_rate', baseline: 0, threshold: 0.01, window_seconds: W})
      expect(trip!.requests).toBeGreaterThanOrEqual(10)
      expect(trip!.denial_rate).toBeGreaterThanOrEqual(0.9) // every request after the cut is denied
      // Sustained: it did not trip before a whole window of denials (less one slice: the cut may land mid-slice).
      expect(trip!.at_ms - cutAt).toBeGreaterThanOrEqual(W * 1000 - (W * 1000) / 10 - 50)
    } finally {
      await load.stop()
    }
    expect(load.statuses[409]).toBeGreaterThan(0)
    // In shadow again: admitted.
    expect((await search(t, ESTIMATE)).status).toBe(200)

    const view = (await admin(t, 'GET', '/v1/admin/rollout')).body.tiers.low
    expect(view.guard.state).toBe('tripped')
    expect(t.daemon.status().guard.low).toBe('tripped')
    expect(view.guard.last_trip.reason).toMatch(/enforced denial rate .* stayed at or above 1\.00 %/)
    const rows = (await admin(t, 'GET', '/v1/admin/audit/logs?operation=rollout.guard.rollback')).body.logs
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({resource_id: 'tier:low', status: 200, metadata: {tier: 'low', actor: 'cycles-guard', actor_type: 'system', kind: 'denial_rate', threshold: 0.01}})
    expect(rows[0].metadata.requests).toBe(view.guard.last_trip.requests)
    expect(logs.some((l) => /rollout guard: tier low back to shadow \(denial_rate\)/.test(l))).toBe(true)
  }, 60_000)

  it('an enforced BUDGET_FROZEN trips it when nobody froze the budget, not when an operator did', async () => {
    d = await startRolloutDaemon(rolloutConfig({low: 'enforce', guard: GUARD}))
    const t = d
    // An operator's freeze (audited): denials, but no trip.
    expect((await admin(t, 'POST', '/v1/admin/budgets/freeze?tenant_id=acme&scope=tenant:acme/workspace:search&unit=USD_MICROCENTS', {reason: 'operator freeze'})).status).toBe(200)
    expect((await search(t, 1000)).body.error).toBe('BUDGET_FROZEN')
    await t.daemon.guard.settled() // the freeze check has run
    expect(t.daemon.control.tiers.low).toBe('enforce')

    // A freeze nobody made through the admin API (another tool writing the store): the next enforced BUDGET_FROZEN trips it.
    const scope = 'tenant:acme/workspace:gen'
    const applied = await t.daemon.store.apply({deltas: [{book: 'real', scope, unit: 'USD_MICROCENTS', set: {status: 'FROZEN'}}]})
    expect(applied.ok).toBe(true)
    const res = await search(t, 1000, undefined, 'gen')
    expect(res.status).toBe(409)
    expect(res.body.error).toBe('BUDGET_FROZEN')
    await until('the guard to send low back to shadow', 2000, () => t.daemon.control.tiers.low === 'shadow')
    expect(t.daemon.control.rollout?.guard_trips?.low).toMatchObject({kind: 'budget_frozen', scope, unit: 'USD_MICROCENTS'})
    const rows = (await admin(t, 'GET', '/v1/admin/audit/logs?operation=rollout.guard.rollback')).body.logs
    expect(rows).toHaveLength(1)
    expect(rows[0].metadata.reason).toContain('nobody froze it')
  })
})
