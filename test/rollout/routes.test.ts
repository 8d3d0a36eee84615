// The rollout admin routes on a real daemon (embedded store): live per-tier figures from the
// decision records, steps applied once per (plan_id, step) with their baseline and one audit row,
// rollback, validation, and the state kept in the control record across a restart.
import {afterEach, describe, expect, it} from 'vitest'

import type {TestDaemon} from '../support/daemon.js'
import {tempDir} from '../support/daemon.js'
import {admin, rolloutConfig, search, startRolloutDaemon} from './helpers.js'

let d: TestDaemon | undefined
afterEach(async () => {
  await d?.stop()
  d = undefined
})

const auditOps = async (t: TestDaemon, operation: string) => (await admin(t, 'GET', `/v1/admin/audit/logs?operation=${operation}&limit=50`)).body.logs as Array<Record<string, any>>

describe('GET /v1/admin/rollout', () => {
  it('reports each tier\'s live figures from its decision records: would-denials in shadow, commits, R:C and overage', async () => {
    d = await startRolloutDaemon(rolloutConfig({lowAllocated: 3000}))
    // 3 admitted within the budget (1000 each), then 2 more the shadow book would deny; the first two commit.
    await search(d, 1000, 500)
    await search(d, 1000, 1500)
    await search(d, 1000)
    await search(d, 1000)
    await search(d, 1000)
    const since = Date.now() - 60_000
    const res = await admin(d, 'GET', `/v1/admin/rollout?since_ms=${since}`)
    expect(res.status).toBe(200)
    const low = res.body.tiers.low
    expect(low).toMatchObject({mode: 'shadow', enforce_percent: 100, effective_mode: 'shadow', baseline: null, guard: {state: 'idle'}})
    expect(low.stats).toMatchObject({requests: 5, enforced_requests: 0, enforced_denials: 0, would_denials: 2, commits: 2, overages: 1})
    expect(low.stats.would_denial_rate).toBeCloseTo(0.4, 10)
    expect(low.stats.reserve_commit_ratio).toBeCloseTo(2000 / 2000, 10)
    expect(low.stats.overage_rate).toBeCloseTo(0.5, 10)
    expect(low.stats.since_ms).toBeGreaterThanOrEqual(since)
    expect(res.body.tiers.medium.stats.requests).toBe(0)
    expect(res.body.guard_config).toEqual({enabled: true, ratio: 3, min_denial_rate: 0.01, min_requests: 50, window_seconds: 600})
    expect(res.body.applied_steps).toEqual([])
    expect(res.body.killswitch.engaged).toBe(false)
    expect((await admin(d, 'GET', '/v1/admin/rollout?since_ms=yesterday')).status).toBe(400)
  })

  it('counts enforced requests and denials separately once the tier enforces', async () => {
    d = await startRolloutDaemon(rolloutConfig({low: 'enforce', lowAllocated: 2000}))
    for (let i = 0; i < 4; i++) await search(d, 1000)
    const low = (await admin(d, 'GET', '/v1/admin/rollout')).body.tiers.low
    expect(low.stats).toMatchObject({requests: 4, enforced_requests: 4, enforced_denials: 2, enforced_denial_rate: 0.5, would_denials: 2})
    expect(low.guard.state).toBe('armed')
  })
})

