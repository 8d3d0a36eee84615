// The v0.1.26 governance state on the admin plane's reads: tenants' observe_mode (ENFORCE when never
// set, for v0.1.26 clients) and the overview's in_observe_mode, quota_health, access_control_stats and
// policy denials by reason, over a real admin socket, validated against the official spec files.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {SPEC_CHECKS, specDocument, specErrors} from '../support/spec.js'
import {ADMIN_KEY, V26, admin, extensionDoc, schemaErrors} from '../policies/support.js'

const ACME = 'cyc_test_acme_0123456789abcdef'
const GLOBEX = 'cyc_test_globex_0123456789abcdef'
const CONFIG = `
admin_key: ${ADMIN_KEY}
tenants: [{id: acme}, {id: globex}, {id: initech}]
api_keys: [{tenant: acme, secret: ${ACME}}, {tenant: globex, secret: ${GLOBEX}}]
budgets: [{scope: "tenant:acme", unit: TOKENS, allocated: 100000}, {scope: "tenant:globex", unit: TOKENS, allocated: 100000}]
tiers: {low: {mode: enforce, match: []}, medium: {mode: enforce, match: []}, high: {mode: enforce, match: ["*"]}}
`
let d: TestDaemon
let a: string
beforeAll(async () => {
  d = await startTestDaemon(CONFIG, {adminPort: 0})
  a = d.daemon.adminUrl
})
afterAll(async () => d?.stop())

/** The admin spec's Tenant with the v0.1.26 TenantExtension's properties (a strict superset). */
function tenantSchema(): Record<string, any> {
  const base = structuredClone((specDocument('admin') as any).components.schemas.Tenant) as Record<string, any>
  base.properties = {...base.properties, ...extensionDoc('governance-ext').components.schemas.TenantExtension.properties}
  base.properties.default_commit_overage_policy = {type: 'string'}
  return base
}
const tenantV26Errors = (body: unknown) => (SPEC_CHECKS ? schemaErrors(tenantSchema(), body) : undefined)

function reserve(tenant: string, key: string, kind: string, run: string, idem: string) {
  return call(d.url, 'POST', '/v1/reservations', {idempotency_key: idem, subject: {tenant, dimensions: {run_id: run}}, action: {kind, name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}}, {'X-Cycles-API-Key': key})
}

describe('tenant observe_mode on read', () => {
  it('is ENFORCE for a tenant that never set it (v0.1.26 clients), absent for v0.1.25 clients (closed Tenant schema)', async () => {
    const v26 = await admin(a, 'GET', '/v1/admin/tenants/acme', undefined, V26)
    expect(v26.status).toBe(200)
    expect(tenantV26Errors(v26.body)).toBeUndefined()
    expect(v26.body.observe_mode).toBe('ENFORCE')
    const v25 = await admin(a, 'GET', '/v1/admin/tenants/acme')
    expect(specErrors('admin', 'Tenant', v25.body)).toBeUndefined()
    expect('observe_mode' in v25.body).toBe(false)
  })

  it('stores ENFORCE at creation, lists it on every tenant, and ?observe_mode=ENFORCE matches tenants that never set it', async () => {
    const created = await admin(a, 'POST', '/v1/admin/tenants', {tenant_id: 'hooli', name: 'Hooli'}, V26)
    expect(created.status, created.text).toBe(201)
    expect(created.body.observe_mode).toBe('ENFORCE')
    expect((await d.daemon.store.getTenant('hooli'))?.observe_mode).toBe('ENFORCE')
    const patched = await admin(a, 'PATCH', '/v1/admin/tenants/initech', {observe_mode: 'OBSERVE'}, V26)
    expect(patched.status).toBe(200)
    expect(patched.body.observe_mode).toBe('OBSERVE')

    const list = await admin(a, 'GET', '/v1/admin/tenants?sort_by=tenant_id&sort_dir=asc', undefined, V26)
    expect(list.body.tenants.map((t: any) => [t.tenant_id, t.observe_mode])).toEqual([
      ['acme', 'ENFORCE'],
      ['globex', 'ENFORCE'],
      ['hooli', 'ENFORCE'],
      ['initech', 'OBSERVE'],
    ])
    for (const t of list.body.tenants) expect(tenantV26Errors(t)).toBeUndefined()
    const enforcing = await admin(a, 'GET', '/v1/admin/tenants?observe_mode=ENFORCE&sort_by=tenant_id&sort_dir=asc', undefined, V26)
    expect(enforcing.body.tenants.map((t: any) => t.tenant_id)).toEqual(['acme', 'globex', 'hooli'])
    const v25List = await admin(a, 'GET', '/v1/admin/tenants')
    expect(specErrors('admin', 'TenantListResponse', v25List.body)).toBeUndefined()
    expect(v25List.body.tenants.some((t: any) => 'observe_mode' in t)).toBe(false)
  })
})

