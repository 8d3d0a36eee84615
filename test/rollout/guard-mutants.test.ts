// The guard's window arithmetic (src/rollout/guard.ts) at its edges: a late first evaluation judges
// only the last window's slices and sums only them (the ring holds two more), the window's exact
// shape, the trip's exact reason, and an empty window that never trips (issue 17 survivors).
import {describe, expect, it} from 'vitest'

import {DenialRateGuard, type GuardSettings} from '../../src/rollout/guard.js'
import type {Tier} from '../../src/protocol/types.js'

const W = 10 // window_seconds: slices of 1 s
const settings = (o: Partial<GuardSettings> = {}): GuardSettings => ({ratio: 3, min_denial_rate: 0.01, min_requests: 50, window_seconds: W, ...o})
const T0 = 1_700_000_000_000 // a slice boundary

/** `requests` decisions of `low` in slice `i` after T0, the first `denials` of them denied. */
function fill(g: DenialRateGuard, i: number, requests: number, denials: number) {
  for (let k = 0; k < requests; k++) g.record('low', T0 + i * 1000 + 1 + k, k < denials)
}

describe('DenialRateGuard window arithmetic', () => {
  it('slices are window_seconds / 10 long', () => {
    expect(new DenialRateGuard(settings({window_seconds: 60})).sliceMs).toBe(6000)
  })

  it('a first evaluation after 12 slices judges and sums only the last 10 (the ring still holds the 2 before)', () => {
    const g = new DenialRateGuard(settings())
    for (let i = 0; i < 12; i++) fill(g, i, 10, 10)
    const {trip, window} = g.evaluate('low', T0 + 12_000, 0)
    expect(window).toStrictEqual({requests: 100, denials: 100, denial_rate: 1, baseline: 0, threshold: 0.01, breach_since_ms: T0 + 2000})
    expect(trip).toStrictEqual({
      kind: 'denial_rate',
      tier: 'low',
      at_ms: T0 + 12_000,
      window_seconds: W,
      requests: 100,
      denials: 100,
      denial_rate: 1,
      baseline: 0,
      threshold: 0.01,
      breach_since_ms: T0 + 2000,
      reason: 'enforced denial rate 100.00 % (100 of 100) stayed at or above 1.00 % (3 × baseline 0.00 %, floor 1.00 %) for 10 s',
    })
  })

  it('the reason gives the rate, the counts, the threshold and how it was made', () => {
    const g = new DenialRateGuard(settings({ratio: 2, min_denial_rate: 0.05, min_requests: 10}))
    for (let i = 0; i < W; i++) fill(g, i, 8, 2)
    const trip = g.evaluate('low', T0 + W * 1000, 0.1).trip
    expect(trip?.reason).toBe('enforced denial rate 25.00 % (20 of 80) stayed at or above 20.00 % (2 × baseline 10.00 %, floor 5.00 %) for 10 s')
    expect(trip?.threshold).toBe(0.2)
  })

  it('a healthy window has no breach start at all; a young breach has one and does not trip', () => {
    const healthy = new DenialRateGuard(settings())
    for (let i = 0; i < W; i++) fill(healthy, i, 10, 0)
    expect(healthy.evaluate('low', T0 + W * 1000, 0)).toStrictEqual({window: {requests: 100, denials: 0, denial_rate: 0, baseline: 0, threshold: 0.01}})
    const young = new DenialRateGuard(settings())
    for (let i = 0; i < 5; i++) fill(young, i, 20, 20)
    expect(young.evaluate('low', T0 + 5000, 0)).toStrictEqual({window: {requests: 100, denials: 100, denial_rate: 1, baseline: 0, threshold: 0.01, breach_since_ms: T0}})
  })

  it('a sustained breach whose window has emptied does not trip, even with min_requests 0', () => {
    const g = new DenialRateGuard(settings({min_requests: 0}))
    for (let i = 0; i < 3; i++) fill(g, i, 10, 10)
    expect(g.evaluate('low', T0 + 3000, 0).trip).toBeUndefined()
    // nothing since: the streak is still open (no slice broke it), but the window holds no request
    const late = g.evaluate('low', T0 + 20_000, 0)
    expect(late).toStrictEqual({window: {requests: 0, denials: 0, denial_rate: 0, baseline: 0, threshold: 0.01, breach_since_ms: T0}})
  })

  it('a decision of an unknown tier is ignored', () => {
    const g = new DenialRateGuard(settings())
    expect(() => g.record('bogus' as Tier, T0, true)).not.toThrow()
    expect(g.evaluate('low', T0 + 1000, 0).window.requests).toBe(0)
  })
})
