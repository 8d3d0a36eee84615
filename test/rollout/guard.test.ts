// The guard's decision (src/rollout/guard.ts), clock injected: trips exactly at the thresholds and
// not one below, only once the breach has lasted window_seconds, a dip resets the streak, and an
// enforced BUDGET_FROZEN is unexpected unless the operator froze the budget.
import {describe, expect, it} from 'vitest'

import {DenialRateGuard, GUARD_SLICES, type GuardSettings, isUnexpectedFreeze, thresholdFor} from '../../src/rollout/guard.js'

const W = 10 // window_seconds: slices of 1 s
const settings = (o: Partial<GuardSettings> = {}): GuardSettings => ({ratio: 3, min_denial_rate: 0.01, min_requests: 50, window_seconds: W, ...o})
const T0 = 1_700_000_000_000 // a slice boundary (a multiple of 1000 ms)

/**
 * Play `perSlice[i]` = [requests, denials] into slice i after T0, in time order, evaluating every half
 * slice (as the daemon does) until `untilMs`; the first trip, or undefined.
 */
function run(g: DenialRateGuard, perSlice: Array<[number, number]>, baseline: number, untilMs: number) {
  for (let t = T0, i = 0; t <= untilMs; t += g.sliceMs / 2, i++) {
    const slice = Math.floor(i / 2)
    if (i % 2 === 0 && slice < perSlice.length) {
      const [requests, denials] = perSlice[slice]
      for (let k = 0; k < requests; k++) g.record('low', t + 1, k < denials)
    }
    const {trip} = g.evaluate('low', t, baseline)
    if (trip) return trip
  }
  return undefined
}

const slices = (n: number, requests: number, denials: number): Array<[number, number]> => Array.from({length: n}, () => [requests, denials])

