// The policy admin API, the action-quota counters and the action-kind registry over real sockets,
// validated against the official admin spec's Policy merged with the v0.1.26 PolicyExtension, and
// against the action-kinds spec's registry and counter schemas.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {SPEC_CHECKS, specDocument} from '../support/spec.js'
import {ADMIN_KEY, V26, admin, extErrors, extensionDoc, schemaErrors} from './support.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const CONFIG = `
admin_key: ${ADMIN_KEY}
tenants: [{id: acme}, {id: globex}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets: [{scope: "tenant:acme", unit: TOKENS, allocated: 100000}]
tiers: {low: {mode: enforce, match: []}, medium: {mode: enforce, match: []}, high: {mode: enforce, match: ["*"]}}
action_kinds: [{kind: custom.acme.erp.post, risk_class: high_risk}]
`
let d: TestDaemon
let a: string
beforeAll(async () => {
  d = await startTestDaemon(CONFIG, {adminPort: 0})
  a = d.daemon.adminUrl
})
afterAll(async () => d?.stop())

/** The admin spec's Policy with the v0.1.26 PolicyExtension's properties (the extension is a strict superset). */
function policySchema(): Record<string, any> {
  const base = structuredClone((specDocument('admin') as any).components.schemas.Policy) as Record<string, any>
  const ext = extensionDoc('governance-ext').components.schemas.PolicyExtension
  base.properties = {...base.properties, ...ext.properties}
  base.properties.caps = {type: 'object'}
  base.properties.commit_overage_policy = {type: 'string', enum: ['REJECT', 'ALLOW_IF_AVAILABLE', 'ALLOW_WITH_OVERDRAFT']}
  return base
}
const policyErrors = (body: unknown) => (SPEC_CHECKS ? schemaErrors(policySchema(), body) : undefined)

describe('policies on the admin plane', () => {
  let id: string

  it('creates a policy (201), stores absent v0.1.26 lists as [], and answers the spec shape', async () => {
    const res = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'defaults', scope_pattern: 'tenant:acme/*', priority: 5, caps: {max_tokens: 100}, rate_limits: {max_reservations_per_minute: 10}})
    expect(res.status, res.text).toBe(201)
    expect(policyErrors(res.body)).toBeUndefined()
    expect(res.body).toMatchObject({name: 'defaults', scope_pattern: 'tenant:acme/*', priority: 5, status: 'ACTIVE', action_quotas: [], risk_class_quotas: [], allowed_action_kinds: [], denied_action_kinds: []})
    expect(res.body.policy_id).toMatch(/^pol_/)
    expect('approval_required_action_kinds' in res.body).toBe(false)
    id = res.body.policy_id
  })

  it('refuses what the specs refuse: both access lists, a bad pattern, ttl on a calendar window, an undeclared custom kind, no tenant, a duplicate name', async () => {
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{allowed_action_kinds: ['db.query'], denied_action_kinds: ['payment.charge']}, 400, /mutually exclusive/],
      [{scope_pattern: 'tenant:acme/*/agent:x'}, 400, /first or the last/],
      [{action_quotas: [{action_kind: 'x.y', max_calls: 1, window: 'per_hour_tumbling', per_run_counter_ttl_ms: 60_000}]}, 400, /per_run_counter_ttl_ms/],
      [{denied_action_kinds: ['custom.acme.undeclared']}, 400, /unregistered custom/],
      [{tenant_id: undefined}, 400, /tenant_id/],
      [{name: 'defaults'}, 409, /already exists/],
    ]
    for (const [over, status, message] of cases) {
      const res = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: `p${Math.random()}`, scope_pattern: 'tenant:acme', ...over})
      expect(res.status, JSON.stringify(over)).toBe(status)
      expect(res.body.message).toMatch(message)
    }
  })

  it('lists by tenant (400 without tenant_id) with the v0.1.26 filters, gets and patches (lists replaced), and deletes', async () => {
    expect((await admin(a, 'GET', '/v1/admin/policies')).status).toBe(400)
    const patched = await admin(a, 'PATCH', `/v1/admin/policies/${id}`, {action_quotas: [{action_kind: 'message.email.send', max_calls: 3, window: 'per_run'}], denied_action_kinds: ['payment.charge']})
    expect(patched.status, patched.text).toBe(200)
    expect(policyErrors(patched.body)).toBeUndefined()
    expect(patched.body.action_quotas).toEqual([{action_kind: 'message.email.send', max_calls: 3, window: 'per_run'}])
    expect(patched.body.caps).toEqual({max_tokens: 100})
    expect(patched.body.updated_at).toBeDefined()
    const list = await admin(a, 'GET', '/v1/admin/policies?tenant_id=acme&has_action_quotas=true&references_action_kind=payment.charge')
    expect(list.status).toBe(200)
    expect(list.body.policies.map((p: any) => p.policy_id)).toEqual([id])
    expect((await admin(a, 'GET', '/v1/admin/policies?tenant_id=globex')).body.policies).toEqual([])
    expect((await admin(a, 'GET', '/v1/admin/policies?tenant_id=acme&references_action_kind=db.query')).body.policies).toEqual([])
    expect((await admin(a, 'GET', `/v1/admin/policies/${id}`)).body.denied_action_kinds).toEqual(['payment.charge'])
    const withExt = await admin(a, 'PATCH', `/v1/admin/policies/${id}`, {approval_required_action_kinds: ['payment.refund']}, {'X-Cycles-Extensions': 'approvals'})
    expect(withExt.body.approval_required_action_kinds).toEqual(['payment.refund'])
    expect('approval_required_action_kinds' in (await admin(a, 'GET', `/v1/admin/policies/${id}`)).body).toBe(false)
    expect((await admin(a, 'DELETE', `/v1/admin/policies/${id}?reason=test`)).status).toBe(200)
    expect((await admin(a, 'GET', `/v1/admin/policies/${id}`)).status).toBe(404)
    const audit = await admin(a, 'GET', `/v1/admin/audit/logs?resource_id=${id}`)
    expect(audit.body.logs.map((l: any) => l.operation).sort()).toEqual(['createPolicy', 'deletePolicy', 'updatePolicy', 'updatePolicy'])
  })
})

describe('action-quota counters', () => {
  it('lists live counters (spec shape) and resets one, audited with the previous value', async () => {
    const created = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'quota', scope_pattern: 'tenant:acme', priority: 50, action_quotas: [{action_kind: 'web.search', max_calls: 2, window: 'per_run'}]})
    expect(created.status).toBe(201)
    for (let i = 0; i < 3; i++) {
      const res = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: `q${i}`, subject: {tenant: 'acme', dimensions: {run_id: 'r1'}}, action: {kind: 'web.search', name: 's'}, estimate: {unit: 'TOKENS', amount: 1}}, {'X-Cycles-API-Key': KEY})
      expect(res.status).toBe(i < 2 ? 200 : 409)
    }
    expect((await admin(a, 'GET', '/v1/admin/action-quota-counters')).status).toBe(400)
    const list = await admin(a, 'GET', '/v1/admin/action-quota-counters?tenant_id=acme&run_id=r1')
    expect(list.status).toBe(200)
    expect(extErrors('action-kinds', 'ActionQuotaCounterListResponse', list.body)).toBeUndefined()
    expect(list.body.counters).toEqual([
      {action_kind: 'web.search', scope: 'tenant:acme', scope_path: 'tenant:acme', window: 'per_run', window_key: 'r1', used: 2, limit: 2, remaining: 0, policy_id: created.body.policy_id},
    ])
    const key = {tenant_id: 'acme', scope: 'tenant:acme', action_kind: 'web.search', window: 'per_run', window_key: 'r1'}
    expect((await admin(a, 'POST', '/v1/admin/action-quota-counters/reset', {...key, window_key: 'nope'})).status).toBe(404)
    expect((await admin(a, 'POST', '/v1/admin/action-quota-counters/reset', {...key, tenant_id: undefined})).status).toBe(400)
    const reset = await admin(a, 'POST', '/v1/admin/action-quota-counters/reset', {...key, reason: 'INC-7 double count'})
    expect(reset.status, reset.text).toBe(200)
    expect(extErrors('action-kinds', 'ActionQuotaCounterResetResponse', reset.body)).toBeUndefined()
    expect(reset.body.previous_used).toBe(2)
    expect(reset.body.counter.used).toBe(0)
    const again = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: 'q-after', subject: {tenant: 'acme', dimensions: {run_id: 'r1'}}, action: {kind: 'web.search', name: 's'}, estimate: {unit: 'TOKENS', amount: 1}}, {'X-Cycles-API-Key': KEY})
    expect(again.status).toBe(200)
    const audit = await admin(a, 'GET', '/v1/admin/audit/logs?operation=resetActionQuotaCounter')
    expect(audit.body.logs).toHaveLength(1)
    expect(audit.body.logs[0].metadata).toMatchObject({previous_used: 2, reason: 'INC-7 double count', window_key: 'r1'})
    expect((await admin(a, 'DELETE', `/v1/admin/policies/${created.body.policy_id}`)).status).toBe(200)
  })
})

describe('action kinds', () => {
  it('serves the public registry (spec shape, exact lookup, 404) without a key', async () => {
    const list = await call(d.url, 'GET', '/v1/action-kinds?limit=100')
    expect(list.status).toBe(200)
    expect(extErrors('action-kinds', 'ActionKindRegistry', list.body)).toBeUndefined()
    expect(list.body.version).toBe('0.1.26')
    expect(list.body.kinds.at(-1)).toEqual({kind: 'unknown.call', risk_class: 'side_effect'})
    expect(list.body.kinds.some((k: any) => k.kind.startsWith('custom.'))).toBe(false)
    const highRisk = await call(d.url, 'GET', '/v1/action-kinds?risk_class=high_risk&limit=100')
    expect(highRisk.body.kinds.map((k: any) => k.kind)).toContain('payment.charge')
    expect(highRisk.body.kinds.every((k: any) => k.risk_class === 'high_risk')).toBe(true)
    const one = await call(d.url, 'GET', '/v1/action-kinds/message.email.send')
    expect(extErrors('action-kinds', 'ActionKind', one.body)).toBeUndefined()
    expect(one.body).toEqual({kind: 'message.email.send', risk_class: 'external_side_effect', policy_key_spec: {host: true, recipient_domain: true}})
    expect((await call(d.url, 'GET', '/v1/action-kinds/message.email')).status).toBe(404)
  })

  it('refuses an undeclared custom.* kind with 400 and evaluates a declared one with its risk class', async () => {
    const body = (kind: string, key: string) => ({idempotency_key: key, subject: {tenant: 'acme'}, action: {kind, name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}, dry_run: true})
    const undeclared = await call(d.url, 'POST', '/v1/reservations', body('custom.acme.erp.delete', 'c1'), {'X-Cycles-API-Key': KEY})
    expect(undeclared.status).toBe(400)
    expect(undeclared.body.message).toMatch(/not a registered custom kind/)
    const p = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'risk', scope_pattern: 'tenant:acme', priority: 60, risk_class_quotas: [{risk_class: 'high_risk', max_calls: 1, window: 'per_day_tumbling'}]})
    expect(p.status, p.text).toBe(201)
    const live = {...body('custom.acme.erp.post', 'c2'), dry_run: false}
    expect((await call(d.url, 'POST', '/v1/reservations', live, {'X-Cycles-API-Key': KEY})).status).toBe(200)
    const second = await call(d.url, 'POST', '/v1/reservations', {...live, idempotency_key: 'c3'}, {'X-Cycles-API-Key': KEY, ...V26})
    expect(second.status).toBe(409)
    expect(second.body.details.deny_detail.quota_violation).toMatchObject({action_kind: 'custom.acme.erp.post', risk_class: 'high_risk', used: 1, limit: 1})
    const declared = await admin(a, 'POST', '/v1/admin/action-kinds', {kind: 'custom.acme.erp.delete', risk_class: 'read_only'})
    expect(declared.status).toBe(200)
    expect((await call(d.url, 'POST', '/v1/reservations', body('custom.acme.erp.delete', 'c4'), {'X-Cycles-API-Key': KEY})).body.decision).toBe('ALLOW')
    expect((await admin(a, 'DELETE', `/v1/admin/policies/${p.body.policy_id}`)).status).toBe(200)
  })
})
