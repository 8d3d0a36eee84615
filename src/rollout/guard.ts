// The auto-rollback guard's decision, pure and clock-injected (the daemon's guard-runner feeds it
// and acts on its trips). Per tier, a sliding window of `window_seconds` made of GUARD_SLICES equal
// slices of enforced decisions. The tier trips when, for a whole window:
//   - every slice that had enforced requests had a denial rate ≥ threshold (the rate *stays* high:
//     one slice below resets the streak; a slice without traffic neither breaks nor starts it),
//   - the streak began at least window_seconds ago,
//   - the window holds ≥ min_requests enforced requests and its denial rate is ≥ threshold,
// where threshold = max(ratio × baseline, min_denial_rate). Only completed slices count, so a
// regression that starts mid-slice trips within window_seconds + one slice.
import type {RolloutGuardConfig} from '../config/schema.js'
import {TIERS, type Tier} from '../protocol/types.js'

export const GUARD_SLICES = 10
/** Rates are compared as denials ≥ threshold × requests with this relative slack (0.1 × 3 is 0.30000000000000004). */
const EPSILON = 1e-9

export type GuardSettings = Pick<RolloutGuardConfig, 'ratio' | 'min_denial_rate' | 'min_requests' | 'window_seconds'>

export interface GuardWindow {
  requests: number
  denials: number
  denial_rate: number
  baseline: number
  threshold: number
  /** Start of the current streak of slices at or above the threshold. */
  breach_since_ms?: number
}

export interface DenialRateTrip extends GuardWindow {
  kind: 'denial_rate'
  tier: Tier
  at_ms: number
  window_seconds: number
  reason: string
}

export const thresholdFor = (s: GuardSettings, baseline: number): number => Math.max(s.ratio * baseline, s.min_denial_rate)

/** denials / requests ≥ threshold, exactly at the boundary included. */
export const atOrAbove = (denials: number, requests: number, threshold: number): boolean =>
  requests > 0 && denials >= threshold * requests * (1 - EPSILON)

interface TierWindow {
  /** Ring of slices: the slice index each holds, its requests and denials. */
  index: Float64Array
  requests: Float64Array
  denials: Float64Array
  /** The last completed slice already judged for the streak. */
  judgedThrough: number
  breachSince?: number
}

export class DenialRateGuard {
  readonly sliceMs: number
  private readonly ring = GUARD_SLICES + 2
  private readonly tiers = new Map<Tier, TierWindow>()

  constructor(readonly settings: GuardSettings) {
    this.sliceMs = (settings.window_seconds * 1000) / GUARD_SLICES
    for (const t of TIERS) this.tiers.set(t, this.empty())
  }

  /** One enforced decision of `tier` at `atMs` (O(1)). */
  record(tier: Tier, atMs: number, denied: boolean): void {
    const w = this.tiers.get(tier)
    if (!w) return
    const slice = Math.floor(atMs / this.sliceMs)
    const slot = slice % this.ring
    if (w.index[slot] !== slice) {
      w.index[slot] = slice
      w.requests[slot] = 0
      w.denials[slot] = 0
    }
    w.requests[slot]++
    if (denied) w.denials[slot]++
  }

  /** Forget a tier's window (it just entered enforce, or left it). */
  reset(tier: Tier): void {
    this.tiers.set(tier, this.empty())
  }

  /**
   * Judge the slices completed since the last call and say whether the tier trips now. Call it for
   * tiers in enforce only, at least once per slice (the daemon calls it every half slice).
   */
  evaluate(tier: Tier, nowMs: number, baseline: number): {window: GuardWindow; trip?: DenialRateTrip} {
    const w = this.tiers.get(tier)!
    const threshold = thresholdFor(this.settings, baseline)
    const current = Math.floor(nowMs / this.sliceMs)
    const lastComplete = current - 1
    // Judge each newly completed slice in order (slices older than the ring hold nothing: no traffic).
    const from = Math.max(w.judgedThrough + 1, lastComplete - GUARD_SLICES + 1)
    for (let s = from; s <= lastComplete; s++) {
      const [requests, denials] = this.slice(w, s)
      if (requests === 0) continue
      if (atOrAbove(denials, requests, threshold)) w.breachSince ??= s * this.sliceMs
      else w.breachSince = undefined
    }
    if (lastComplete > w.judgedThrough) w.judgedThrough = lastComplete
    let requests = 0
    let denials = 0
    for (let s = lastComplete - GUARD_SLICES + 1; s <= lastComplete; s++) {
      const [r, d] = this.slice(w, s)
      requests += r
      denials += d
    }
    const window: GuardWindow = {
      requests,
      denials,
      denial_rate: requests > 0 ? denials / requests : 0,
      baseline,
      threshold,
      ...(w.breachSince === undefined ? {} : {breach_since_ms: w.breachSince}),
    }
    const sustained = w.breachSince !== undefined && nowMs - w.breachSince >= this.settings.window_seconds * 1000
    if (!sustained || requests < this.settings.min_requests || !atOrAbove(denials, requests, threshold)) return {window}
    const pct = (x: number) => `${(x * 100).toFixed(2)} %`
    return {
      window,
      trip: {
        kind: 'denial_rate',
        tier,
        at_ms: nowMs,
        window_seconds: this.settings.window_seconds,
        ...window,
        reason: `enforced denial rate ${pct(window.denial_rate)} (${denials} of ${requests}) stayed at or above ${pct(threshold)} (${this.settings.ratio} × baseline ${pct(baseline)}, floor ${pct(this.settings.min_denial_rate)}) for ${this.settings.window_seconds} s`,
      },
    }
  }

  private slice(w: TierWindow, s: number): [number, number] {
    const slot = ((s % this.ring) + this.ring) % this.ring
    return w.index[slot] === s ? [w.requests[slot], w.denials[slot]] : [0, 0]
  }

  private empty(): TierWindow {
    return {index: new Float64Array(this.ring).fill(-1), requests: new Float64Array(this.ring), denials: new Float64Array(this.ring), judgedThrough: Number.NEGATIVE_INFINITY}
  }
}

/**
 * An enforced BUDGET_FROZEN is unexpected unless the operator froze that budget: the newest
 * freeze/unfreeze audit row of the budget is a freeze, or the config file declares it FROZEN.
 */
export function isUnexpectedFreeze(facts: {newestFreezeOperation?: 'freezeBudget' | 'unfreezeBudget'; frozenByConfig: boolean}): boolean {
  if (facts.newestFreezeOperation === 'freezeBudget') return false
  if (facts.newestFreezeOperation === undefined && facts.frozenByConfig) return false
  return true
}
