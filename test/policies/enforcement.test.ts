// Policy enforcement on a real daemon: v0.1.25 clients keep the v0.1.25 shapes, rate limits (live
// 429 with Retry-After / X-RateLimit-Reset; dry-run and decide 200 DENY), observe mode per tenant and
// per request, shadow tiers seeing policy denials, the policy's caps / TTL / overage policy, and the
// approval gate's place in the order. The clock is pinned so a minute window cannot roll mid-test.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {ApprovalGate} from '../../src/policies/approval.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {sdkStrictErrors, specErrors} from '../support/spec.js'
import {ADMIN_KEY, V26, admin, extErrors} from './support.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const NOW = Date.parse('2026-11-28T10:00:05Z')
const CONFIG = `
admin_key: ${ADMIN_KEY}
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 100000}
tiers:
  low: {mode: shadow, match: ["shadowed.*"]}
  medium: {mode: enforce, match: []}
  high: {mode: enforce, match: []}
policies:
  - id: pol_sandbox
    tenant: acme
    name: sandbox
    scope_pattern: "tenant:acme/workspace:sandbox/*"
    denied_action_kinds: [payment.charge, shadowed.pay]
  - id: pol_rate
    tenant: acme
    name: rate
    scope_pattern: "tenant:acme/workspace:rate"
    rate_limits: {max_reservations_per_minute: 2, max_commits_per_minute: 1}
  - id: pol_shaped
    tenant: acme
    name: shaped
    scope_pattern: "tenant:acme/workspace:shaped"
    caps: {max_tokens: 64}
    reservation_ttl_override: {max_ttl_ms: 5000, max_extensions: 1}
    commit_overage_policy: REJECT
  - id: pol_quota
    tenant: acme
    name: quota
    scope_pattern: "agent:*"
    action_quotas: [{action_kind: shadowed.send, max_calls: 2, window: per_run}]
  - id: pol_approve
    tenant: acme
    name: approve
    scope_pattern: "tenant:acme/workspace:ops"
    approval_required_action_kinds: [code.deploy]
`
const granted: string[] = []
/** A stand-in for src/approvals/gate.ts with its signature: grants `code.deploy` for 999 TOKENS only. */
const gate: ApprovalGate = async (_store, ask) =>
  ask.estimate.amount === 999
    ? {admitted: true, consume: [{collection: 'approvals-test', id: `grant-${granted.push(ask.subject)}`, set: {consumed: true}}]}
    : {admitted: false, request_id: 'apr_0001', reason: 'APPROVAL_REQUIRED', message: `Approval required: request apr_0001 is pending for ${ask.action_kind} on ${ask.subject}`}

let d: TestDaemon
let n = 0
const auth = {'X-Cycles-API-Key': KEY}
const body = (subject: Record<string, unknown>, kind: string, extra: Record<string, unknown> = {}) => ({
  idempotency_key: `k${++n}`,
  subject: {tenant: 'acme', ...subject},
  action: {kind, name: 'x'},
  estimate: {unit: 'TOKENS', amount: 10},
  ...extra,
})
const reserve = (b: Record<string, unknown>, headers: Record<string, string> = {}) => call(d.url, 'POST', '/v1/reservations', b, {...auth, ...headers})
const remaining = async () => (await call(d.url, 'GET', '/v1/balances?tenant=acme', undefined, auth)).body.balances[0].remaining.amount as number

beforeAll(async () => {
  d = await startTestDaemon(CONFIG, {adminPort: 0, now: () => NOW, approvalGate: gate})
})
afterAll(async () => d?.stop())

