// Tenant API keys on the policy routes and the action-quota counters (admin spec dual auth: ApiKeyAuth
// with policies:read / policies:write, own tenant only; v0.1.26 PermissionExtension: action_quotas:read
// with the deprecated balances:read fallback), over a real admin socket, validated against the specs.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {SPEC_CHECKS, specDocument, specErrors} from '../support/spec.js'
import {patternInReach} from '../../src/policies/policy-ops.js'
import {ADMIN_KEY, admin, extErrors, extensionDoc, schemaErrors} from './support.js'

const READER = 'cyc_test_acme_reader_0123456789ab'
const WRITER = 'cyc_test_acme_writer_0123456789ab'
const ENG_WRITER = 'cyc_test_acme_engwrt_0123456789ab'
const LEGACY = 'cyc_test_acme_legacy_0123456789ab'
const RUNTIME_ONLY = 'cyc_test_acme_runtim_0123456789ab'
const GLOBEX_WRITER = 'cyc_test_globex_wrt_0123456789ab'
const CONFIG = `
admin_key: ${ADMIN_KEY}
tenants: [{id: acme}, {id: globex}]
api_keys:
  - {tenant: acme, secret: ${READER}, permissions: [policies:read]}
  - {tenant: acme, secret: ${WRITER}, permissions: [policies:read, policies:write, reservations:create]}
  - {tenant: acme, secret: ${ENG_WRITER}, permissions: [policies:read, policies:write], scope_filter: ["workspace:eng"]}
  - {tenant: acme, secret: ${LEGACY}, permissions: [balances:read]}
  - {tenant: acme, secret: ${RUNTIME_ONLY}, permissions: [reservations:create]}
  - {tenant: globex, secret: ${GLOBEX_WRITER}, permissions: [policies:read, policies:write, reservations:create]}
budgets: [{scope: "tenant:acme", unit: TOKENS, allocated: 100000}, {scope: "tenant:globex", unit: TOKENS, allocated: 100000}]
tiers: {low: {mode: enforce, match: []}, medium: {mode: enforce, match: []}, high: {mode: enforce, match: ["*"]}}
events: {flush_interval_ms: 10}
`
let d: TestDaemon
let a: string
beforeAll(async () => {
  d = await startTestDaemon(CONFIG, {adminPort: 0})
  a = d.daemon.adminUrl
})
afterAll(async () => d?.stop())

const asKey = (key: string, method: string, path: string, body?: unknown) => call(a, method, path, body, {'X-Cycles-API-Key': key})

function policySchema(): Record<string, any> {
  const base = structuredClone((specDocument('admin') as any).components.schemas.Policy) as Record<string, any>
  base.properties = {...base.properties, ...extensionDoc('governance-ext').components.schemas.PolicyExtension.properties}
  base.properties.caps = {type: 'object'}
  base.properties.commit_overage_policy = {type: 'string', enum: ['REJECT', 'ALLOW_IF_AVAILABLE', 'ALLOW_WITH_OVERDRAFT']}
  return base
}
const policyErrors = (body: unknown) => (SPEC_CHECKS ? schemaErrors(policySchema(), body) : undefined)

/** A refusal in the protocol's error envelope with the given status and code. */
function refused(res: {status: number; body: any; text: string}, status: number, code: string): void {
  expect(res.status, res.text).toBe(status)
  expect(specErrors('admin', 'ErrorResponse', res.body)).toBeUndefined()
  expect(res.body).toMatchObject({error: code, request_id: expect.any(String), trace_id: expect.stringMatching(/^[0-9a-f]{32}$/)})
}

