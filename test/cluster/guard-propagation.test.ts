// The auto-rollback guard with two daemons on one Redis: traffic through instance A only; a limit
// cut to a tenth trips A's guard, and instance B applies the rollback within a second (the control
// record's pub/sub); B's rollout view shows the same steps and the trip.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {admin, rolloutConfig, traffic, until} from '../rollout/helpers.js'
import {type RedisDaemon, twoRedisDaemons} from './helpers.js'

const W = 2
const A = 1_000_000_000

describe('the guard and rollout steps on two instances sharing Redis', () => {
  let a: RedisDaemon
  let b: RedisDaemon

  let stop: (() => Promise<void>) | undefined
  beforeAll(async () => {
    const config = rolloutConfig({lowAllocated: A, guard: `{ ratio: 3, min_denial_rate: 0.01, min_requests: 10, window_seconds: ${W} }`})
    ;({a, b, stop} = await twoRedisDaemons(config, {adminPort: 0}))
  })
  afterAll(async () => stop?.())

  it('B is back in shadow within 1 s of A\'s trip', async () => {
    const step = await admin(a, 'POST', '/v1/admin/rollout/steps', {plan_id: 'p', step: 1, tier: 'low', mode: 'enforce', enforce_percent: 100, reason: 'enforce low'})
    expect(step.status).toBe(200)
    await until('B to see low enforced', 1000, () => b.daemon.control.tiers.low === 'enforce')
    const load = traffic(a, 150_000_000, 1000)
    try {
      await until('A to have enforced traffic', 5000, () => (a.daemon.guard.window('low')?.requests ?? 0) > 0)
      const cut = await admin(b, 'POST', '/v1/admin/budgets/fund?tenant_id=acme&scope=tenant:acme/workspace:search&unit=USD_MICROCENTS', {
        operation: 'RESET',
        amount: {unit: 'USD_MICROCENTS', amount: A / 10},
        reason: 'planted regression',
      })
      expect(cut.status).toBe(200)
      await until('A\'s guard to trip', (W + 1) * 1000, () => a.daemon.control.tiers.low === 'shadow', 2)
      const tripped = Date.now()
      await until('B to apply the rollback', 1000, () => b.daemon.control.tiers.low === 'shadow', 2)
      expect(Date.now() - tripped).toBeLessThanOrEqual(1000)
    } finally {
      await load.stop()
    }
    expect(b.daemon.guard.window('low')).toBeUndefined() // B no longer watches low
    const view = (await admin(b, 'GET', '/v1/admin/rollout')).body
    expect(view.tiers.low.guard.state).toBe('tripped')
    expect(view.tiers.low.guard.last_trip).toMatchObject({kind: 'denial_rate', instance: a.daemon.guard.instance})
    expect(view.applied_steps).toEqual([expect.objectContaining({plan_id: 'p', step: 1, tier: 'low'})])
    const rows = (await admin(b, 'GET', '/v1/admin/audit/logs?operation=rollout.guard.rollback')).body.logs
    expect(rows).toHaveLength(1)
  }, 60_000)

  it('two concurrent posts of one step through one instance apply it once (control changes are taken one at a time)', async () => {
    const step = {plan_id: 'plan-c', step: 3, tier: 'medium', mode: 'enforce', enforce_percent: 50, reason: 'concurrent'}
    const answers = await Promise.all([admin(a, 'POST', '/v1/admin/rollout/steps', step), admin(a, 'POST', '/v1/admin/rollout/steps', step)])
    expect(answers.map((r) => r.status)).toEqual([200, 200])
    expect(answers.map((r) => r.body.already_applied).sort()).toEqual([false, true])
    expect((await admin(a, 'GET', '/v1/admin/audit/logs?operation=rollout.step')).body.logs.filter((l: any) => l.metadata.plan_id === 'plan-c')).toHaveLength(1)
    const view = (await admin(b, 'GET', '/v1/admin/rollout')).body
    expect(view.applied_steps.filter((s: any) => s.plan_id === 'plan-c')).toHaveLength(1)
  })
})