describe('wire versions', () => {
  it('a v0.1.25 client gets the v0.1.25 shapes: reason_code, no deny_detail, strict-valid bodies', async () => {
    const dry = await reserve(body({workspace: 'sandbox'}, 'payment.charge', {dry_run: true}))
    expect(dry.status).toBe(200)
    expect(dry.body).toEqual({decision: 'DENY', reason_code: 'ACTION_KIND_DENIED', affected_scopes: ['tenant:acme', 'tenant:acme/workspace:sandbox'], scope_path: 'tenant:acme/workspace:sandbox'})
    expect(specErrors('runtime', 'ReservationCreateResponse', dry.body)).toBeUndefined()
    expect(sdkStrictErrors(dry.body)).toEqual([])
    const decide = await call(d.url, 'POST', '/v1/decide', body({workspace: 'sandbox'}, 'payment.charge'), auth)
    expect(decide.body).toEqual({decision: 'DENY', reason_code: 'ACTION_KIND_DENIED', affected_scopes: ['tenant:acme', 'tenant:acme/workspace:sandbox']})
    expect(specErrors('runtime', 'DecisionResponse', decide.body)).toBeUndefined()
    const live = await reserve(body({workspace: 'sandbox'}, 'payment.charge'))
    expect(live.status).toBe(409)
    expect(live.body.error).toBe('ACTION_KIND_DENIED')
    expect(live.body.details).toBeUndefined()
    expect((await reserve(body({}, 'llm.completion', {observe_mode: 'OBSERVE'}))).status).toBe(400)
  })

  it('a v0.1.26 client gets deny_detail on decide and on the live 409', async () => {
    const decide = await call(d.url, 'POST', '/v1/decide', body({workspace: 'sandbox'}, 'payment.charge'), {...auth, ...V26})
    expect(extErrors('protocol-ext', 'DenyDetail', decide.body.deny_detail)).toBeUndefined()
    expect(decide.body.deny_detail).toEqual({reason_code: 'ACTION_KIND_DENIED', blocked_by_policy: 'pol_sandbox', blocked_by_scope: 'tenant:acme/workspace:sandbox', suggested_fix: "Remove 'payment.charge' from denied_action_kinds in policy 'pol_sandbox'"})
    const live = await reserve(body({workspace: 'sandbox'}, 'payment.charge'), V26)
    expect(live.body.details.deny_detail.blocked_by_policy).toBe('pol_sandbox')
  })
})

describe('rate limits', () => {
  it('max_reservations_per_minute: the third live reserve is 429 with Retry-After and X-RateLimit-Reset; dry-run and decide are 200 DENY; no balance moves', async () => {
    const scope = {workspace: 'rate'}
    const ids: string[] = []
    for (let i = 0; i < 2; i++) {
      const ok = await reserve(body(scope, 'db.query'))
      expect(ok.status).toBe(200)
      ids.push(ok.body.reservation_id)
    }
    const before = await remaining()
    const limited = await reserve(body(scope, 'db.query'))
    expect(limited.status).toBe(429)
    expect(limited.body.error).toBe('LIMIT_EXCEEDED')
    expect(specErrors('runtime', 'ErrorResponse', limited.body)).toBeUndefined()
    expect(limited.headers.get('retry-after')).toBe('55')
    expect(limited.headers.get('x-ratelimit-reset')).toBe(String(Date.parse('2026-11-28T10:01:00Z') / 1000))
    const dry = await reserve(body(scope, 'db.query', {dry_run: true}))
    expect(dry.body).toMatchObject({decision: 'DENY', reason_code: 'LIMIT_EXCEEDED'})
    expect((await call(d.url, 'POST', '/v1/decide', body(scope, 'db.query'), auth)).body.reason_code).toBe('LIMIT_EXCEEDED')
    expect(await remaining()).toBe(before)

    const commit = (id: string) => call(d.url, 'POST', `/v1/reservations/${id}/commit`, {idempotency_key: `c-${id}`, actual: {unit: 'TOKENS', amount: 5}}, auth)
    expect((await commit(ids[0])).status).toBe(200)
    const second = await commit(ids[1])
    expect(second.status).toBe(429)
    expect(second.body.error).toBe('LIMIT_EXCEEDED')
    expect((await call(d.url, 'GET', `/v1/reservations/${ids[1]}`, undefined, auth)).body.status).toBe('ACTIVE')
  })
})

describe('observe mode', () => {
  it('per request (v0.1.26) and per tenant: evaluated as a dry-run, nothing held or counted, both modes in the decision log', async () => {
    const before = await remaining()
    const perRequest = await reserve(body({}, 'llm.completion', {observe_mode: 'OBSERVE'}), V26)
    expect(perRequest.status).toBe(200)
    expect(perRequest.body.decision).toBe('ALLOW')
    expect(perRequest.body.reservation_id).toBeUndefined()
    expect(await remaining()).toBe(before)

    const patched = await admin(d.daemon.adminUrl, 'PATCH', '/v1/admin/tenants/acme', {observe_mode: 'OBSERVE'}, V26)
    expect(patched.status).toBe(200)
    expect(patched.body.observe_mode).toBe('OBSERVE')
    const observing = await admin(d.daemon.adminUrl, 'GET', '/v1/admin/tenants?observe_mode=OBSERVE')
    expect(observing.body.tenants.map((t: any) => t.tenant_id)).toEqual(['acme'])
    const denied = await reserve(body({workspace: 'sandbox'}, 'payment.charge'), V26)
    expect(denied.status).toBe(200)
    expect(denied.body.decision).toBe('DENY')
    expect(denied.body.deny_detail.reason_code).toBe('ACTION_KIND_DENIED')
    const allowed = await reserve(body({}, 'llm.completion'))
    expect(allowed.body.reservation_id).toBeUndefined()
    expect(await remaining()).toBe(before)
    const override = await reserve(body({}, 'llm.completion', {observe_mode: 'ENFORCE'}), V26)
    expect(override.body.reservation_id).toBeDefined()
    expect((await admin(d.daemon.adminUrl, 'PATCH', '/v1/admin/tenants/acme', {observe_mode: 'ENFORCE'})).status).toBe(200)

    const records = d.records().filter((r) => r.endpoint === 'reserve')
    const observed = records.find((r) => r.request_id === denied.headers.get('x-request-id'))!
    expect(observed).toMatchObject({observe_mode: 'OBSERVE', mode: 'enforce', decision: 'DENY', reason_code: 'ACTION_KIND_DENIED', policy_id: 'pol_sandbox'})
    expect(records.find((r) => r.request_id === override.headers.get('x-request-id'))!.observe_mode).toBeUndefined()
  })
})

