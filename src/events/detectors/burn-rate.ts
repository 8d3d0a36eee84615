// budget.burn_rate_anomaly: a budget's spend over the current window against its baseline, the
// moving average of the completed windows before it. Per budget a handful of numbers. Fires once
// per episode: re-armed when a window closes below the multiplier.
export interface BurnRateOptions {
  windowMs: number
  multiplier: number
  /** Completed windows before the baseline counts. */
  baselineWindows: number
  maxKeys?: number
}

export interface BurnAnomaly {
  /** Units per minute over the current window. */
  current_rate: number
  baseline_rate: number
  multiplier: number
  window_seconds: number
}

interface BurnState {
  start: number
  spend: number
  baseline: number
  windows: number
  firing: boolean
}

/** Weight of the newest window in the baseline's moving average. */
const BASELINE_WEIGHT = 0.3

export class BurnRateDetector {
  private readonly states = new Map<string, BurnState>()
  private readonly maxKeys: number

  constructor(readonly options: BurnRateOptions) {
    this.maxKeys = options.maxKeys ?? 100_000
  }

  /** Spend of `amount` on a budget at `nowMs`; returns the anomaly when this spend makes one. */
  observe(key: string, amount: number, nowMs: number): BurnAnomaly | undefined {
    const s = this.stateOf(key, nowMs)
    s.spend += amount
    if (s.firing || s.windows < this.options.baselineWindows || s.baseline <= 0) return undefined
    const current = this.perMinute(s.spend)
    if (current < this.options.multiplier * s.baseline) return undefined
    s.firing = true
    return {current_rate: current, baseline_rate: s.baseline, multiplier: current / s.baseline, window_seconds: Math.round(this.options.windowMs / 1000)}
  }

  private perMinute(spend: number): number {
    return spend / (this.options.windowMs / 60_000)
  }

  private stateOf(key: string, nowMs: number): BurnState {
    let s = this.states.get(key)
    if (!s) {
      if (this.states.size >= this.maxKeys) this.states.delete(this.states.keys().next().value!)
      s = {start: nowMs, spend: 0, baseline: 0, windows: 0, firing: false}
      this.states.set(key, s)
      return s
    }
    // Close every window that ended (idle ones count as zero spend; at most a few dozen folded one by one).
    let closed = 0
    while (nowMs - s.start >= this.options.windowMs && closed < 64) {
      const rate = this.perMinute(s.spend)
      if (s.firing && rate < this.options.multiplier * s.baseline) s.firing = false
      s.baseline = s.windows === 0 ? rate : BASELINE_WEIGHT * rate + (1 - BASELINE_WEIGHT) * s.baseline
      s.windows++
      s.spend = 0
      s.start += this.options.windowMs
      closed++
    }
    if (nowMs - s.start >= this.options.windowMs) s.start = nowMs
    return s
  }
}
