// Policy denials in the rollout guard's figures, over a real daemon with a pinned clock: a live
// reserve refused by a policy (quota, rate limit, denied / not-allowed kind, missing approval) is a
// denial of its tier, in the per-tier statistics and in the guard's window, so a quota or limit set too
// tight by a rollout step trips the guard; a shadowed policy would-denial counts in the would-deny rate
// the guard takes its baseline from. The guard is ticked by hand on the pinned clock.
import {afterEach, describe, expect, it} from 'vitest'

import {isDenial, recordKind} from '../../src/daemon/tier-stats.js'
import type {DecisionRecord} from '../../src/decision-log/record.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {ADMIN_KEY} from './support.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const W = 10
const T0 = Date.parse('2026-11-28T10:00:00Z') // a minute boundary: the per-minute windows cannot roll mid-test

const config = (policies: string) => `
admin_key: ${ADMIN_KEY}
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 100000000}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: enforce, match: ["payment.*", "db.*", "code.*"]}
  high: {mode: shadow, match: ["email.*"]}
rollout:
  guard: {ratio: 3, min_denial_rate: 0.01, min_requests: 10, window_seconds: ${W}}
policies:
${policies}
`

let d: TestDaemon | undefined
let clock = T0
let n = 0
afterEach(async () => {
  await d?.stop()
  d = undefined
})

const reserve = (workspace: string, kind: string) =>
  call(d!.url, 'POST', '/v1/reservations', {idempotency_key: `g${++n}`, subject: {tenant: 'acme', workspace}, action: {kind, name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}}, {'X-Cycles-API-Key': KEY})

describe('policy denials in the guard figures', () => {
  it('a per-minute quota too tight for the traffic of an enforced tier trips the guard: the tier is sent back to shadow', async () => {
    clock = T0
    d = await startTestDaemon(
      config(`  - {id: pol_tight, tenant: acme, name: tight, scope_pattern: "tenant:acme", action_quotas: [{action_kind: search.web, max_calls: 3, window: per_minute_tumbling}]}`),
      {adminPort: 0, now: () => clock},
    )
    const statuses: number[] = []
    // One whole window of traffic, 5 reserves a second, the guard judging every half second.
    for (let step = 0; step <= W * 2; step++) {
      clock = T0 + step * 500
      if (step % 2 === 0 && step < W * 2) for (let k = 0; k < 5; k++) statuses.push((await reserve('search', 'search.web')).status)
      d.daemon.guard.tick()
      await d.daemon.guard.settled()
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(3)
    expect(statuses.filter((s) => s === 409)).toHaveLength(47)
    expect(d.daemon.control.tiers.low).toBe('shadow')
    expect(d.daemon.tierStats.query('low', T0, clock)).toMatchObject({requests: 50, enforced_requests: 50, enforced_denials: 47})
    const trip = d.daemon.control.rollout?.guard_trips?.low
    expect(trip).toMatchObject({kind: 'denial_rate', baseline: 0, threshold: 0.01, window_seconds: W})
    expect(trip!.requests).toBeGreaterThanOrEqual(10)
    expect(trip!.denials! / trip!.requests).toBeGreaterThanOrEqual(0.9)
    expect(trip!.denial_rate).toBe(trip!.denials! / trip!.requests)
    // In shadow the quota no longer refuses: admitted, and the would-be denial is recorded.
    const after = await reserve('search', 'search.web')
    expect(after.status).toBe(200)
    expect(after.headers.get('x-cycles-shadow-reason')).toBe('ACTION_QUOTA_EXCEEDED')
  })

  it('every kind of policy denial counts as a denial of its tier (429 rate limit included); a shadowed one as a would-denial', async () => {
    clock = T0
    d = await startTestDaemon(
      config(`  - {id: pol_pay, tenant: acme, name: pay, scope_pattern: "tenant:acme/workspace:pay", denied_action_kinds: [payment.charge, email.send]}
  - {id: pol_db, tenant: acme, name: db, scope_pattern: "tenant:acme/workspace:db", allowed_action_kinds: [db.query]}
  - {id: pol_rate, tenant: acme, name: rate, scope_pattern: "tenant:acme/workspace:rate", rate_limits: {max_reservations_per_minute: 1}}
  - {id: pol_ops, tenant: acme, name: ops, scope_pattern: "tenant:acme/workspace:ops", approval_required_action_kinds: [code.deploy]}
  - {id: pol_quota, tenant: acme, name: quota, scope_pattern: "tenant:acme/workspace:quota", action_quotas: [{action_kind: db.query, max_calls: 1, window: per_minute_tumbling}]}`),
      {adminPort: 0, now: () => clock},
    )
    const answers = [
      await reserve('pay', 'payment.charge'), // ACTION_KIND_DENIED
      await reserve('db', 'db.insert'), // ACTION_KIND_NOT_ALLOWED
      await reserve('rate', 'db.query'), // admitted
      await reserve('rate', 'db.query'), // 429 LIMIT_EXCEEDED
      await reserve('ops', 'code.deploy'), // APPROVAL_REQUIRED (no gate: fails closed)
      await reserve('quota', 'db.query'), // admitted
      await reserve('quota', 'db.query'), // ACTION_QUOTA_EXCEEDED
    ]
    expect(answers.map((a) => a.status)).toEqual([409, 409, 200, 429, 409, 200, 409])
    expect(answers.map((a) => a.body.error ?? a.body.decision)).toEqual(['ACTION_KIND_DENIED', 'ACTION_KIND_NOT_ALLOWED', 'ALLOW', 'LIMIT_EXCEEDED', 'ACTION_KIND_NOT_ALLOWED', 'ALLOW', 'ACTION_QUOTA_EXCEEDED'])
    expect(d.daemon.tierStats.query('medium', T0, clock)).toMatchObject({requests: 7, enforced_requests: 7, enforced_denials: 5, enforced_denial_rate: 5 / 7})

    // A shadowed tier: admitted, and the policy's would-be denial is the figure the guard's baseline reads.
    expect((await reserve('pay', 'email.send')).status).toBe(200)
    expect((await reserve('pay', 'email.send')).status).toBe(200)
    expect(d.daemon.tierStats.query('high', T0, clock)).toMatchObject({requests: 2, enforced_requests: 0, would_denials: 2, would_denial_rate: 1})

    // The guard's own window counts the same denials (judged once the slice is complete).
    clock = T0 + 1000
    d.daemon.guard.tick()
    expect(d.daemon.guard.window('medium')).toMatchObject({requests: 7, denials: 5})
  })

  it('a 429 LIMIT_EXCEEDED is a tier denial only with a policy behind it (the daemon shedding load is no decision)', () => {
    const limited = {v: 1, id: 'x', ts: '', endpoint: 'reserve', request_id: 'r', trace_id: 't', tenant: 'acme', dry_run: false, mode: 'enforce', tier: 'low', decision: 'DENY', reason_code: 'LIMIT_EXCEEDED', would_decision: 'DENY', http_status: 429, latency_us: 1} as DecisionRecord
    expect(recordKind(limited)).toBeUndefined()
    expect(isDenial(limited)).toBe(false)
    expect(recordKind({...limited, policy_id: 'pol_rate'})).toBe('decision')
    expect(isDenial({...limited, policy_id: 'pol_rate'})).toBe(true)
    // A dry-run's denial is no live decision, policy or not.
    expect(recordKind({...limited, policy_id: 'pol_rate', dry_run: true})).toBeUndefined()
  })
})
