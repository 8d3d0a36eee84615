// Replays every case of the official impl/test-vectors.yaml (read from the spec folder at test time)
// against one real daemon over a socket, in file order, as the vectors assume (vector 1's hold is why
// later vectors see 45000 remaining). Each vector's policy_context becomes the governing policy
// (seeded from the config under its policy_id, then PATCHed to the vector's rules and raised above the
// others), tenant_context is applied with PATCH /v1/admin/tenants, and counter_state is reached with
// zero-estimate live reservations (they count, but hold nothing). The daemon's clock is pinned to
// 2026-04-09T14:32:10Z, the time the vectors' window keys name.
//
// Compared: status, decision, reservation_id presence, error code and (quota) message, every field of
// deny_detail the vector gives (suggested_fix only where the vector's wording is ours, see FIX), the
// remaining balances of vector 1 and the observe vectors, and the side_effects (no balance, no counter
// changed). Not compared: emitted_event (events are another branch's work), affected_scopes as
// objects (the v0.1.25 wire sends scope strings; the vectors are non-normative there).
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {SPEC_CHECKS, SPEC_DIR, specErrors} from '../support/spec.js'
import {ADMIN_KEY, V26, admin, extErrors} from './support.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const NOW = Date.parse('2026-04-09T14:32:10Z')

interface Vector {
  id: string
  policy_context?: Record<string, any>
  tenant_context?: {observe_mode: string}
  counter_state?: Record<string, any>
  request: {method: string; path: string; body: Record<string, any>}
  response: {status: number; body: Record<string, any>}
  side_effects?: {balance_changed: boolean; counters_changed: boolean}
}

const vectors: Vector[] = SPEC_CHECKS ? (YAML.parse(fs.readFileSync(path.join(SPEC_DIR!, 'impl/test-vectors.yaml'), 'utf8')).test_vectors as Vector[]) : []

/** Vectors whose suggested_fix wording we reproduce exactly. */
const FIX = new Set(['deny_action_kind_denied', 'deny_action_kind_not_allowed', 'deny_risk_class_quota', 'deny_budget_exceeded', 'deny_burst_per_minute'])

function policyRules(ctx: Record<string, any>) {
  return {
    allowed_action_kinds: ctx.allowed_action_kinds ?? [],
    denied_action_kinds: ctx.denied_action_kinds ?? [],
    action_quotas: ctx.action_quotas ?? [],
    risk_class_quotas: ctx.risk_class_quotas ?? [],
  }
}

function configFor(all: Vector[]): string {
  const seen = new Map<string, Record<string, any>>()
  for (const v of all) if (v.policy_context && !seen.has(v.policy_context.policy_id)) seen.set(v.policy_context.policy_id, v.policy_context)
  const policies = [...seen.values()].map((c) => ({id: c.policy_id, tenant: 'acme', name: c.policy_id, scope_pattern: 'tenant:acme/*', ...policyRules(c)}))
  return YAML.stringify({
    admin_key: ADMIN_KEY,
    tenants: [{id: 'acme'}],
    api_keys: [{tenant: 'acme', secret: KEY}],
    budgets: [
      {scope: 'tenant:acme', unit: 'USD_MICROCENTS', allocated: 1_000_000},
      {scope: 'tenant:acme/agent:support-bot', unit: 'USD_MICROCENTS', allocated: 50_000},
    ],
    tiers: {low: {mode: 'enforce', match: []}, medium: {mode: 'enforce', match: []}, high: {mode: 'enforce', match: ['*']}},
    policies,
  })
}

let d: TestDaemon
let seq = 0
let priority = 10
const auth = {'X-Cycles-API-Key': KEY, ...V26}

async function balances(): Promise<Record<string, number>> {
  const res = await call(d.url, 'GET', '/v1/balances?tenant=acme', undefined, auth)
  expect(res.status).toBe(200)
  return Object.fromEntries((res.body.balances as any[]).map((b) => [b.scope_path, b.remaining.amount]))
}

async function counters(): Promise<string> {
  const res = await admin(d.daemon.adminUrl, 'GET', '/v1/admin/action-quota-counters?tenant_id=acme&include_zero=true&limit=200')
  expect(res.status).toBe(200)
  return JSON.stringify(res.body.counters)
}

/** The first quota of the context, as GET /v1/admin/action-quota-counters filters name it. */
async function usedOf(ctx: Record<string, any>, runId: string): Promise<number> {
  const risk = ctx.risk_class_quotas?.[0]
  const q = risk ?? ctx.action_quotas[0]
  const query = new URLSearchParams({tenant_id: 'acme', action_kind: risk ? '__risk__' : q.action_kind, window: q.window, include_zero: 'true'})
  if (q.window === 'per_run') query.set('run_id', runId)
  const res = await admin(d.daemon.adminUrl, 'GET', `/v1/admin/action-quota-counters?${query}`)
  expect(res.status).toBe(200)
  const state = (res.body.counters as any[]).find((c) => !risk || c.risk_class === risk.risk_class)
  return state?.used ?? 0
}