describe('policies with a tenant API key', () => {
  it('creates for its own tenant (tenant_id implicit, refused in the body), audited with the key as actor', async () => {
    const created = await asKey(WRITER, 'POST', '/v1/admin/policies', {name: 'self-service', scope_pattern: 'tenant:acme/*', priority: 3, denied_action_kinds: ['payment.charge']})
    expect(created.status, created.text).toBe(201)
    expect(policyErrors(created.body)).toBeUndefined()
    expect(created.body).toMatchObject({name: 'self-service', scope_pattern: 'tenant:acme/*', denied_action_kinds: ['payment.charge'], status: 'ACTIVE'})
    // The policy is acme's: the admin sees it under acme, not under globex.
    const ids = async (tenant: string) => (await admin(a, 'GET', `/v1/admin/policies?tenant_id=${tenant}`)).body.policies.map((p: any) => p.policy_id)
    expect(await ids('acme')).toContain(created.body.policy_id)
    expect(await ids('globex')).not.toContain(created.body.policy_id)

    refused(await asKey(WRITER, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'x', scope_pattern: 'tenant:acme'}), 400, 'INVALID_REQUEST')
    // Another tenant's scope is out of reach of acme's key.
    refused(await asKey(WRITER, 'POST', '/v1/admin/policies', {name: 'y', scope_pattern: 'tenant:globex/*'}), 403, 'FORBIDDEN')

    const audit = await admin(a, 'GET', `/v1/admin/audit/logs?resource_id=${created.body.policy_id}`)
    expect(audit.body.logs).toHaveLength(1)
    expect(audit.body.logs[0]).toMatchObject({operation: 'createPolicy', tenant_id: 'acme', status: 201, metadata: {actor_type: 'api_key'}})
    expect(audit.body.logs[0].key_id).toMatch(/^key_/)
    // The policy.created event names the key as its actor too.
    await d.daemon.events.writer!.flush()
    const events = (await admin(a, 'GET', '/v1/admin/events?category=policy&limit=100')).body.events.filter((e: any) => e.data.policy_id === created.body.policy_id)
    expect(events.map((e: any) => [e.event_type, e.actor])).toEqual([['policy.created', {type: 'api_key', key_id: audit.body.logs[0].key_id, source_ip: expect.any(String)}]])
    expect(specErrors('admin', 'Event', events[0])).toBeUndefined()
  })

  it('reads with policies:read (list scoped to the key, tenant_id ignored; get), writes need policies:write', async () => {
    const mine = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'acme-read', scope_pattern: 'tenant:acme', priority: 1})
    const theirs = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'globex', name: 'globex-read', scope_pattern: 'tenant:globex', priority: 1})
    expect([mine.status, theirs.status]).toEqual([201, 201])
    const list = await asKey(READER, 'GET', '/v1/admin/policies?tenant_id=globex')
    expect(list.status, list.text).toBe(200)
    const ids = list.body.policies.map((p: any) => p.policy_id)
    expect(ids).toContain(mine.body.policy_id)
    expect(ids).not.toContain(theirs.body.policy_id)
    for (const p of list.body.policies) expect(policyErrors(p)).toBeUndefined()
    const one = await asKey(READER, 'GET', `/v1/admin/policies/${mine.body.policy_id}`)
    expect(one.status).toBe(200)
    expect(one.body.name).toBe('acme-read')

    refused(await asKey(READER, 'POST', '/v1/admin/policies', {name: 'nope', scope_pattern: 'tenant:acme'}), 403, 'FORBIDDEN')
    refused(await asKey(READER, 'PATCH', `/v1/admin/policies/${mine.body.policy_id}`, {priority: 9}), 403, 'FORBIDDEN')
    refused(await asKey(READER, 'DELETE', `/v1/admin/policies/${mine.body.policy_id}`), 403, 'FORBIDDEN')
    refused(await asKey(RUNTIME_ONLY, 'GET', '/v1/admin/policies'), 403, 'FORBIDDEN')
    refused(await asKey('cyc_test_unknown_0123456789abcdef', 'GET', '/v1/admin/policies'), 401, 'UNAUTHORIZED')
    refused(await call(a, 'GET', '/v1/admin/policies'), 401, 'UNAUTHORIZED')
    // The admin key keeps its contract: tenant_id required to list.
    refused(await admin(a, 'GET', '/v1/admin/policies'), 400, 'INVALID_REQUEST')
  })

  it('sees another tenant\'s policy as missing (404) on get, patch and delete; patches and deletes its own', async () => {
    const theirs = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'globex', name: 'globex-own', scope_pattern: 'tenant:globex', priority: 2})
    for (const [method, body] of [['GET'], ['PATCH', {priority: 7}], ['DELETE']] as const) {
      refused(await asKey(WRITER, method, `/v1/admin/policies/${theirs.body.policy_id}`, body), 404, 'NOT_FOUND')
    }
    expect((await admin(a, 'GET', `/v1/admin/policies/${theirs.body.policy_id}`)).body.priority).toBe(2)

    const own = await asKey(WRITER, 'POST', '/v1/admin/policies', {name: 'own', scope_pattern: 'tenant:acme/workspace:ops', priority: 2})
    const patched = await asKey(WRITER, 'PATCH', `/v1/admin/policies/${own.body.policy_id}`, {priority: 8, allowed_action_kinds: ['db.query']})
    expect(patched.status, patched.text).toBe(200)
    expect(policyErrors(patched.body)).toBeUndefined()
    expect(patched.body).toMatchObject({priority: 8, allowed_action_kinds: ['db.query']})
    expect((await asKey(WRITER, 'DELETE', `/v1/admin/policies/${own.body.policy_id}`)).status).toBe(200)
    const rows = (await admin(a, 'GET', `/v1/admin/audit/logs?resource_id=${own.body.policy_id}`)).body.logs
    expect(rows.map((r: any) => [r.operation, r.metadata.actor_type]).sort()).toEqual([
      ['createPolicy', 'api_key'],
      ['deletePolicy', 'api_key'],
      ['updatePolicy', 'api_key'],
    ])
  })

  it('keeps a key with a scope filter to policies inside it', async () => {
    const inside = await asKey(ENG_WRITER, 'POST', '/v1/admin/policies', {name: 'eng-only', scope_pattern: 'tenant:acme/workspace:eng/*', priority: 4})
    expect(inside.status, inside.text).toBe(201)
    // The whole tenant, or any agent anywhere, reaches beyond workspace:eng.
    refused(await asKey(ENG_WRITER, 'POST', '/v1/admin/policies', {name: 'wide', scope_pattern: 'tenant:acme/*'}), 403, 'FORBIDDEN')
    refused(await asKey(ENG_WRITER, 'POST', '/v1/admin/policies', {name: 'any-agent', scope_pattern: 'agent:*'}), 403, 'FORBIDDEN')
    const outside = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'ops-only', scope_pattern: 'tenant:acme/workspace:ops', priority: 4})
    refused(await asKey(ENG_WRITER, 'PATCH', `/v1/admin/policies/${outside.body.policy_id}`, {priority: 1}), 403, 'FORBIDDEN')
    refused(await asKey(ENG_WRITER, 'PATCH', `/v1/admin/policies/${inside.body.policy_id}`, {scope_pattern: 'tenant:acme/*'}), 403, 'FORBIDDEN')
    const listed = (await asKey(ENG_WRITER, 'GET', '/v1/admin/policies')).body.policies.map((p: any) => p.name)
    expect(listed).toContain('eng-only')
    expect(listed).not.toContain('ops-only')
    expect(listed).not.toContain('self-service')
  })
})