describe('overview with v0.1.26 governance state', () => {
  it('counts tenants in observe mode, quota health, access-control lists and policy denials by reason (spec shape)', async () => {
    expect((await admin(a, 'PATCH', '/v1/admin/tenants/hooli', {observe_mode: 'DISABLED'})).status).toBe(200)
    const acmePolicy = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'acme', scope_pattern: 'tenant:acme', priority: 10, denied_action_kinds: ['payment.charge'], action_quotas: [{action_kind: 'web.search', max_calls: 5, window: 'per_run'}]})
    const globexPolicy = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'globex', name: 'globex', scope_pattern: 'tenant:globex', priority: 10, allowed_action_kinds: ['db.query']})
    const plain = await admin(a, 'POST', '/v1/admin/policies', {tenant_id: 'initech', name: 'plain', scope_pattern: 'tenant:initech', priority: 1})
    expect([acmePolicy.status, globexPolicy.status, plain.status]).toEqual([201, 201, 201])

    // run-a: 4 of 5 (80 %); run-b: 5 of 5, and a 6th is denied ACTION_QUOTA_EXCEEDED.
    for (let i = 0; i < 4; i++) expect((await reserve('acme', ACME, 'web.search', 'run-a', `a${i}`)).status).toBe(200)
    for (let i = 0; i < 5; i++) expect((await reserve('acme', ACME, 'web.search', 'run-b', `b${i}`)).status).toBe(200)
    expect((await reserve('acme', ACME, 'web.search', 'run-b', 'b-over')).body.error).toBe('ACTION_QUOTA_EXCEEDED')
    expect((await reserve('acme', ACME, 'payment.charge', 'run-c', 'c1')).body.error).toBe('ACTION_KIND_DENIED')
    expect((await reserve('globex', GLOBEX, 'web.search', 'run-d', 'd1')).body.error).toBe('ACTION_KIND_NOT_ALLOWED')
    expect((await reserve('globex', GLOBEX, 'web.search', 'run-d', 'd2')).body.error).toBe('ACTION_KIND_NOT_ALLOWED')
    // An observe-mode denial was admitted as a dry-run: reservation.observed_denied, not one of the overview's denials.
    const observed = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: 'o1', subject: {tenant: 'acme'}, action: {kind: 'payment.charge', name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}, observe_mode: 'OBSERVE'}, {'X-Cycles-API-Key': ACME, ...V26})
    expect([observed.status, observed.body.decision]).toEqual([200, 'DENY'])

    const res = await admin(a, 'GET', '/v1/admin/overview')
    expect(res.status).toBe(200)
    expect(specErrors('admin', 'AdminOverviewResponse', res.body)).toBeUndefined()
    const o = res.body
    // initech OBSERVE and hooli DISABLED: both are "observe_mode != ENFORCE" as the spec counts it.
    expect(o.tenant_counts).toEqual({total: 4, active: 4, suspended: 0, closed: 0, in_observe_mode: 2})
    expect(o.access_control_stats).toEqual({policies_with_allow_list: 1, policies_with_deny_list: 1})
    expect(o.quota_health).toEqual({
      counters_above_80pct: 2,
      counters_at_limit: 1,
      top_offenders: [
        {scope: 'tenant:acme', action_kind: 'web.search', window: 'per_run', used: 5, limit: 5, utilization_pct: 1},
        {scope: 'tenant:acme', action_kind: 'web.search', window: 'per_run', used: 4, limit: 5, utilization_pct: 0.8},
      ],
    })
    expect(o.recent_denials_by_reason).toEqual({ACTION_QUOTA_EXCEEDED: 1, ACTION_KIND_DENIED: 1, ACTION_KIND_NOT_ALLOWED: 2})
    expect(o.recent_denials.map((e: any) => e.data.reason_code).sort()).toEqual(['ACTION_KIND_DENIED', 'ACTION_KIND_NOT_ALLOWED', 'ACTION_KIND_NOT_ALLOWED', 'ACTION_QUOTA_EXCEEDED'])
  })
})
