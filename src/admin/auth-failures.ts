// Failed authentication on the admin plane: limited per source and aggregated per source and window.
//
// Without this, every wrong-key request wrote its own audit row, so a fast flood could push real
// rows out of the capped log. Now a source that fails authentication `maxFailures` times in a
// window is answered 429 LIMIT_EXCEEDED (with Retry-After) until the window ends, whatever key it
// sends next, and all of a source's unauthenticated failures in one window become one audit row
// with counts. Windows are fixed and aligned to the clock, so they all close together.
//
// Memory is bounded: at most `maxSources` sources are tracked per window; failures from further
// sources share one bucket (source "*") with its own limit, which a distributed flood fills at once.

export interface AuthFailureOptions {
  /** Failed authentications per source and window before the source gets 429 (default 300, as the reference's per-minute default). */
  maxFailures?: number
  windowMs?: number
  maxSources?: number
  now?: () => number
}

export const OVERFLOW_SOURCE = '*'

/** One source's unauthenticated failures in one window: what its aggregated audit row reports. */
export interface FailureWindow {
  source: string
  window_start_ms: number
  window_end_ms: number
  first_at_ms: number
  last_at_ms: number
  /** Every unauthenticated failed request (401s, 429s, unknown routes, malformed bodies). */
  count: number
  /** Failed authentications (401): what the limit counts. */
  auth_failures: number
  /** Requests refused with 429 because the source was over its limit. */
  rate_limited: number
  by_status: Record<string, number>
  by_error_code: Record<string, number>
  /** Request count per `METHOD:path`, at most MAX_OPERATIONS distinct ones (the rest under "other"). */
  operations: Record<string, number>
  user_agent?: string
}

const MAX_OPERATIONS = 10

export class AuthFailureLimiter {
  readonly maxFailures: number
  readonly windowMs: number
  private readonly maxSources: number
  private readonly now: () => number
  private windowStart = Number.NEGATIVE_INFINITY
  private open = new Map<string, FailureWindow>()
  private closed: FailureWindow[] = []

  constructor(options: AuthFailureOptions = {}) {
    this.maxFailures = options.maxFailures ?? 300
    this.windowMs = options.windowMs ?? 60_000
    this.maxSources = options.maxSources ?? 10_000
    this.now = options.now ?? Date.now
  }

  /** Seconds until the source may try again, or undefined if it is not over its limit. */
  retryAfterS(source: string | undefined): number | undefined {
    this.roll()
    if (this.open.size === 0) return undefined
    const w = this.open.get(this.sourceKey(source)) ?? (this.open.size >= this.maxSources ? this.open.get(OVERFLOW_SOURCE) : undefined)
    if (!w || w.auth_failures < this.maxFailures) return undefined
    return Math.max(1, Math.ceil((w.window_end_ms - this.now()) / 1000))
  }

  /** Count one unauthenticated failed request from `source`. */
  record(source: string | undefined, failure: {operation: string; status: number; error_code?: string; user_agent?: string}): void {
    this.roll()
    const now = this.now()
    const w = this.windowOf(this.sourceKey(source), now)
    w.count++
    w.last_at_ms = now
    if (failure.status === 401) w.auth_failures++
    if (failure.status === 429) w.rate_limited++
    w.by_status[failure.status] = (w.by_status[failure.status] ?? 0) + 1
    if (failure.error_code) w.by_error_code[failure.error_code] = (w.by_error_code[failure.error_code] ?? 0) + 1
    const op = failure.operation in w.operations || Object.keys(w.operations).length < MAX_OPERATIONS ? failure.operation : 'other'
    w.operations[op] = (w.operations[op] ?? 0) + 1
    if (failure.user_agent && !w.user_agent) w.user_agent = failure.user_agent.slice(0, 256)
  }

  /** Windows that have closed since the last call (all open ones too with `all`, e.g. on shutdown). */
  drain(all = false): FailureWindow[] {
    this.roll()
    const out = this.closed
    this.closed = []
    if (all) {
      out.push(...this.open.values())
      this.open = new Map()
    }
    return out
  }

  /** Sources tracked in the current window (for tests and status). */
  get trackedSources(): number {
    return this.open.size
  }

  private sourceKey(source: string | undefined): string {
    return source && source !== '' ? source : 'unknown'
  }

  private windowOf(key: string, now: number): FailureWindow {
    let w = this.open.get(key)
    if (w) return w
    if (this.open.size >= this.maxSources) {
      key = OVERFLOW_SOURCE
      w = this.open.get(key)
      if (w) return w
    }
    w = {
      source: key,
      window_start_ms: this.windowStart,
      window_end_ms: this.windowStart + this.windowMs,
      first_at_ms: now,
      last_at_ms: now,
      count: 0,
      auth_failures: 0,
      rate_limited: 0,
      by_status: {},
      by_error_code: {},
      operations: {},
    }
    this.open.set(key, w)
    return w
  }

  /** Close the current window once the clock has left it. */
  private roll(): void {
    const now = this.now()
    if (now < this.windowStart + this.windowMs) return
    if (this.open.size > 0) {
      this.closed.push(...this.open.values())
      this.open = new Map()
    }
    this.windowStart = now - (now % this.windowMs)
  }
}