describe('action-quota counters with a tenant API key', () => {
  it('answers action_quotas:read (own tenant only), balances:read with the deprecation header, and 403 otherwise; reset stays admin-only', async () => {
    for (const [tenant, key] of [['acme', WRITER], ['globex', GLOBEX_WRITER]]) {
      const p = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: tenant, name: 'quota', scope_pattern: `tenant:${tenant}`, priority: 90, action_quotas: [{action_kind: 'web.search', max_calls: 5, window: 'per_run'}]})
      expect(p.status, p.text).toBe(201)
      const res = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: `qc-${tenant}`, subject: {tenant, dimensions: {run_id: 'run-1'}}, action: {kind: 'web.search', name: 's'}, estimate: {unit: 'TOKENS', amount: 1}}, {'X-Cycles-API-Key': key})
      expect(res.status, res.text).toBe(200)
    }
    const made = await admin(a, 'POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: 'quota reader', permissions: ['action_quotas:read']})
    expect(made.status, made.text).toBe(201)
    expect(made.body.permissions).toEqual(['action_quotas:read'])

    const primary = await asKey(made.body.key_secret, 'GET', '/v1/admin/action-quota-counters?tenant_id=globex')
    expect(primary.status, primary.text).toBe(200)
    expect(extErrors('action-kinds', 'ActionQuotaCounterListResponse', primary.body)).toBeUndefined()
    expect(primary.body.counters.map((c: any) => [c.scope, c.used])).toEqual([['tenant:acme', 1]])
    expect(primary.headers.get('x-cycles-permission-deprecated')).toBeNull()
    expect(primary.headers.get('x-cycles-tenant')).toBe('acme')

    const fallback = await asKey(LEGACY, 'GET', '/v1/admin/action-quota-counters')
    expect(fallback.status, fallback.text).toBe(200)
    expect(fallback.headers.get('x-cycles-permission-deprecated')).toBe('balances:read')
    expect(fallback.body.counters.map((c: any) => c.scope)).toEqual(['tenant:acme'])

    refused(await asKey(READER, 'GET', '/v1/admin/action-quota-counters'), 403, 'FORBIDDEN')
    // A scope filter narrows the counters too: acme's counter lives at tenant:acme, outside workspace:eng.
    const eng = await admin(a, 'POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: 'eng quotas', permissions: ['action_quotas:read'], scope_filter: ['workspace:eng']})
    expect((await asKey(eng.body.key_secret, 'GET', '/v1/admin/action-quota-counters')).body.counters).toEqual([])
    const adminView = await admin(a, 'GET', '/v1/admin/action-quota-counters?tenant_id=globex')
    expect(adminView.body.counters.map((c: any) => c.scope)).toEqual(['tenant:globex'])
    expect(adminView.headers.get('x-cycles-permission-deprecated')).toBeNull()
    refused(await admin(a, 'GET', '/v1/admin/action-quota-counters'), 400, 'INVALID_REQUEST')

    const reset = await asKey(made.body.key_secret, 'POST', '/v1/admin/action-quota-counters/reset', {tenant_id: 'acme', scope: 'tenant:acme', action_kind: 'web.search', window: 'per_run', window_key: 'run-1'})
    refused(reset, 401, 'UNAUTHORIZED')
  })
})

