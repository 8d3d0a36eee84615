// The built CLI against a real daemon for the v0.1.26 governance admin plane: `cycles api-key create`
// grants action_quotas:read (and the key reads the counters without the deprecation header), and
// `cycles overview` shows the governance section (tenants in observe mode, quotas near their limit,
// access lists, denials by reason) only when there is something to show.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {assertBuilt, cli} from './cli.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {specErrors} from '../support/spec.js'
import {ADMIN_KEY, admin} from '../policies/support.js'

const ACME = 'cyc_test_acme_0123456789abcdef'
const CONFIG = `
admin_key: ${ADMIN_KEY}
tenants: [{id: acme}, {id: globex}]
api_keys: [{tenant: acme, secret: ${ACME}}]
budgets: [{scope: "tenant:acme", unit: TOKENS, allocated: 100000}]
tiers: {low: {mode: enforce, match: []}, medium: {mode: enforce, match: []}, high: {mode: enforce, match: ["*"]}}
`
let d: TestDaemon
let env: Record<string, string>
beforeAll(async () => {
  assertBuilt()
  d = await startTestDaemon(CONFIG, {adminPort: 0})
  env = {CYCLES_ADMIN_URL: d.daemon.adminUrl, CYCLES_ADMIN_API_KEY: ADMIN_KEY}
})
afterAll(async () => d?.stop())

describe('cycles api-key create and overview with v0.1.26 governance', () => {
  it('overview prints no governance lines while there is no governance state', async () => {
    const plain = await cli(['overview'], env)
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stdout).not.toMatch(/Action quotas|Access control|observe_mode|Denials by reason/)
  })

  it('creates a key with action_quotas:read that reads its tenant\'s counters without the deprecation header', async () => {
    const created = await cli(['api-key', 'create', '--tenant', 'acme', '--name', 'quota dashboard', '--permissions', 'action_quotas:read', '--yes', '--json'], env)
    expect(created.code, created.stderr).toBe(0)
    expect(created.json.permissions).toEqual(['action_quotas:read'])
    const counters = await call(d.daemon.adminUrl, 'GET', '/v1/admin/action-quota-counters', undefined, {'X-Cycles-API-Key': created.json.key_secret})
    expect(counters.status, counters.text).toBe(200)
    expect(counters.body).toEqual({counters: [], has_more: false})
    expect(counters.headers.get('x-cycles-permission-deprecated')).toBeNull()
  })

  it('overview shows tenants in observe mode, quotas at their limit, access lists and denials by reason', async () => {
    expect((await admin(d.daemon.adminUrl, 'PATCH', '/v1/admin/tenants/globex', {observe_mode: 'OBSERVE'})).status).toBe(200)
    const policy = await admin(d.daemon.adminUrl, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'q', scope_pattern: 'tenant:acme', priority: 1, denied_action_kinds: ['payment.charge'], action_quotas: [{action_kind: 'web.search', max_calls: 2, window: 'per_run'}]})
    expect(policy.status, policy.text).toBe(201)
    const reserve = (kind: string, idem: string) =>
      call(d.url, 'POST', '/v1/reservations', {idempotency_key: idem, subject: {tenant: 'acme', dimensions: {run_id: 'r1'}}, action: {kind, name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}}, {'X-Cycles-API-Key': ACME})
    for (const idem of ['s1', 's2', 's3']) await reserve('web.search', idem)
    expect((await reserve('payment.charge', 'p1')).body.error).toBe('ACTION_KIND_DENIED')

    const json = await cli(['overview', '--json'], env)
    expect(json.code, json.stderr).toBe(0)
    expect(specErrors('admin', 'AdminOverviewResponse', json.json.overview)).toBeUndefined()
    expect(json.json.overview.quota_health.counters_at_limit).toBe(1)

    const human = await cli(['overview'], env)
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toContain('Tenants not enforcing (observe_mode other than ENFORCE): 1')
    expect(human.stdout).toContain('Action quotas: 1 counter(s) at ≥ 80% of their limit, 1 at the limit')
    expect(human.stdout).toContain('Access control: 0 policies with an allow list, 1 with a deny list')
    expect(human.stdout).toContain('Denials by reason (last hour): ACTION_KIND_DENIED 1, ACTION_QUOTA_EXCEEDED 1')
    expect(human.stdout).toMatch(/web\.search\s.*per_run\s.*2\/2\s.*100%/)
  })
})