async function arrange(v: Vector): Promise<void> {
  const body = v.request.body
  if (v.policy_context) {
    const res = await admin(d.daemon.adminUrl, 'PATCH', `/v1/admin/policies/${v.policy_context.policy_id}`, {...policyRules(v.policy_context), priority: ++priority})
    expect(res.status, res.text).toBe(200)
  }
  // Counters first (in ENFORCE), then the tenant's observe mode.
  await setObserve('ENFORCE')
  const state = v.counter_state
  if (state && v.policy_context) {
    const target = state.used ?? state.used_before ?? state.per_minute_used
    let current = await usedOf(v.policy_context, body.subject.dimensions.run_id)
    expect(current).toBeLessThanOrEqual(target)
    for (; current < target; current++) {
      const res = await call(d.url, 'POST', '/v1/reservations', {...body, idempotency_key: `seed-${++seq}`, estimate: {...body.estimate, amount: 0}, dry_run: false}, auth)
      expect(res.status, res.text).toBe(200)
    }
    expect(await usedOf(v.policy_context, body.subject.dimensions.run_id)).toBe(target)
  }
  await setObserve(v.tenant_context?.observe_mode ?? 'ENFORCE')
}

let observe = 'ENFORCE'
async function setObserve(mode: string): Promise<void> {
  if (mode === observe) return
  const res = await admin(d.daemon.adminUrl, 'PATCH', '/v1/admin/tenants/acme', {observe_mode: mode}, V26)
  expect(res.status, res.text).toBe(200)
  expect(res.body.observe_mode).toBe(mode)
  observe = mode
}

function expectDenyDetail(actual: any, expected: any, vectorId: string): void {
  expect(extErrors('protocol-ext', 'DenyDetail', actual)).toBeUndefined()
  expect(actual.reason_code).toBe(expected.reason_code)
  for (const field of ['blocked_by_policy', 'blocked_by_scope', 'budget_remaining'] as const) if (expected[field] !== undefined) expect(actual[field], field).toEqual(expected[field])
  if (expected.quota_violation) expect(actual.quota_violation).toEqual(expected.quota_violation)
  if (expected.suggested_fix && FIX.has(vectorId)) expect(actual.suggested_fix).toBe(expected.suggested_fix)
  else if (expected.suggested_fix) expect(actual.suggested_fix).toContain(expected.blocked_by_policy ?? expected.blocked_by_scope)
}

beforeAll(async () => {
  if (!SPEC_CHECKS) return
  d = await startTestDaemon(configFor(vectors), {now: () => NOW, adminPort: 0})
})
afterAll(async () => d?.stop())

describe.runIf(SPEC_CHECKS)('impl/test-vectors.yaml over a real socket (needs the official spec files: CYCLES_SPEC_DIR)', () => {
  it('has the twelve vectors this scope covers', () => {
    expect(vectors.map((v) => v.id)).toEqual([
      'allow_happy_path',
      'deny_action_kind_denied',
      'deny_action_kind_not_allowed',
      'deny_risk_class_quota',
      'deny_per_kind_quota',
      'deny_budget_exceeded',
      'observe_mode_deny',
      'observe_mode_allow',
      'threshold_crossing',
      'per_request_observe_override',
      'deny_burst_per_minute',
      'deny_agent_spawn_quota',
    ])
  })

  // Sequential on purpose: the vectors share one tenant's state in file order.
  for (const v of vectors) {
    it(`${v.id}`, async () => {
      await arrange(v)
      const beforeBalances = await balances()
      const beforeCounters = await counters()
      const res = await call(d.url, v.request.method, v.request.path, v.request.body, {...auth, 'X-Idempotency-Key': v.request.body.idempotency_key})
      const want = v.response
      expect(res.status, res.text).toBe(want.status)
      if (want.status === 200) {
        const {deny_detail, ...base} = res.body
        expect(specErrors('runtime', 'ReservationCreateResponse', base), res.text).toBeUndefined()
        expect(res.body.decision).toBe(want.body.decision)
        expect('reservation_id' in res.body).toBe('reservation_id' in want.body)
        for (const s of want.body.affected_scopes ?? []) expect(res.body.affected_scopes).toContain(s.scope)
        if (want.body.deny_detail) expectDenyDetail(deny_detail, want.body.deny_detail, v.id)
        else expect(deny_detail).toBeUndefined()
        const remaining = (want.body.affected_scopes ?? []).filter((s: any) => s.remaining)
        const after = await balances()
        // A live ALLOW's response shows the post-hold balance; a dry-run's the balance it was judged on.
        for (const s of remaining) expect(res.body.balances?.find((b: any) => b.scope_path === s.scope)?.remaining.amount ?? after[s.scope], s.scope).toBe(s.remaining.amount)
      } else {
        expect(extErrors('protocol-ext', 'ErrorCodeExtension', res.body.error)).toBeUndefined()
        expect(specErrors('runtime', 'ErrorResponse', {...res.body, error: 'BUDGET_EXCEEDED'}), res.text).toBeUndefined()
        expect(res.body.error).toBe(want.body.error)
        if (want.body.error === 'ACTION_QUOTA_EXCEEDED') expect(res.body.message).toBe(want.body.message)
        expectDenyDetail(res.body.details.deny_detail, want.body.details.deny_detail, v.id)
      }
      if (v.side_effects) {
        expect((await balances()) !== undefined && JSON.stringify(await balances())).toBe(JSON.stringify(beforeBalances))
        expect(await counters()).toBe(beforeCounters)
      }
      // Keep the vectors' shared baseline (vector 1's hold only): release what later vectors would see.
      if (v.id !== 'allow_happy_path' && res.body.reservation_id) {
        const released = await call(d.url, 'POST', `/v1/reservations/${res.body.reservation_id}/release`, {idempotency_key: `rel-${v.id}`}, auth)
        expect(released.status).toBe(200)
      }
    })
  }
})