describe('DenialRateGuard', () => {
  it('trips when every slice is exactly at ratio × baseline, with exactly min_requests, after exactly window_seconds', () => {
    // baseline 0.1 → threshold 0.3 (3 × 0.1 is 0.30000000000000004 in floating point; 3 of 10 must still count)
    const g = new DenialRateGuard(settings({min_requests: 100}))
    expect(thresholdFor(g.settings, 0.1)).toBeCloseTo(0.3, 12)
    const trip = run(g, slices(GUARD_SLICES, 10, 3), 0.1, T0 + 2 * W * 1000)
    expect(trip).toBeDefined()
    expect(trip!.at_ms).toBe(T0 + W * 1000) // not one evaluation earlier
    expect(trip).toMatchObject({kind: 'denial_rate', tier: 'low', requests: 100, denials: 30, baseline: 0.1, window_seconds: W, breach_since_ms: T0})
    expect(trip!.denial_rate).toBeCloseTo(0.3, 12)
    expect(trip!.reason).toContain('30 of 100')
  })

  it('does not trip one denial below the rate threshold', () => {
    const g = new DenialRateGuard(settings({min_requests: 100}))
    const perSlice = slices(GUARD_SLICES, 10, 3)
    perSlice[4] = [10, 2] // one slice one denial short: the rate did not stay at the threshold
    expect(run(g, perSlice, 0.1, T0 + W * 1000)).toBeUndefined()
  })

  it('does not trip one request below min_requests', () => {
    const g = new DenialRateGuard(settings({min_requests: 100}))
    const perSlice = slices(GUARD_SLICES, 10, 3)
    perSlice[7] = [9, 3]
    expect(run(g, perSlice, 0.1, T0 + W * 1000)).toBeUndefined()
    const enough = new DenialRateGuard(settings({min_requests: 99}))
    expect(run(enough, perSlice, 0.1, T0 + W * 1000)?.requests).toBe(99)
  })

  it('uses min_denial_rate when the baseline is 0 (or low): exactly at the floor trips, below does not', () => {
    const atFloor = new DenialRateGuard(settings({min_denial_rate: 0.1}))
    expect(run(atFloor, slices(GUARD_SLICES, 10, 1), 0, T0 + W * 1000)?.threshold).toBe(0.1)
    const below = new DenialRateGuard(settings({min_denial_rate: 0.1}))
    const perSlice = slices(GUARD_SLICES, 10, 1)
    perSlice[9] = [11, 1] // 1/11 < 0.1
    expect(run(below, perSlice, 0, T0 + W * 1000)).toBeUndefined()
    // the floor wins over a tiny baseline: 3 × 0.01 = 0.03 < 0.1
    expect(thresholdFor(settings({min_denial_rate: 0.1}), 0.01)).toBe(0.1)
  })

  it('needs the breach sustained for window_seconds: a late start trips a whole window after it, a dip restarts the clock', () => {
    const g = new DenialRateGuard(settings())
    // 3 healthy slices, then every slice at 100 % denials
    const perSlice: Array<[number, number]> = [...slices(3, 20, 0), ...slices(20, 20, 20)]
    const trip = run(g, perSlice, 0, T0 + 30_000)
    expect(trip?.at_ms).toBe(T0 + 3000 + W * 1000)
    expect(trip?.breach_since_ms).toBe(T0 + 3000)

    const dip = new DenialRateGuard(settings())
    const withDip: Array<[number, number]> = [...slices(5, 20, 20), [20, 0], ...slices(20, 20, 20)]
    expect(run(dip, withDip, 0, T0 + 30_000)?.at_ms).toBe(T0 + 6000 + W * 1000)
  })

  it('slices without traffic neither break nor start the streak; min_requests still applies', () => {
    const g = new DenialRateGuard(settings({min_requests: 40}))
    const perSlice: Array<[number, number]> = [[10, 10], [0, 0], [10, 10], [0, 0], [0, 0], [10, 10], [0, 0], [0, 0], [0, 0], [10, 10]]
    expect(run(g, perSlice, 0, T0 + W * 1000)?.at_ms).toBe(T0 + W * 1000)
    const sparse = new DenialRateGuard(settings({min_requests: 41}))
    expect(run(sparse, perSlice, 0, T0 + W * 1000)).toBeUndefined()
  })

  it('a reset (the tier left or re-entered enforce) forgets the window', () => {
    const g = new DenialRateGuard(settings())
    expect(run(g, slices(5, 10, 10), 0, T0 + 5000)).toBeUndefined()
    g.reset('low')
    for (let t = T0 + 5000; t <= T0 + W * 1000; t += 500) expect(g.evaluate('low', t, 0).trip).toBeUndefined()
    const {window} = g.evaluate('low', T0 + W * 1000, 0)
    expect(window).toMatchObject({requests: 0, denials: 0, denial_rate: 0})
    expect(window.breach_since_ms).toBeUndefined()
  })

  it('keeps tiers apart', () => {
    const g = new DenialRateGuard(settings())
    expect(run(g, slices(GUARD_SLICES, 10, 10), 0, T0 + W * 1000)).toBeDefined()
    expect(g.evaluate('medium', T0 + W * 1000, 0).window.requests).toBe(0)
  })
})

describe('isUnexpectedFreeze (BUDGET_FROZEN on an enforced request)', () => {
  it('is expected when the newest freeze/unfreeze in the audit log is a freeze, or the config froze it and nobody unfroze it since', () => {
    expect(isUnexpectedFreeze({newestFreezeOperation: 'freezeBudget', frozenByConfig: false})).toBe(false)
    expect(isUnexpectedFreeze({frozenByConfig: true})).toBe(false)
  })
  it('is unexpected with no freeze on record, or when the last recorded operation unfroze it', () => {
    expect(isUnexpectedFreeze({frozenByConfig: false})).toBe(true)
    expect(isUnexpectedFreeze({newestFreezeOperation: 'unfreezeBudget', frozenByConfig: false})).toBe(true)
    expect(isUnexpectedFreeze({newestFreezeOperation: 'unfreezeBudget', frozenByConfig: true})).toBe(true)
  })
})
