// The daemon's guard runner with an injected clock and a real (in-memory embedded) store: which
// baseline it judges against (a recorded one first, else the tier's shadow would-deny rate over the
// window before its change), that it leaves tiers alone under the kill switch, and the control record
// it writes on a trip.
import {afterEach, describe, expect, it} from 'vitest'

import type {RolloutGuardConfig} from '../../src/config/schema.js'
import {GuardRunner} from '../../src/daemon/guard-runner.js'
import {TierStats} from '../../src/daemon/tier-stats.js'
import type {DecisionRecord} from '../../src/decision-log/record.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import type {TierControl} from '../../src/store/types.js'

const W = 10
const CONFIG: RolloutGuardConfig = {enabled: true, ratio: 3, min_denial_rate: 0.01, min_requests: 50, window_seconds: W}
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000) // a minute boundary (and a slice boundary)
const CHANGED = T0 + 10 * 60_000 // the tier entered enforce here

const rec = (o: Partial<DecisionRecord>): DecisionRecord =>
  ({v: 1, id: 'x', ts: '', endpoint: 'reserve', request_id: 'r', trace_id: 't', tenant: 'acme', dry_run: false, mode: 'enforce', tier: 'low', decision: 'ALLOW', would_decision: 'ALLOW', http_status: 200, latency_us: 1, ...o}) as DecisionRecord
const denied = rec({decision: 'DENY', reason_code: 'BUDGET_EXCEEDED', would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED', http_status: 409})

let store: EmbeddedStore | undefined
afterEach(async () => {
  await store?.close()
  store = undefined
})

async function setup(control: Partial<TierControl>) {
  store = await EmbeddedStore.open({})
  const base: TierControl = {tiers: {low: 'enforce', medium: 'shadow', high: 'shadow'}, tier_changed_at_ms: {low: CHANGED}, killswitch: {engaged: false}, version: 1, ...control}
  expect((await store.apply({control: base})).ok).toBe(true)
  const ref = {current: base}
  let clock = T0
  const stats = new TierStats(T0)
  // As the daemon does: apply a newer record and tell the guard.
  const runner: GuardRunner = new GuardRunner({
    store,
    config: CONFIG,
    stats,
    control: () => ref.current,
    applyControl: (c) => {
      if (c.version < ref.current.version) return
      const before = ref.current
      ref.current = c
      runner.onControl(before, c)
    },
    frozenByConfig: new Set(),
    now: () => clock,
  })
  // Shadow traffic before the change: 20 % would have been denied.
  for (let i = 0; i < 100; i++) stats.observe(rec({mode: 'shadow', ...(i % 5 === 0 ? {would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED'} : {})}), CHANGED - 5000)
  /** One whole window of enforced traffic after the change, `denials` of every 10 requests per second denied; ticks every half second. */
  const enforcedWindow = async (denials: number) => {
    for (let s = 0; s <= W * 2; s++) {
      clock = CHANGED + s * 500
      if (s % 2 === 0 && s < W * 2) for (let k = 0; k < 10; k++) runner.observe(k < denials ? denied : rec({}), clock + 1)
      runner.tick()
      await runner.settled()
    }
  }
  return {runner, ref, enforcedWindow}
}

describe('GuardRunner', () => {
  it("without a recorded baseline judges against the tier's would-deny rate before its change (20 % → trips at 60 %, not at 50 %)", async () => {
    const below = await setup({})
    await below.enforcedWindow(5)
    expect(below.runner.window('low')).toMatchObject({baseline: 0.2, denials: 50, requests: 100})
    expect(below.runner.window('low')!.threshold).toBeCloseTo(0.6, 12)
    expect(below.ref.current.tiers.low).toBe('enforce')
    await store!.close()

    const at = await setup({})
    await at.enforcedWindow(6)
    expect(at.ref.current.tiers.low).toBe('shadow')
    expect(at.ref.current.rollout?.guard_trips?.low).toMatchObject({kind: 'denial_rate', baseline: 0.2, denials: 60, requests: 100, window_seconds: W})
    expect(at.ref.current.tier_changed_at_ms?.low).toBe(CHANGED + W * 1000)
    expect(at.ref.current.version).toBe(2)
    const rows = (await store!.listAudit({operation: 'rollout.guard.rollback'})).entries
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({actor_type: 'system', resource_id: 'tier:low', metadata: {tier: 'low', actor: 'cycles-guard', denials: 60}})
  })

  it('prefers the baseline a step recorded', async () => {
    const {runner, ref, enforcedWindow} = await setup({rollout: {baselines: {low: {denial_rate: 0.01, at_ms: CHANGED}}}})
    await enforcedWindow(1) // 10 % ≥ 3 × 1 %
    expect(ref.current.tiers.low).toBe('shadow')
    expect(ref.current.rollout?.guard_trips?.low?.baseline).toBe(0.01)
    expect(runner.window('low')).toBeUndefined()
  })

  it('leaves every tier alone while the kill switch is engaged', async () => {
    const {runner, ref, enforcedWindow} = await setup({killswitch: {engaged: true, reason: 'drill'}})
    await enforcedWindow(10)
    expect(ref.current.tiers.low).toBe('enforce')
    expect(runner.window('low')).toBeUndefined()
    expect((await store!.listAudit({operation: 'rollout.guard.rollback'})).entries).toHaveLength(0)
  })
})
