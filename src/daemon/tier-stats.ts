// Per-tier live statistics of this daemon instance, in minute buckets kept for 25 hours: what
// `GET /v1/admin/rollout` reports, what `cycles tier set … enforce` previews and what the guard
// takes its fallback baseline from. Fed from every decision record as it is written; O(1) per record
// (one bucket, a few additions). Counters are per instance and start empty at each start.
import {type DecisionRecord, isDenialReason} from '../decision-log/record.js'
import {TIERS, type Tier} from '../protocol/types.js'

const MINUTE_MS = 60_000
/** Buckets kept per tier: 25 h, so "the last 24 hours" is always whole. */
export const KEEP_MINUTES = 25 * 60


// Field offsets inside one bucket.
const REQUESTS = 0
const ENFORCED = 1
const ENFORCED_DENIALS = 2
const WOULD_DENIALS = 3
const COMMITS = 4
const COMMIT_ESTIMATE = 5
const COMMIT_ACTUAL = 6
const OVERAGES = 7
const FIELDS = 8

export interface TierStatsView {
  /** The covered span: [since_ms, until_ms]. */
  since_ms: number
  until_ms: number
  window_seconds: number
  /** Live reservations and events answered with a decision (allow, budget or policy denial). */
  requests: number
  enforced_requests: number
  enforced_denials: number
  /** enforced_denials / enforced_requests (0 without enforced requests). */
  enforced_denial_rate: number
  /** Requests full enforcement would have denied (the shadow book's answer), whatever mode they got. */
  would_denials: number
  would_denial_rate: number
  commits: number
  /** Sum of estimates over sum of actuals of the commits (0 without commits). */
  reserve_commit_ratio: number
  /** Share of commits whose actual exceeded the estimate. */
  overage_rate: number
  overages: number
  commit_estimate: number
  commit_actual: number
}

type Counted = Pick<DecisionRecord, 'endpoint' | 'dry_run' | 'decision' | 'reason_code' | 'http_status' | 'store_error' | 'policy_id'>

/** How a record counts: a decision (allow, budget or policy denial) of a live reserve or an event, a settled commit, or nothing. */
export function recordKind(r: Counted): 'decision' | 'commit' | undefined {
  if (r.store_error !== undefined || r.http_status >= 500) return undefined
  if ((r.endpoint === 'reserve' && !r.dry_run) || r.endpoint === 'event') {
    return r.decision !== 'DENY' || isDenialReason(r.reason_code, r.policy_id) ? 'decision' : undefined
  }
  if (r.endpoint === 'commit' && r.decision !== 'DENY' && r.http_status === 200) return 'commit'
  return undefined
}

/** A budget or policy denial the record answered. */
export const isDenial = (r: Pick<DecisionRecord, 'decision' | 'reason_code' | 'policy_id'>): boolean => r.decision === 'DENY' && isDenialReason(r.reason_code, r.policy_id)
/** A budget or policy denial full enforcement would have answered (the shadow book's answer). */
export const isWouldDenial = (r: Pick<DecisionRecord, 'would_decision' | 'would_reason_code' | 'decision' | 'reason_code' | 'policy_id'>): boolean =>
  r.would_decision === 'DENY' && isDenialReason(r.would_reason_code ?? r.reason_code, r.policy_id)

export class TierStats {
  private readonly buckets = new Map<Tier, Float64Array>()
  /** The minute each bucket slot currently holds (-1: empty). */
  private readonly stamps = new Map<Tier, Float64Array>()

  constructor(readonly startedAtMs: number) {
    for (const t of TIERS) {
      this.buckets.set(t, new Float64Array(KEEP_MINUTES * FIELDS))
      this.stamps.set(t, new Float64Array(KEEP_MINUTES).fill(-1))
    }
  }

  /** Count one decision record written at `nowMs`. */
  observe(r: DecisionRecord, nowMs: number): void {
    const kind = recordKind(r)
    if (!kind) return
    const b = this.bucket(r.tier, nowMs)
    if (!b) return
    const [values, at] = b
    if (kind === 'decision') {
      values[at + REQUESTS]++
      if (r.mode === 'enforce') {
        values[at + ENFORCED]++
        if (isDenial(r)) values[at + ENFORCED_DENIALS]++
      }
      if (isWouldDenial(r)) values[at + WOULD_DENIALS]++
    } else if (r.estimate !== undefined && r.actual !== undefined) {
      values[at + COMMITS]++
      values[at + COMMIT_ESTIMATE] += r.estimate
      values[at + COMMIT_ACTUAL] += r.actual
      if (r.actual > r.estimate) values[at + OVERAGES]++
    }
  }

  /** The tier's figures over [sinceMs, nowMs], bounded by what is kept (25 h) and by the start of this instance. */
  query(tier: Tier, sinceMs: number, nowMs: number): TierStatsView {
    const oldestKept = (Math.floor(nowMs / MINUTE_MS) - KEEP_MINUTES + 1) * MINUTE_MS
    const since = Math.min(nowMs, Math.max(sinceMs, oldestKept, this.startedAtMs))
    const sums = new Float64Array(FIELDS)
    const values = this.buckets.get(tier)!
    const stamps = this.stamps.get(tier)!
    const first = Math.floor(since / MINUTE_MS)
    const last = Math.floor(nowMs / MINUTE_MS)
    for (let minute = first; minute <= last; minute++) {
      const slot = minute % KEEP_MINUTES
      if (stamps[slot] !== minute) continue
      for (let f = 0; f < FIELDS; f++) sums[f] += values[slot * FIELDS + f]
    }
    const rate = (n: number, d: number) => (d > 0 ? n / d : 0)
    return {
      since_ms: since,
      until_ms: nowMs,
      window_seconds: Math.round((nowMs - since) / 1000),
      requests: sums[REQUESTS],
      enforced_requests: sums[ENFORCED],
      enforced_denials: sums[ENFORCED_DENIALS],
      enforced_denial_rate: rate(sums[ENFORCED_DENIALS], sums[ENFORCED]),
      would_denials: sums[WOULD_DENIALS],
      would_denial_rate: rate(sums[WOULD_DENIALS], sums[REQUESTS]),
      commits: sums[COMMITS],
      reserve_commit_ratio: rate(sums[COMMIT_ESTIMATE], sums[COMMIT_ACTUAL]),
      overage_rate: rate(sums[OVERAGES], sums[COMMITS]),
      overages: sums[OVERAGES],
      commit_estimate: sums[COMMIT_ESTIMATE],
      commit_actual: sums[COMMIT_ACTUAL],
    }
  }

  /** The bucket of `nowMs` (reset when it still holds an older minute). */
  private bucket(tier: Tier, nowMs: number): [Float64Array, number] | undefined {
    const values = this.buckets.get(tier)
    const stamps = this.stamps.get(tier)
    if (!values || !stamps) return undefined
    const minute = Math.floor(nowMs / MINUTE_MS)
    const slot = minute % KEEP_MINUTES
    if (stamps[slot] !== minute) {
      values.fill(0, slot * FIELDS, slot * FIELDS + FIELDS)
      stamps[slot] = minute
    }
    return [values, slot * FIELDS]
  }
}

/** The shadow would-deny rate over [fromMs, toMs] (the guard's baseline when no step recorded one). */
export function wouldDenyRate(stats: TierStats, tier: Tier, fromMs: number, toMs: number): {denial_rate: number; requests: number} {
  const v = stats.query(tier, fromMs, toMs)
  return {denial_rate: v.would_denial_rate, requests: v.requests}
}
