// The detectors as pure functions of their inputs and a clock: each fires once on planted traffic
// and never on normal traffic.
import {describe, expect, it} from 'vitest'

import {REPORT_DEFAULTS} from '../../src/analytics/report.js'
import {BurnRateDetector} from '../../src/events/detectors/burn-rate.js'
import {LoopDetector} from '../../src/events/detectors/loop.js'
import {RateSpikeDetector} from '../../src/events/detectors/rate-spike.js'
import {ThresholdDetector} from '../../src/events/detectors/threshold.js'
import type {Ledger} from '../../src/protocol/types.js'

const ledger = (spent: number, reserved: number, allocated = 1000): Ledger => ({
  scope: 'tenant:a',
  unit: 'TOKENS',
  allocated,
  spent,
  reserved,
  debt: 0,
  remaining: allocated - spent - reserved,
  overdraft_limit: 0,
  is_over_limit: false,
  status: 'ACTIVE',
})

describe('ThresholdDetector', () => {
  it('fires each threshold once per direction, however often utilization moves on the same side', () => {
    const d = new ThresholdDetector([0.8, 0.95, 1])
    const signals = [700, 810, 790, 820, 850, 940, 960, 999, 1000, 1000, 500].map((spent) => d.observe('k', ledger(spent, 0)))
    const flat = signals.flat().map((s) => (s.kind === 'threshold' ? `${s.threshold}${s.direction === 'rising' ? '↑' : '↓'}` : 'exhausted'))
    // 790 after 810 crosses 0.8 back down, so 820 may rise again; 850 and 940 stay above it.
    expect(flat).toEqual(['0.8↑', '0.8↓', '0.8↑', '0.95↑', '1↑', 'exhausted', '1↓', '0.95↓', '0.8↓'])
  })

  it('a ledger seeded above a threshold does not announce it again; no allocation, no utilization', () => {
    const d = new ThresholdDetector([0.8])
    d.seed('k', ledger(900, 0))
    expect(d.observe('k', ledger(910, 0))).toEqual([])
    expect(d.observe('z', ledger(0, 0, 0))).toEqual([])
    expect(d.observe('k', ledger(100, 0))).toEqual([{kind: 'threshold', threshold: 0.8, direction: 'falling', utilization: 0.1}])
  })
})

describe('RateSpikeDetector', () => {
  const options = {threshold: 0.1, windowMs: 60_000, minSamples: 20}

  it('normal traffic (5 % denials) never fires; a jump to 50 % fires once, and again only after it fell below half', () => {
    const d = new RateSpikeDetector(options)
    let t = 0
    const fired: number[] = []
    const feed = (n: number, everyNth: number) => {
      for (let i = 0; i < n; i++) {
        t += 100
        if (d.observe('acme', i % everyNth === 0, t)) fired.push(t)
      }
    }
    feed(2000, 20) // 5 %
    expect(fired).toEqual([])
    feed(600, 2) // 50 %
    expect(fired).toHaveLength(1)
    feed(600, 2)
    expect(fired).toHaveLength(1)
    feed(3000, 100) // 1 %: re-armed
    feed(600, 2)
    expect(fired).toHaveLength(2)
  })

  it('a rate that falls below the threshold but not below half of it does not re-arm the spike', () => {
    const d = new RateSpikeDetector(options)
    let t = 0
    let fired = 0
    const feed = (n: number, everyNth: number) => {
      for (let i = 0; i < n; i++) {
        t += 100
        if (d.observe('acme', i % everyNth === 0, t)) fired++
      }
    }
    feed(600, 2) // 50 %
    feed(3000, 14) // ≈ 7 %: under 10 %, over 5 %
    feed(600, 2)
    expect(fired).toBe(1)
  })

  it('below min samples nothing fires, however high the rate', () => {
    const d = new RateSpikeDetector(options)
    for (let i = 0; i < 19; i++) expect(d.observe('k', true, i)).toBeUndefined()
    expect(d.observe('k', true, 20)).toEqual({rate: 1, samples: 20, hits: 20})
  })
})

describe('LoopDetector', () => {
  it("uses the analyzer's signature (47 in 90 s) and flags a run once", () => {
    const d = new LoopDetector()
    expect([d.threshold, d.windowMs]).toEqual([REPORT_DEFAULTS.loopThreshold, REPORT_DEFAULTS.loopWindowSeconds * 1000])
    const hits: number[] = []
    for (let i = 0; i < 100; i++) if (d.observe('run-1', i * 1000)) hits.push(i) // one a second
    expect(hits).toEqual([46]) // the 47th attempt, 46 s after the first
  })

  it('a steady run slower than the signature (47 take 92 s) is never flagged', () => {
    const d = new LoopDetector()
    for (let i = 0; i < 1000; i++) expect(d.observe('slow', i * 2000)).toBeUndefined()
  })

  it('the window is (t − 90 s, t]: 47 attempts spanning exactly 90 s are not a loop, 89.999 s are', () => {
    const exact = new LoopDetector()
    const span = (d: LoopDetector, key: string, total: number) => {
      let out
      for (let i = 0; i < 47; i++) out = d.observe(key, Math.round((i * total) / 46))
      return out
    }
    expect(span(exact, 'a', 90_000)).toBeUndefined()
    expect(span(new LoopDetector(), 'b', 89_999)).toMatchObject({run_id: 'b', count: 47, window_seconds: 90, first_at_ms: 0})
  })
})

describe('BurnRateDetector', () => {
  const options = {windowMs: 60_000, multiplier: 3, baselineWindows: 3}

  it('steady spend never fires; four times the baseline fires once per episode', () => {
    const d = new BurnRateDetector(options)
    let t = 0
    const fired: Array<{at: number; multiplier: number}> = []
    const spend = (minutes: number, perSecond: number) => {
      for (let s = 0; s < minutes * 60; s++) {
        t += 1000
        const a = d.observe('b', perSecond, t)
        if (a) fired.push({at: t, multiplier: a.multiplier})
      }
    }
    spend(10, 10) // 600/min baseline
    expect(fired).toEqual([])
    spend(2, 40) // 2400/min: 4×
    expect(fired).toHaveLength(1)
    expect(fired[0].multiplier).toBeGreaterThanOrEqual(3)
    spend(10, 10)
    expect(fired).toHaveLength(1)
  })

  it('no baseline yet (fewer complete windows than asked) never fires', () => {
    const d = new BurnRateDetector(options)
    for (let s = 0; s < 150; s++) expect(d.observe('b', s < 60 ? 1 : 1000, s * 1000)).toBeUndefined()
  })
})
