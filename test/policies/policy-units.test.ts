// The pure parts of policy evaluation: scope patterns, which policy governs, calendar windows and
// counter ids, the quota check's choice among violated rules; and one daemon check that an
// undeclared custom.* kind is refused even where no policy or custom kind exists at all.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {resolveKind} from '../../src/policies/action-kinds.js'
import {calendarWindow, counterId, counterKeyOf, planPolicy, quotaDenial} from '../../src/policies/evaluate.js'
import {deepestMatch, scopePatternProblem, selectPolicy} from '../../src/policies/match.js'
import type {Policy} from '../../src/policies/types.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

const policy = (over: Partial<Policy>): Policy => ({
  policy_id: 'p',
  tenant_id: 'acme',
  name: 'p',
  scope_pattern: 'tenant:acme/*',
  priority: 0,
  status: 'ACTIVE',
  created_at_ms: 1,
  allowed_action_kinds: [],
  denied_action_kinds: [],
  action_quotas: [],
  risk_class_quotas: [],
  approval_required_action_kinds: [],
  ...over,
})
const SCOPES = ['tenant:acme', 'tenant:acme/workspace:eng', 'tenant:acme/workspace:eng/agent:bot']

describe('scope patterns', () => {
  it.each([
    ['tenant:acme', 'tenant:acme'],
    ['tenant:acme/*', 'tenant:acme/workspace:eng/agent:bot'],
    ['tenant:acme/workspace:eng', 'tenant:acme/workspace:eng'],
    ['agent:*', 'tenant:acme/workspace:eng/agent:bot'],
    ['*/agent:bot', 'tenant:acme/workspace:eng/agent:bot'],
    ['workspace:eng/*', 'tenant:acme/workspace:eng/agent:bot'],
    ['tenant:*/workspace:eng', 'tenant:acme/workspace:eng'],
    ['tenant:globex/*', undefined],
    ['agent:other', undefined],
    ['tenant:acme/workspace:en', undefined],
  ])('%s governs the request at %s', (pattern, scope) => {
    expect(deepestMatch(pattern, SCOPES)).toBe(scope)
  })

  it('refuses malformed patterns', () => {
    expect(scopePatternProblem('tenant:acme/*/agent:x')).toMatch(/first or the last/)
    expect(scopePatternProblem('*')).toMatch(/every scope/)
    expect(scopePatternProblem('team:x')).toMatch(/level/)
    expect(scopePatternProblem('tenant:a b')).toMatch(/value/)
    expect(scopePatternProblem('tenant:acme/*')).toBeUndefined()
  })

  it('the highest priority in effect wins, the earliest created on a tie; disabled and out-of-window policies never', () => {
    const a = policy({policy_id: 'a', priority: 1, created_at_ms: 5})
    const b = policy({policy_id: 'b', priority: 1, created_at_ms: 2})
    const c = policy({policy_id: 'c', priority: 9, status: 'DISABLED'})
    const d = policy({policy_id: 'd', priority: 8, effective_until_ms: 100})
    const e = policy({policy_id: 'e', priority: 7, effective_from_ms: 1000})
    expect(selectPolicy([a, b, c, d, e], SCOPES, 500)?.policy.policy_id).toBe('b')
    expect(selectPolicy([a, b, c, d, e], SCOPES, 50)?.policy.policy_id).toBe('d')
    expect(selectPolicy([a, b, c, d, e], SCOPES, 1000)?.policy.policy_id).toBe('e')
  })
})

