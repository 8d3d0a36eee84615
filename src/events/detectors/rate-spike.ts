// A rate over a sliding window against a threshold (reservation.denial_rate_spike,
// api_key.auth_failure_rate_spike). Per key two fixed windows (the previous one weighted by how much
// of it still overlaps the sliding window): O(1) state, no timestamps kept. A spike fires once when
// the rate reaches the threshold with enough samples, and is re-armed only when the rate has fallen
// below half the threshold, so a rate hovering at the threshold does not fire on every request.
export interface RateSpikeOptions {
  /** Share (0–1] of hits among samples. */
  threshold: number
  windowMs: number
  /** Fewer samples in the window never make a spike. */
  minSamples: number
  /** Keys tracked at most (oldest forgotten first). */
  maxKeys?: number
}

export interface RateSpike {
  rate: number
  samples: number
  hits: number
}

interface Window {
  start: number
  prevHits: number
  prevTotal: number
  hits: number
  total: number
  firing: boolean
}

export class RateSpikeDetector {
  private readonly windows = new Map<string, Window>()
  private readonly maxKeys: number

  constructor(readonly options: RateSpikeOptions) {
    this.maxKeys = options.maxKeys ?? 10_000
  }

  /** One sample; returns the spike when this sample makes one. */
  observe(key: string, hit: boolean, nowMs: number): RateSpike | undefined {
    const w = this.windowOf(key, nowMs)
    w.total++
    if (hit) w.hits++
    const {rate, samples, hits} = this.current(w, nowMs)
    if (w.firing) {
      if (rate < this.options.threshold / 2) w.firing = false
      return undefined
    }
    if (samples >= this.options.minSamples && rate >= this.options.threshold) {
      w.firing = true
      return {rate, samples: Math.round(samples), hits: Math.round(hits)}
    }
    return undefined
  }

  private current(w: Window, nowMs: number): {rate: number; samples: number; hits: number} {
    const overlap = Math.max(0, 1 - (nowMs - w.start) / this.options.windowMs)
    const samples = w.total + w.prevTotal * overlap
    const hits = w.hits + w.prevHits * overlap
    return {rate: samples > 0 ? hits / samples : 0, samples, hits}
  }

  private windowOf(key: string, nowMs: number): Window {
    let w = this.windows.get(key)
    if (!w) {
      if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value!)
      w = {start: nowMs, prevHits: 0, prevTotal: 0, hits: 0, total: 0, firing: false}
      this.windows.set(key, w)
      return w
    }
    const elapsed = nowMs - w.start
    if (elapsed >= 2 * this.options.windowMs) {
      Object.assign(w, {start: nowMs, prevHits: 0, prevTotal: 0, hits: 0, total: 0})
    } else if (elapsed >= this.options.windowMs) {
      Object.assign(w, {start: w.start + this.options.windowMs, prevHits: w.hits, prevTotal: w.total, hits: 0, total: 0})
    }
    return w
  }
}
