// The shadow analyzer's loop signature, live: a run with loopThreshold reservation attempts within
// loopWindowSeconds (REPORT_DEFAULTS of src/analytics/report.ts: 47 in 90 s). Per run a ring of its
// last loopThreshold attempt times — constant state — and the run is flagged once.
import {REPORT_DEFAULTS} from '../../analytics/report.js'

export interface LoopSignal {
  run_id: string
  count: number
  window_seconds: number
  first_at_ms: number
}

export interface LoopDetectorOptions {
  threshold?: number
  windowSeconds?: number
  /** Runs tracked at most (the least recently seen forgotten first). */
  maxRuns?: number
}

interface RunState {
  times: number[]
  next: number
  seen: number
  flagged: boolean
}

export class LoopDetector {
  readonly threshold: number
  readonly windowMs: number
  private readonly maxRuns: number
  private readonly runs = new Map<string, RunState>()

  constructor(options: LoopDetectorOptions = {}) {
    this.threshold = options.threshold ?? REPORT_DEFAULTS.loopThreshold
    this.windowMs = (options.windowSeconds ?? REPORT_DEFAULTS.loopWindowSeconds) * 1000
    this.maxRuns = options.maxRuns ?? 50_000
  }

  /** One reservation attempt of a run at `nowMs`; returns the signal the first time the run loops. */
  observe(runKey: string, nowMs: number): LoopSignal | undefined {
    let run = this.runs.get(runKey)
    if (run) {
      // Most recently seen last, so the first key is the one to forget.
      this.runs.delete(runKey)
    } else {
      if (this.runs.size >= this.maxRuns) this.runs.delete(this.runs.keys().next().value!)
      run = {times: new Array<number>(this.threshold), next: 0, seen: 0, flagged: false}
    }
    this.runs.set(runKey, run)
    if (run.flagged) return undefined
    run.times[run.next] = nowMs
    run.next = (run.next + 1) % this.threshold
    run.seen++
    if (run.seen < this.threshold) return undefined
    // The oldest of the last `threshold` attempts is where the ring writes next; the analyzer's window is (t − Δ, t].
    const oldest = run.times[run.next]
    if (nowMs - oldest >= this.windowMs) return undefined
    run.flagged = true
    return {run_id: runKey, count: this.threshold, window_seconds: this.windowMs / 1000, first_at_ms: oldest}
  }
}
