// `cycles rollout status` figures from a rollout view (src/rollout/status.ts): the rate against the
// baseline, the guard's threshold, nulls where nothing is known, and the text rendering.
import {describe, expect, it} from 'vitest'

import type {RolloutTierWire, RolloutWire} from '../../src/client/rollout-client.js'
import {renderRolloutStatus, rolloutStatusOf} from '../../src/rollout/status.js'

const NOW = 1_800_000_000_000
const stats = (o: Partial<RolloutTierWire['stats']> = {}): RolloutTierWire['stats'] => ({
  since_ms: NOW - 600_000,
  until_ms: NOW,
  window_seconds: 600,
  requests: 0,
  enforced_requests: 0,
  enforced_denials: 0,
  enforced_denial_rate: 0,
  would_denials: 0,
  would_denial_rate: 0,
  commits: 0,
  reserve_commit_ratio: 0,
  overage_rate: 0,
  overages: 0,
  commit_estimate: 0,
  commit_actual: 0,
  ...o,
})
const tier = (o: Partial<RolloutTierWire>): RolloutTierWire => ({mode: 'shadow', enforce_percent: 100, effective_mode: 'shadow', since_ms: null, baseline: null, stats: stats(), guard: {state: 'idle'}, ...o})
const wire = (tiers: Partial<RolloutWire['tiers']>): RolloutWire => ({
  tiers: {low: tier({}), medium: tier({}), high: tier({}), ...tiers},
  killswitch: {engaged: false},
  applied_steps: [{plan_id: 'p1', step: 2, at_ms: NOW - 3_600_000, tier: 'low', mode: 'enforce', enforce_percent: 50, actor: 'ops', reason: 'ramp'}],
  guard_config: {enabled: true, ratio: 3, min_denial_rate: 0.01, min_requests: 50, window_seconds: 600},
  version: 7,
  now_ms: NOW,
})

describe('rolloutStatusOf', () => {
  it('puts the enforced denial rate against the baseline and gives the guard threshold', () => {
    const s = rolloutStatusOf(
      wire({
        low: tier({
          mode: 'enforce',
          effective_mode: 'enforce',
          enforce_percent: 50,
          since_ms: NOW - 3_600_000,
          baseline: {denial_rate: 0.02, at_ms: NOW - 3_600_000},
          stats: stats({requests: 200, enforced_requests: 100, enforced_denials: 5, enforced_denial_rate: 0.05, would_denials: 8, would_denial_rate: 0.04}),
          guard: {state: 'armed'},
        }),
      }),
    )
    const low = s.tiers[0]
    expect(low).toMatchObject({tier: 'low', denial_rate: 0.05, baseline: 0.02, would_denial_rate: 0.04, enforce_percent: 50})
    expect(low.times_baseline).toBeCloseTo(2.5, 12)
    expect(low.guard_threshold).toBeCloseTo(0.06, 12)
    expect(s.next_step).toBeNull()
  })

  it('says null where nothing is known: no enforced traffic, no baseline, a zero baseline', () => {
    const s = rolloutStatusOf(wire({medium: tier({mode: 'enforce', effective_mode: 'enforce', baseline: {denial_rate: 0, at_ms: NOW}, stats: stats({requests: 10, enforced_requests: 10, enforced_denials: 1, enforced_denial_rate: 0.1})})}))
    expect(s.tiers[0]).toMatchObject({denial_rate: null, would_denial_rate: null, baseline: null, times_baseline: null, guard_threshold: 0.01})
    expect(s.tiers[1]).toMatchObject({denial_rate: 0.1, baseline: 0, times_baseline: null, guard_threshold: 0.01})
  })

  it('renders a line per tier, the guard rule, the applied steps and where the next step comes from', () => {
    const lines = renderRolloutStatus(
      rolloutStatusOf(
        wire({
          high: tier({guard: {state: 'tripped', last_trip: {at_ms: NOW - 60_000, denial_rate: 0.5, baseline: 0, requests: 80, reason: 'enforced denial rate 50.00 % …', kind: 'denial_rate'}}}),
        }),
      ),
    ).join('\n')
    expect(lines).toContain('TRIPPED denial_rate')
    expect(lines).toContain('high: last guard trip')
    expect(lines).toContain('guard: trips at 3 × baseline and ≥ 1.00 % with ≥ 50 enforced requests, sustained 600 s')
    expect(lines).toContain('p1 #2 low enforce 50 % at')
    expect(lines).toContain('by ops — ramp')
    expect(lines).toContain('next step: pass --plan plan.yaml to see it and whether its gate passes')
  })
})
