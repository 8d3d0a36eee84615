// Per-tier live statistics (src/daemon/tier-stats.ts), clock injected: what counts as a request, an
// enforced denial, a would-be denial and a commit; minute buckets reused after 25 h; the covered span
// bounded by the instance's start and what is kept.
import {describe, expect, it} from 'vitest'

import type {DecisionRecord} from '../../src/decision-log/record.js'
import {KEEP_MINUTES, TierStats, recordKind} from '../../src/daemon/tier-stats.js'

const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000) // a minute boundary
const rec = (o: Partial<DecisionRecord>): DecisionRecord =>
  ({v: 1, id: 'x', ts: '', endpoint: 'reserve', request_id: 'r', trace_id: 't', tenant: 'acme', dry_run: false, mode: 'shadow', tier: 'low', decision: 'ALLOW', would_decision: 'ALLOW', http_status: 200, latency_us: 1, ...o}) as DecisionRecord

describe('TierStats', () => {
  it('counts live budget decisions, enforced denials, would-be denials and commits; ignores dry-runs, decides, caller errors and outages', () => {
    const s = new TierStats(T0)
    const at = T0 + 1000
    s.observe(rec({}), at) // shadow allow
    s.observe(rec({would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED'}), at) // shadow, would deny
    s.observe(rec({mode: 'enforce', decision: 'DENY', reason_code: 'BUDGET_EXCEEDED', would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED', http_status: 409}), at)
    s.observe(rec({mode: 'enforce'}), at)
    s.observe(rec({endpoint: 'event', mode: 'enforce', decision: 'DENY', reason_code: 'BUDGET_FROZEN', would_decision: 'DENY', would_reason_code: 'BUDGET_FROZEN', http_status: 409}), at)
    s.observe(rec({endpoint: 'commit', estimate: 1000, actual: 1500}), at)
    s.observe(rec({endpoint: 'commit', estimate: 1000, actual: 500}), at)
    // not counted:
    s.observe(rec({dry_run: true, decision: 'DENY', reason_code: 'BUDGET_EXCEEDED'}), at)
    s.observe(rec({endpoint: 'decide', decision: 'DENY', reason_code: 'BUDGET_EXCEEDED'}), at)
    s.observe(rec({mode: 'enforce', decision: 'DENY', reason_code: 'INVALID_REQUEST', http_status: 400}), at)
    s.observe(rec({mode: 'enforce', decision: 'DENY', reason_code: 'INTERNAL_ERROR', http_status: 503}), at)
    s.observe(rec({mode: 'enforce', store_error: 'ECONNREFUSED'}), at)
    s.observe(rec({endpoint: 'commit', decision: 'DENY', reason_code: 'BUDGET_EXCEEDED', http_status: 409, estimate: 1, actual: 9}), at)
    s.observe(rec({tier: 'high'}), at)
    const v = s.query('low', T0, T0 + 2000)
    expect(v).toMatchObject({requests: 5, enforced_requests: 3, enforced_denials: 2, would_denials: 3, commits: 2, overages: 1, commit_estimate: 2000, commit_actual: 2000})
    expect(v.enforced_denial_rate).toBeCloseTo(2 / 3, 12)
    expect(v.would_denial_rate).toBeCloseTo(3 / 5, 12)
    expect(v.reserve_commit_ratio).toBe(1)
    expect(v.overage_rate).toBe(0.5)
    expect(s.query('high', T0, T0 + 2000).requests).toBe(1)
    expect(recordKind(rec({endpoint: 'release'}))).toBeUndefined()
  })

  it('covers [since, now] by whole minutes, never before its start, and forgets what is older than 25 h', () => {
    const s = new TierStats(T0)
    s.observe(rec({}), T0 + 30_000) // minute 0
    s.observe(rec({}), T0 + 90_000) // minute 1
    s.observe(rec({}), T0 + 90_000)
    expect(s.query('low', T0 - 3_600_000, T0 + 120_000)).toMatchObject({requests: 3, since_ms: T0})
    expect(s.query('low', T0 + 60_000, T0 + 120_000).requests).toBe(2)
    // 25 h later the slot of minute 0 is reused: its count is gone (not added); minute 1 is still kept.
    const later = T0 + KEEP_MINUTES * 60_000 + 30_000
    s.observe(rec({would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED'}), later)
    const v = s.query('low', T0, later)
    expect(v).toMatchObject({requests: 3, would_denials: 1})
    expect(v.since_ms).toBe(later - 30_000 - (KEEP_MINUTES - 1) * 60_000)
    expect(v.window_seconds).toBe(Math.round((later - v.since_ms) / 1000))
  })
})