describe('shadow tiers see policies', () => {
  it('a shadowed live reserve a policy would deny is admitted, with the would-be denial in headers and log', async () => {
    const res = await reserve(body({workspace: 'sandbox'}, 'shadowed.pay'))
    expect(res.status).toBe(200)
    expect(res.body.reservation_id).toBeDefined()
    expect(res.headers.get('x-cycles-shadow-decision')).toBe('DENY')
    expect(res.headers.get('x-cycles-shadow-reason')).toBe('ACTION_KIND_DENIED')
    const record = d.records().find((r) => r.request_id === res.headers.get('x-request-id'))!
    expect(record).toMatchObject({mode: 'shadow', decision: 'ALLOW', would_decision: 'DENY', would_reason_code: 'ACTION_KIND_DENIED', policy_id: 'pol_sandbox'})
  })

  it('quota counters count every admitted shadowed call; past the quota the log says ACTION_QUOTA_EXCEEDED', async () => {
    const reasons: Array<string | undefined> = []
    for (let i = 0; i < 4; i++) {
      const res = await reserve(body({agent: 'bot', dimensions: {run_id: 'shadow-run'}}, 'shadowed.send'))
      expect(res.status).toBe(200)
      reasons.push(d.records().find((r) => r.request_id === res.headers.get('x-request-id'))!.would_reason_code as string | undefined)
    }
    expect(reasons).toEqual([undefined, undefined, 'ACTION_QUOTA_EXCEEDED', 'ACTION_QUOTA_EXCEEDED'])
  })
})

describe("a policy's caps, TTL override and overage policy", () => {
  it('ALLOW_WITH_CAPS with its caps, TTL capped at max_ttl_ms, one extension, REJECT on overage', async () => {
    const res = await reserve(body({workspace: 'shaped'}, 'db.query', {ttl_ms: 60_000}))
    expect(res.body.decision).toBe('ALLOW_WITH_CAPS')
    expect(res.body.caps).toEqual({max_tokens: 64})
    expect(res.body.expires_at_ms).toBe(NOW + 5000)
    const id = res.body.reservation_id
    const extend = (k: string) => call(d.url, 'POST', `/v1/reservations/${id}/extend`, {idempotency_key: k, extend_by_ms: 1000}, auth)
    expect((await extend('e1')).status).toBe(200)
    expect((await extend('e2')).body.error).toBe('MAX_EXTENSIONS_EXCEEDED')
    const over = await call(d.url, 'POST', `/v1/reservations/${id}/commit`, {idempotency_key: 'over', actual: {unit: 'TOKENS', amount: 11}}, auth)
    expect(over.status).toBe(409)
    expect(over.body.error).toBe('BUDGET_EXCEEDED')
  })
})

describe('the approval gate in the evaluation order', () => {
  it('dry-run 200 DENY APPROVAL_REQUIRED, live 409 ACTION_KIND_NOT_ALLOWED naming the request; a grant is consumed in the reservation transaction', async () => {
    const ops = {workspace: 'ops'}
    const dry = await reserve(body(ops, 'code.deploy', {dry_run: true}))
    expect(dry.body).toMatchObject({decision: 'DENY', reason_code: 'APPROVAL_REQUIRED'})
    const live = await reserve(body(ops, 'code.deploy'))
    expect(live.status).toBe(409)
    expect(live.body.error).toBe('ACTION_KIND_NOT_ALLOWED')
    expect(live.body.message).toMatch(/apr_0001/)
    const before = await d.daemon.store.listDocs('approvals-test')
    const admitted = await reserve(body(ops, 'code.deploy', {estimate: {unit: 'TOKENS', amount: 999}}))
    expect(admitted.status).toBe(200)
    const after = await d.daemon.store.listDocs('approvals-test')
    expect(after.length - before.length).toBe(1)
    // Access control comes first: a denied kind never reaches the gate.
    expect((await reserve(body({workspace: 'sandbox'}, 'payment.charge', {dry_run: true}))).body.reason_code).toBe('ACTION_KIND_DENIED')
  })
})