describe('windows, counters and the quota check', () => {
  it('calendar buckets are UTC and end at the next boundary', () => {
    const t = Date.parse('2026-04-09T23:59:30.500Z')
    expect(calendarWindow('per_minute_tumbling', t)).toEqual({key: '2026-04-09T23:59', end_ms: Date.parse('2026-04-10T00:00:00Z')})
    expect(calendarWindow('per_hour_tumbling', t)).toEqual({key: '2026-04-09T23', end_ms: Date.parse('2026-04-10T00:00:00Z')})
    expect(calendarWindow('per_day_tumbling', t)).toEqual({key: '2026-04-09', end_ms: Date.parse('2026-04-10T00:00:00Z')})
  })

  it('counter ids round-trip, with separators in the run id escaped', () => {
    const key = {tenant_id: 'acme', scope: 'tenant:acme/agent:bot', action_kind: '__risk__', risk_class: 'high_risk' as const, window: 'per_run' as const, window_key: 'run|1'}
    expect(counterKeyOf(counterId(key))).toEqual(key)
  })

  it('risk-class quotas come first; among per-kind rules the most restrictive violated one is reported; per_run needs a run id', () => {
    const p = policy({
      action_quotas: [
        {action_kind: 'message.email.send', max_calls: 10, window: 'per_hour_tumbling'},
        {action_kind: 'message.email.send', max_calls: 3, window: 'per_run'},
      ],
      risk_class_quotas: [{risk_class: 'external_side_effect', max_calls: 100, window: 'per_day_tumbling'}],
    })
    const resolution = resolveKind('message.email.send', new Map()) as Extract<ReturnType<typeof resolveKind>, {entry: unknown}>
    const req = {tenant: 'acme', kind: 'message.email.send', kindResolution: resolution, run_id: 'r', nowMs: Date.parse('2026-04-09T14:00:00Z')}
    const plan = planPolicy({policy: p, scope: SCOPES[2]}, req)
    expect(plan.counters.map((c) => [c.key.risk_class ?? c.key.action_kind, c.key.window])).toEqual([
      ['external_side_effect', 'per_day_tumbling'],
      ['message.email.send', 'per_hour_tumbling'],
      ['message.email.send', 'per_run'],
    ])
    const used = new Map(plan.counters.map((c) => [c.id, c.limit + 2]))
    expect(quotaDenial(plan, used, req.kind)?.detail.quota_violation).toMatchObject({risk_class: 'external_side_effect', used: 102, limit: 100})
    used.set(plan.counters[0].id, 0)
    used.set(plan.counters[1].id, 10)
    used.set(plan.counters[2].id, 5)
    expect(quotaDenial(plan, used, req.kind)?.detail.quota_violation).toMatchObject({window: 'per_run', used: 5, limit: 3, window_key: 'r'})
    expect(() => planPolicy({policy: p, scope: SCOPES[2]}, {...req, run_id: undefined})).toThrow(/run_id/)
  })

  it('allowlists skip a rule when the policy key is absent, undeclared for the kind, or not listed', () => {
    const p = policy({action_quotas: [{action_kind: 'message.email.send', max_calls: 1, window: 'per_day_tumbling', host_allowlist: ['api.sendgrid.com']}]})
    const resolution = resolveKind('message.email.send', new Map()) as Extract<ReturnType<typeof resolveKind>, {entry: unknown}>
    const base = {tenant: 'acme', kind: 'message.email.send', kindResolution: resolution, nowMs: 0}
    const counted = (keys?: Record<string, string>) => planPolicy({policy: p, scope: 'tenant:acme'}, {...base, policy_keys: keys}).counters.length
    expect(counted({host: 'api.sendgrid.com'})).toBe(1)
    expect(counted({host: 'smtp.example.com'})).toBe(0)
    expect(counted()).toBe(0)
    const unregistered = resolveKind('proprietary.send', new Map()) as Extract<ReturnType<typeof resolveKind>, {entry: unknown}>
    expect(unregistered.entry.risk_class).toBe('side_effect')
    expect('undeclaredCustom' in resolveKind('custom.acme.x', new Map())).toBe(true)
  })
})

describe('undeclared custom kinds without any policy', () => {
  let d: TestDaemon
  const KEY = 'cyc_test_acme_0123456789abcdef'
  beforeAll(async () => {
    d = await startTestDaemon(`
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets: [{scope: "tenant:acme", unit: TOKENS, allocated: 100}]
`)
  })
  afterAll(async () => d?.stop())

  it('are 400 INVALID_REQUEST; other unregistered kinds are evaluated as before', async () => {
    const body = (kind: string) => ({idempotency_key: kind, subject: {tenant: 'acme'}, action: {kind, name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}, dry_run: true})
    const refused = await call(d.url, 'POST', '/v1/reservations', body('custom.acme.erp.post'), {'X-Cycles-API-Key': KEY})
    expect(refused.status).toBe(400)
    expect(refused.body.error).toBe('INVALID_REQUEST')
    expect((await call(d.url, 'POST', '/v1/reservations', body('proprietary.action'), {'X-Cycles-API-Key': KEY})).body.decision).toBe('ALLOW')
  })
})

describe('per_run counters at expiry', () => {
  let d: TestDaemon
  let clock = Date.parse('2026-11-28T09:00:00Z')
  const KEY = 'cyc_test_acme_0123456789abcdef'
  beforeAll(async () => {
    d = await startTestDaemon(
      `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets: [{scope: "tenant:acme", unit: TOKENS, allocated: 100}]
tiers: {low: {mode: enforce, match: []}, medium: {mode: enforce, match: []}, high: {mode: enforce, match: []}}
policies: [{id: pol_run, tenant: acme, name: run, scope_pattern: "tenant:acme", action_quotas: [{action_kind: agent.spawn, max_calls: 1, window: per_run}]}]
`,
      {now: () => clock},
    )
  })
  afterAll(async () => d?.stop())

  it('the expiry sweep gives the run its call back', async () => {
    const reserve = (key: string) =>
      call(d.url, 'POST', '/v1/reservations', {idempotency_key: key, subject: {tenant: 'acme', dimensions: {run_id: 'r'}}, action: {kind: 'agent.spawn', name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}, ttl_ms: 1000, grace_period_ms: 0}, {'X-Cycles-API-Key': KEY})
    const first = await reserve('e1')
    expect(first.status).toBe(200)
    expect((await reserve('e2')).status).toBe(409)
    clock += 10_000
    const id = counterId({tenant_id: 'acme', scope: 'tenant:acme', action_kind: 'agent.spawn', window: 'per_run', window_key: 'r'})
    // The sweep runs every 100 ms in test daemons: wait for the reservation to be expired.
    for (let i = 0; i < 200; i++) {
      const r = await call(d.url, 'GET', `/v1/reservations/${first.body.reservation_id}`, undefined, {'X-Cycles-API-Key': KEY})
      if (r.body.status === 'EXPIRED') break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const [doc] = await d.daemon.store.getDocs('quota-counters', [id])
    expect(doc?.value.used).toBe(0)
    expect((await reserve('e3')).status).toBe(200)
  })
})