describe('POST /v1/admin/rollout/steps and /rollback', () => {
  it('applies a step once with its baseline and one audit row; re-posting it changes nothing; rollback audits too; a restart keeps it all', async () => {
    const dir = tempDir()
    d = await startRolloutDaemon(rolloutConfig({lowAllocated: 4000}), dir)
    for (let i = 0; i < 5; i++) await search(d, 1000) // 1 of 5 would be denied: baseline 0.2
    const step = {plan_id: 'plan-1', step: 1, tier: 'low', mode: 'enforce', enforce_percent: 10, reason: 'ramp low to 10 %', actor: 'ops'}
    const first = await admin(d, 'POST', '/v1/admin/rollout/steps', step)
    expect(first.status).toBe(200)
    expect(first.body.already_applied).toBe(false)
    expect(first.body.tiers.low).toMatchObject({mode: 'enforce', enforce_percent: 10, effective_mode: 'enforce', guard: {state: 'armed'}})
    expect(first.body.tiers.low.baseline).toMatchObject({denial_rate: 0.2, requests: 5})
    expect(first.body.tiers.low.since_ms).toBeGreaterThan(0)
    expect(first.body.applied_steps).toEqual([expect.objectContaining({plan_id: 'plan-1', step: 1, tier: 'low', mode: 'enforce', enforce_percent: 10, actor: 'ops', reason: 'ramp low to 10 %'})])
    expect(d.daemon.control.tiers.low).toBe('enforce')

    const again = await admin(d, 'POST', '/v1/admin/rollout/steps', {...step, enforce_percent: 50})
    expect(again.status).toBe(200)
    expect(again.body.already_applied).toBe(true)
    expect(again.body.tiers.low.enforce_percent).toBe(10)
    expect(again.body.version).toBe(first.body.version)
    const steps = await auditOps(d, 'rollout.step')
    expect(steps).toHaveLength(1)
    expect(steps[0].metadata).toMatchObject({plan_id: 'plan-1', step: 1, tier: 'low', reason: 'ramp low to 10 %', actor: 'ops', baseline: {denial_rate: 0.2}})

    const back = await admin(d, 'POST', '/v1/admin/rollout/rollback', {tier: 'low', reason: 'too many denials', actor: 'ops'})
    expect(back.status).toBe(200)
    expect(back.body.tiers.low).toMatchObject({mode: 'shadow', effective_mode: 'shadow', guard: {state: 'idle'}})
    const rollbacks = await auditOps(d, 'rollout.rollback')
    expect(rollbacks).toHaveLength(1)
    expect(rollbacks[0].metadata).toMatchObject({tiers: ['low'], previous: {low: 'enforce'}, reason: 'too many denials', actor: 'ops'})

    await d.stop()
    d = await startRolloutDaemon(rolloutConfig({lowAllocated: 4000}), dir)
    const after = (await admin(d, 'GET', '/v1/admin/rollout')).body
    expect(after.tiers.low).toMatchObject({mode: 'shadow', enforce_percent: 10, baseline: {denial_rate: 0.2}})
    expect(after.applied_steps).toHaveLength(1)
    expect(after.version).toBe(back.body.version)
  })

  it('rolls every tier back without --tier, and refuses bad input with 400', async () => {
    d = await startRolloutDaemon(rolloutConfig({low: 'enforce'}))
    expect((await admin(d, 'PUT', '/v1/admin/control/tiers/high', {mode: 'enforce', reason: 'test'})).status).toBe(200)
    const back = await admin(d, 'POST', '/v1/admin/rollout/rollback', {reason: 'all back'})
    expect(back.status).toBe(200)
    expect(Object.values(back.body.tiers).map((t: any) => t.mode)).toEqual(['shadow', 'shadow', 'shadow'])
    const bad = [
      ['/v1/admin/rollout/rollback', {}],
      ['/v1/admin/rollout/rollback', {tier: 'extreme', reason: 'x'}],
      ['/v1/admin/rollout/steps', {plan_id: 'p', step: 1, tier: 'low', mode: 'enforce', enforce_percent: 10}],
      ['/v1/admin/rollout/steps', {plan_id: 'p', step: -1, tier: 'low', mode: 'enforce', enforce_percent: 10, reason: 'r'}],
      ['/v1/admin/rollout/steps', {plan_id: 'p', step: 1, tier: 'low', mode: 'on', enforce_percent: 10, reason: 'r'}],
      ['/v1/admin/rollout/steps', {plan_id: 'p', step: 1, tier: 'low', mode: 'enforce', enforce_percent: 101, reason: 'r'}],
      ['/v1/admin/rollout/steps', {step: 1, tier: 'low', mode: 'enforce', enforce_percent: 10, reason: 'r'}],
    ] as const
    for (const [p, body] of bad) {
      const res = await admin(d, 'POST', p, body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.body.error).toBe('INVALID_REQUEST')
    }
  })
})

describe('kill switch on the admin plane', () => {
  it('engaging twice keeps the first reason; the release audit row names the enforcement set while engaged', async () => {
    d = await startRolloutDaemon(rolloutConfig())
    expect((await admin(d, 'POST', '/v1/admin/killswitch/engage', {reason: 'first', actor: 'alice'})).status).toBe(200)
    const again = await admin(d, 'POST', '/v1/admin/killswitch/engage', {reason: 'second', actor: 'bob'})
    expect(again.body.killswitch).toMatchObject({engaged: true, reason: 'first', actor: 'alice'})
    expect(again.body.killswitch.engagements).toEqual([expect.objectContaining({reason: 'first', actor: 'alice'}), expect.objectContaining({reason: 'second', actor: 'bob'})])
    const engages = await auditOps(d, 'control.killswitch.engage')
    expect(engages[0].metadata).toMatchObject({reason: 'second', already_engaged: true})
    expect((await admin(d, 'PUT', '/v1/admin/control/tiers/high', {mode: 'enforce', reason: 'during the incident'})).status).toBe(200)
    expect((await admin(d, 'POST', '/v1/admin/killswitch/release', {reason: 'over'})).status).toBe(200)
    const [release] = await auditOps(d, 'control.killswitch.release')
    expect(release.metadata).toMatchObject({reason: 'over', enforcement_set_while_engaged: ['high']})
    expect(d.daemon.control.killswitch.engaged).toBe(false)
  })
})