describe('patternInReach (which scope patterns a tenant key may govern)', () => {
  it('admits any pattern of its own tenant without a filter, never one naming another tenant', () => {
    expect(['tenant:acme', 'tenant:acme/*', 'agent:*', '*/agent:bot'].map((p) => patternInReach(p, 'acme', undefined))).toEqual([true, true, true, true])
    expect(['tenant:globex/*', 'tenant:*/agent:x'].map((p) => patternInReach(p, 'acme', []))).toEqual([false, false])
  })

  it('with a filter, admits a concrete path of its tenant whose scope and, when open, whose descendants the filter admits', () => {
    const segment = ['workspace:eng']
    expect(['tenant:acme/workspace:eng', 'tenant:acme/workspace:eng/*', 'tenant:acme/workspace:eng/agent:bot'].map((p) => patternInReach(p, 'acme', segment))).toEqual([true, true, true])
    expect(['tenant:acme', 'tenant:acme/*', 'tenant:acme/workspace:*/*', 'workspace:eng', 'agent:*'].map((p) => patternInReach(p, 'acme', segment))).toEqual([false, false, false, false, false])
    // An exact path filter admits that scope only; an open one its descendants too.
    expect(patternInReach('tenant:acme/workspace:eng', 'acme', ['tenant:acme/workspace:eng'])).toBe(true)
    expect(patternInReach('tenant:acme/workspace:eng/*', 'acme', ['tenant:acme/workspace:eng'])).toBe(false)
    expect(patternInReach('tenant:acme/workspace:eng/*', 'acme', ['tenant:acme/workspace:eng/*'])).toBe(true)
    // The deepest level has nothing beneath it.
    expect(patternInReach('tenant:acme/toolset:t/*', 'acme', ['tenant:acme/toolset:t'])).toBe(true)
  })
})
