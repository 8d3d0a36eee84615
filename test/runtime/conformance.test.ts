// Runtime-plane conformance over a real socket: every response is validated against the official
// spec file and the SDK's strict checks (no unknown keys, no nulls, safe integers, exact statuses).
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type CallResult, type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {sdkStrictErrors, specErrors} from '../support/spec.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const OTHER_KEY = 'cyc_test_other_0123456789abcdef'
const CLOSED_KEY = 'cyc_test_closed_0123456789abcdef'
const SUSPENDED_KEY = 'cyc_test_susp_0123456789abcdef'

const CONFIG = `
tenants:
  - {id: acme, max_reservation_extensions: 2}
  - {id: other}
  - {id: closedco, status: CLOSED}
  - {id: suspco, status: SUSPENDED}
api_keys:
  - {tenant: acme, secret: ${KEY}}
  - {tenant: other, secret: ${OTHER_KEY}}
  - {tenant: closedco, secret: ${CLOSED_KEY}}
  - {tenant: suspco, secret: ${SUSPENDED_KEY}}
budgets:
  - {scope: "tenant:acme", unit: USD_MICROCENTS, allocated: 1000000}
  - {scope: "tenant:acme/workspace:prod", unit: USD_MICROCENTS, allocated: 500000}
  - {scope: "tenant:acme/workspace:prod/agent:capped", unit: USD_MICROCENTS, allocated: 100000, caps: {max_tokens: 256, tool_denylist: [shell]}}
  - {scope: "tenant:acme/workspace:frozen", unit: USD_MICROCENTS, allocated: 100000, status: FROZEN}
  - {scope: "tenant:acme/workspace:tokens", unit: TOKENS, allocated: 1000}
  - {scope: "tenant:acme/workspace:od", unit: CREDITS, allocated: 100, overdraft_limit: 50}
  - {scope: "tenant:acme/workspace:strict", unit: CREDITS, allocated: 100}
  - {scope: "tenant:other", unit: USD_MICROCENTS, allocated: 1000000}
  - {scope: "tenant:closedco", unit: USD_MICROCENTS, allocated: 1000000}
tiers:
  low: {mode: enforce, match: ["search.*", "tool.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: enforce, match: ["email.*"]}
`

let d: TestDaemon
let seq = 0
const key = (p = 'k') => `${p}-${++seq}`
const auth = (k = KEY) => ({'X-Cycles-API-Key': k})

function valid(res: CallResult, schema: string, status: number): any {
  expect(res.status, res.text).toBe(status)
  expect(specErrors('runtime', schema, res.body), res.text).toBeUndefined()
  expect(sdkStrictErrors(res.body)).toEqual([])
  expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  expect(res.headers.get('x-cycles-trace-id')).toMatch(/^[0-9a-f]{32}$/)
  if (status >= 400) {
    expect(res.body.request_id).toBe(res.headers.get('x-request-id'))
    expect(res.body.trace_id).toBe(res.headers.get('x-cycles-trace-id'))
  }
  return res.body
}

const reserve = (body: Record<string, unknown>, k = KEY) =>
  call(d.url, 'POST', '/v1/reservations', {
    idempotency_key: key('r'),
    subject: {tenant: 'acme', workspace: 'prod'},
    action: {kind: 'tool.search', name: 'web'},
    estimate: {unit: 'USD_MICROCENTS', amount: 1000},
    ...body,
  }, auth(k))

beforeAll(async () => {
  d = await startTestDaemon(CONFIG)
})
afterAll(async () => d?.stop())

describe('dry-run (POST /v1/reservations, dry_run: true)', () => {
  it('ALLOW: spec fields, balances, and no reservation_id / expires_at_ms / remaining_ttl_ms', async () => {
    const body = valid(await reserve({dry_run: true}), 'ReservationCreateResponse', 200)
    expect(body.decision).toBe('ALLOW')
    expect(body.affected_scopes).toEqual(['tenant:acme', 'tenant:acme/workspace:prod'])
    expect(body.scope_path).toBe('tenant:acme/workspace:prod')
    expect(body.reserved).toEqual({unit: 'USD_MICROCENTS', amount: 1000})
    expect(body.balances.map((b: any) => b.scope)).toEqual(['tenant:acme', 'workspace:prod'])
    for (const absent of ['reservation_id', 'expires_at_ms', 'remaining_ttl_ms', 'caps', 'reason_code']) expect(body).not.toHaveProperty(absent)
  })

  it('ALLOW_WITH_CAPS from the deepest scope', async () => {
    const body = valid(await reserve({dry_run: true, subject: {tenant: 'acme', workspace: 'prod', agent: 'capped'}}), 'ReservationCreateResponse', 200)
    expect(body.decision).toBe('ALLOW_WITH_CAPS')
    expect(body.caps).toEqual({max_tokens: 256, tool_denylist: ['shell']})
  })

  it.each([
    ['BUDGET_EXCEEDED', {estimate: {unit: 'USD_MICROCENTS', amount: 600000}}],
    ['BUDGET_FROZEN', {subject: {tenant: 'acme', workspace: 'frozen'}}],
  ])('DENY %s is 200 with reason_code, never 409', async (reason, over) => {
    const body = valid(await reserve({dry_run: true, ...over}), 'ReservationCreateResponse', 200)
    expect(body).toMatchObject({decision: 'DENY', reason_code: reason})
    expect(body).not.toHaveProperty('reservation_id')
    expect(body).not.toHaveProperty('balances')
  })

  it('DENY BUDGET_NOT_FOUND when no scope has a budget in any unit', async () => {
    const body = valid(await reserve({dry_run: true, subject: {tenant: 'acme', workspace: 'nobudget'}, action: {kind: 'tool.x', name: 'y'}, estimate: {unit: 'USD_MICROCENTS', amount: 1}}), 'ReservationCreateResponse', 200)
    // tenant:acme has a USD budget, so this ALLOWs at the root; use a subject without tenant to find none.
    expect(body.decision).toBe('ALLOW')
    const none = valid(await reserve({dry_run: true, subject: {agent: 'ghost'}}), 'ReservationCreateResponse', 200)
    expect(none).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_NOT_FOUND', affected_scopes: ['agent:ghost']})
  })

  it('UNIT_MISMATCH stays a 400 with details, on dry-run, decide and live', async () => {
    const subject = {tenant: 'acme', workspace: 'tokens'}
    const dry = valid(await reserve({dry_run: true, subject, estimate: {unit: 'CREDITS', amount: 1}}), 'ErrorResponse', 400)
    expect(dry.error).toBe('UNIT_MISMATCH')
    expect(dry.details.requested_unit).toBe('CREDITS')
    expect(dry.details.expected_units).toEqual(expect.arrayContaining(['USD_MICROCENTS']))
    const decide = await call(d.url, 'POST', '/v1/decide', {idempotency_key: key(), subject: {agent: 'x', toolset: 'y'}, action: {kind: 'tool.a', name: 'b'}, estimate: {unit: 'CREDITS', amount: 1}}, auth())
    expect(decide.status).toBe(200) // no budget anywhere for agent:x → DENY, not a mismatch
    expect(decide.body).toEqual({decision: 'DENY', reason_code: 'BUDGET_NOT_FOUND', affected_scopes: ['agent:x', 'agent:x/toolset:y']})
    const live = valid(await reserve({subject, estimate: {unit: 'CREDITS', amount: 1}}), 'ErrorResponse', 400)
    expect(live.error).toBe('UNIT_MISMATCH')
  })

  it('does not change balances', async () => {
    const before = valid(await call(d.url, 'GET', '/v1/balances?tenant=acme&workspace=prod', undefined, auth()), 'BalanceResponse', 200)
    for (let i = 0; i < 3; i++) await reserve({dry_run: true, estimate: {unit: 'USD_MICROCENTS', amount: 5000}})
    const after = valid(await call(d.url, 'GET', '/v1/balances?tenant=acme&workspace=prod', undefined, auth()), 'BalanceResponse', 200)
    expect(after.balances).toEqual(before.balances)
  })
})

describe('decide', () => {
  it('answers only decision, caps, reason_code, affected_scopes', async () => {
    const allow = valid(await call(d.url, 'POST', '/v1/decide', {idempotency_key: key(), subject: {tenant: 'acme', workspace: 'prod', agent: 'capped'}, action: {kind: 'tool.a', name: 'b'}, estimate: {unit: 'USD_MICROCENTS', amount: 10}}, auth()), 'DecisionResponse', 200)
    expect(allow).toEqual({decision: 'ALLOW_WITH_CAPS', caps: {max_tokens: 256, tool_denylist: ['shell']}, affected_scopes: ['tenant:acme', 'tenant:acme/workspace:prod', 'tenant:acme/workspace:prod/agent:capped']})
    const deny = valid(await call(d.url, 'POST', '/v1/decide', {idempotency_key: key(), subject: {tenant: 'acme', workspace: 'frozen'}, action: {kind: 'tool.a', name: 'b'}, estimate: {unit: 'USD_MICROCENTS', amount: 10}}, auth()), 'DecisionResponse', 200)
    expect(deny).toEqual({decision: 'DENY', reason_code: 'BUDGET_FROZEN', affected_scopes: ['tenant:acme', 'tenant:acme/workspace:frozen']})
  })
})

describe('live reserve, commit, release, extend (enforce tier)', () => {
  it('reserve holds the estimate and reports post-mutation balances', async () => {
    const body = valid(await reserve({estimate: {unit: 'USD_MICROCENTS', amount: 2000}}), 'ReservationCreateResponse', 200)
    expect(body.decision).toBe('ALLOW')
    expect(body.reservation_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(body.remaining_ttl_ms).toBe(60000)
    expect(body.expires_at_ms).toBeGreaterThan(Date.now())
    const prod = body.balances.find((b: any) => b.scope_path === 'tenant:acme/workspace:prod')
    expect(prod.reserved.amount).toBeGreaterThanOrEqual(2000)
    expect(prod.remaining.amount).toBe(prod.allocated.amount - prod.spent.amount - prod.reserved.amount)

    const commit = valid(await call(d.url, 'POST', `/v1/reservations/${body.reservation_id}/commit`, {idempotency_key: key('c'), actual: {unit: 'USD_MICROCENTS', amount: 1500}}, auth()), 'CommitResponse', 200)
    expect(commit.status).toBe('COMMITTED')
    expect(commit.charged).toEqual({unit: 'USD_MICROCENTS', amount: 1500})
    expect(commit.released).toEqual({unit: 'USD_MICROCENTS', amount: 500})

    const detail = valid(await call(d.url, 'GET', `/v1/reservations/${body.reservation_id}`, undefined, auth()), 'ReservationDetail', 200)
    expect(detail).toMatchObject({status: 'COMMITTED', committed: {unit: 'USD_MICROCENTS', amount: 1500}})
  })

  it('live denials are 409/404 with the envelope', async () => {
    const exceeded = valid(await reserve({estimate: {unit: 'USD_MICROCENTS', amount: 900000}}), 'ErrorResponse', 409)
    expect(exceeded.error).toBe('BUDGET_EXCEEDED')
    expect(valid(await reserve({subject: {tenant: 'acme', workspace: 'frozen'}}), 'ErrorResponse', 409).error).toBe('BUDGET_FROZEN')
    const missing = valid(await reserve({subject: {agent: 'ghost'}}), 'ErrorResponse', 404)
    expect(missing).toMatchObject({error: 'NOT_FOUND', message: 'Budget not found for provided scope: agent:ghost'})
  })

  it('release returns the hold; finalized reservations refuse a second finalisation', async () => {
    const r = valid(await reserve({}), 'ReservationCreateResponse', 200)
    const releaseKey = key('rel')
    const rel = await call(d.url, 'POST', `/v1/reservations/${r.reservation_id}/release`, {idempotency_key: releaseKey, reason: 'done'}, auth())
    expect(valid(rel, 'ReleaseResponse', 200)).toMatchObject({status: 'RELEASED', released: {unit: 'USD_MICROCENTS', amount: 1000}})
    const replay = await call(d.url, 'POST', `/v1/reservations/${r.reservation_id}/release`, {idempotency_key: releaseKey, reason: 'done'}, auth())
    expect(replay.status).toBe(200)
    expect(replay.text).toBe(rel.text)
    const again = valid(await call(d.url, 'POST', `/v1/reservations/${r.reservation_id}/release`, {idempotency_key: key()}, auth()), 'ErrorResponse', 409)
    expect(again.error).toBe('RESERVATION_FINALIZED')
    const commit = valid(await call(d.url, 'POST', `/v1/reservations/${r.reservation_id}/commit`, {idempotency_key: key(), actual: {unit: 'USD_MICROCENTS', amount: 1}}, auth()), 'ErrorResponse', 409)
    expect(commit.error).toBe('RESERVATION_FINALIZED')
  })

  it('extend adds to the current expiry and stops at max_reservation_extensions', async () => {
    const r = valid(await reserve({ttl_ms: 5000}), 'ReservationCreateResponse', 200)
    const ext = valid(await call(d.url, 'POST', `/v1/reservations/${r.reservation_id}/extend`, {idempotency_key: key(), extend_by_ms: 10000}, auth()), 'ReservationExtendResponse', 200)
    expect(ext.status).toBe('ACTIVE')
    expect(ext.expires_at_ms).toBe(r.expires_at_ms + 10000)
    valid(await call(d.url, 'POST', `/v1/reservations/${r.reservation_id}/extend`, {idempotency_key: key(), extend_by_ms: 1000}, auth()), 'ReservationExtendResponse', 200)
    const third = valid(await call(d.url, 'POST', `/v1/reservations/${r.reservation_id}/extend`, {idempotency_key: key(), extend_by_ms: 1000}, auth()), 'ErrorResponse', 409)
    expect(third.error).toBe('MAX_EXTENSIONS_EXCEEDED')
  })

  it('commit in another unit is UNIT_MISMATCH; another tenant gets 404 as for an unknown id', async () => {
    const r = valid(await reserve({}), 'ReservationCreateResponse', 200)
    expect(valid(await call(d.url, 'POST', `/v1/reservations/${r.reservation_id}/commit`, {idempotency_key: key(), actual: {unit: 'TOKENS', amount: 1}}, auth()), 'ErrorResponse', 400).error).toBe('UNIT_MISMATCH')
    expect(valid(await call(d.url, 'POST', `/v1/reservations/${r.reservation_id}/commit`, {idempotency_key: key(), actual: {unit: 'USD_MICROCENTS', amount: 1}}, auth(OTHER_KEY)), 'ErrorResponse', 404).error).toBe('NOT_FOUND')
    expect(valid(await call(d.url, 'GET', '/v1/reservations/does-not-exist', undefined, auth()), 'ErrorResponse', 404).error).toBe('NOT_FOUND')
  })

  it('TTL + grace: commit after expiry is 410 and the sweep returns the hold', async () => {
    const before = valid(await call(d.url, 'GET', '/v1/balances?tenant=acme&workspace=prod', undefined, auth()), 'BalanceResponse', 200)
    const reservedBefore = before.balances.find((b: any) => b.scope_path === 'tenant:acme/workspace:prod').reserved.amount
    const r = valid(await reserve({ttl_ms: 1000, grace_period_ms: 0, estimate: {unit: 'USD_MICROCENTS', amount: 777}}), 'ReservationCreateResponse', 200)
    await new Promise((res) => setTimeout(res, 1400))
    const late = valid(await call(d.url, 'POST', `/v1/reservations/${r.reservation_id}/commit`, {idempotency_key: key(), actual: {unit: 'USD_MICROCENTS', amount: 1}}, auth()), 'ErrorResponse', 410)
    expect(late.error).toBe('RESERVATION_EXPIRED')
    const after = valid(await call(d.url, 'GET', '/v1/balances?tenant=acme&workspace=prod', undefined, auth()), 'BalanceResponse', 200)
    expect(after.balances.find((b: any) => b.scope_path === 'tenant:acme/workspace:prod').reserved.amount).toBe(reservedBefore)
    expect(valid(await call(d.url, 'GET', `/v1/reservations/${r.reservation_id}`, undefined, auth()), 'ErrorResponse', 410).error).toBe('RESERVATION_EXPIRED')
  })

  it('overage policies at commit: REJECT 409, ALLOW_WITH_OVERDRAFT creates debt, over-limit then blocks', async () => {
    const strict = valid(await reserve({subject: {tenant: 'acme', workspace: 'strict'}, estimate: {unit: 'CREDITS', amount: 10}, overage_policy: 'REJECT'}), 'ReservationCreateResponse', 200)
    expect(valid(await call(d.url, 'POST', `/v1/reservations/${strict.reservation_id}/commit`, {idempotency_key: key(), actual: {unit: 'CREDITS', amount: 11}}, auth()), 'ErrorResponse', 409).error).toBe('BUDGET_EXCEEDED')

    const od = valid(await reserve({subject: {tenant: 'acme', workspace: 'od'}, estimate: {unit: 'CREDITS', amount: 90}, overage_policy: 'ALLOW_WITH_OVERDRAFT'}), 'ReservationCreateResponse', 200)
    const commit = valid(await call(d.url, 'POST', `/v1/reservations/${od.reservation_id}/commit`, {idempotency_key: key(), actual: {unit: 'CREDITS', amount: 130}}, auth()), 'CommitResponse', 200)
    const ledger = commit.balances.find((b: any) => b.scope_path === 'tenant:acme/workspace:od')
    expect(ledger.debt).toEqual({unit: 'CREDITS', amount: 30})
    expect(ledger.remaining).toEqual({unit: 'CREDITS', amount: -30})
    // debt within the overdraft limit does not block; remaining < estimate does
    const next = valid(await reserve({subject: {tenant: 'acme', workspace: 'od'}, estimate: {unit: 'CREDITS', amount: 1}, dry_run: true}), 'ReservationCreateResponse', 200)
    expect(next).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_EXCEEDED'})
  })
})

describe('events', () => {
  it('201 APPLIED, idempotent replay returns the same event_id', async () => {
    const body = {idempotency_key: key('e'), subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'tool.search', name: 'web'}, actual: {unit: 'USD_MICROCENTS', amount: 300}}
    const first = valid(await call(d.url, 'POST', '/v1/events', body, auth()), 'EventCreateResponse', 201)
    expect(first.status).toBe('APPLIED')
    expect(first).not.toHaveProperty('charged')
    const again = await call(d.url, 'POST', '/v1/events', body, auth())
    expect(again.status).toBe(201)
    expect(again.body.event_id).toBe(first.event_id)
    const mismatch = valid(await call(d.url, 'POST', '/v1/events', {...body, actual: {unit: 'USD_MICROCENTS', amount: 301}}, auth()), 'ErrorResponse', 409)
    expect(mismatch.error).toBe('IDEMPOTENCY_MISMATCH')
  })
})

describe('idempotency', () => {
  it('replays the identical body, including reservation_id', async () => {
    const body = {idempotency_key: key('idem'), subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'tool.search', name: 'web'}, estimate: {unit: 'USD_MICROCENTS', amount: 10}}
    const first = await call(d.url, 'POST', '/v1/reservations', body, auth())
    const second = await call(d.url, 'POST', '/v1/reservations', {...body, grace_period_ms: 5000, dry_run: false}, auth())
    expect(second.status).toBe(200)
    expect(second.body.reservation_id).toBe(first.body.reservation_id)
    expect(second.body.expires_at_ms).toBe(first.body.expires_at_ms)
  })

  it('a changed payload or a dry_run flip under the same key is 409 IDEMPOTENCY_MISMATCH', async () => {
    const base = {idempotency_key: key('flip'), subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'tool.search', name: 'web'}, estimate: {unit: 'USD_MICROCENTS', amount: 10}, dry_run: true}
    valid(await call(d.url, 'POST', '/v1/reservations', base, auth()), 'ReservationCreateResponse', 200)
    expect(valid(await call(d.url, 'POST', '/v1/reservations', {...base, dry_run: false}, auth()), 'ErrorResponse', 409).error).toBe('IDEMPOTENCY_MISMATCH')
    expect(valid(await call(d.url, 'POST', '/v1/reservations', {...base, estimate: {unit: 'USD_MICROCENTS', amount: 11}}, auth()), 'ErrorResponse', 409).error).toBe('IDEMPOTENCY_MISMATCH')
    // decide has its own namespace: the same key is free there
    const decided = valid(await call(d.url, 'POST', '/v1/decide', {idempotency_key: base.idempotency_key, subject: base.subject, action: base.action, estimate: base.estimate}, auth()), 'DecisionResponse', 200)
    expect(decided).toEqual({decision: 'ALLOW', affected_scopes: ['tenant:acme', 'tenant:acme/workspace:prod']})
  })

  it('X-Idempotency-Key must equal the body key', async () => {
    const res = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: 'a', subject: {tenant: 'acme'}, action: {kind: 'tool.a', name: 'b'}, estimate: {unit: 'USD_MICROCENTS', amount: 1}, dry_run: true}, {...auth(), 'X-Idempotency-Key': 'b'})
    expect(valid(res, 'ErrorResponse', 400).error).toBe('INVALID_REQUEST')
  })
})

describe('auth and tenancy', () => {
  it.each([
    ['no key', {}],
    ['unknown key', {'X-Cycles-API-Key': 'cyc_test_nope'}],
    ['suspended tenant', {'X-Cycles-API-Key': SUSPENDED_KEY}],
  ])('%s → 401 envelope', async (_name, headers) => {
    const res = await call(d.url, 'POST', '/v1/decide', {idempotency_key: 'x', subject: {tenant: 'acme'}, action: {kind: 'a', name: 'b'}, estimate: {unit: 'USD_MICROCENTS', amount: 1}}, headers)
    expect(valid(res, 'ErrorResponse', 401).error).toBe('UNAUTHORIZED')
  })

  it('subject.tenant that differs from the key → 403 (case-sensitive)', async () => {
    expect(valid(await reserve({dry_run: true, subject: {tenant: 'Acme'}}), 'ErrorResponse', 403).error).toBe('FORBIDDEN')
    expect(valid(await reserve({dry_run: true, subject: {tenant: 'other'}}), 'ErrorResponse', 403).error).toBe('FORBIDDEN')
  })

  it('closed tenant: dry-run and decide DENY TENANT_CLOSED, live 409 TENANT_CLOSED', async () => {
    const subject = {tenant: 'closedco'}
    const dry = valid(await reserve({dry_run: true, subject}, CLOSED_KEY), 'ReservationCreateResponse', 200)
    expect(dry).toMatchObject({decision: 'DENY', reason_code: 'TENANT_CLOSED'})
    const decide = valid(await call(d.url, 'POST', '/v1/decide', {idempotency_key: key(), subject, action: {kind: 'tool.a', name: 'b'}, estimate: {unit: 'USD_MICROCENTS', amount: 1}}, auth(CLOSED_KEY)), 'DecisionResponse', 200)
    expect(decide.reason_code).toBe('TENANT_CLOSED')
    expect(valid(await reserve({subject}, CLOSED_KEY), 'ErrorResponse', 409).error).toBe('TENANT_CLOSED')
  })
})

describe('headers, traces and strict validation', () => {
  it('honours a valid traceparent, then X-Cycles-Trace-Id; ignores malformed ones', async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736'
    const viaParent = await call(d.url, 'GET', '/v1/balances?tenant=acme', undefined, {...auth(), traceparent: `00-${trace}-00f067aa0ba902b7-01`, 'X-Cycles-Trace-Id': 'a'.repeat(32)})
    expect(viaParent.headers.get('x-cycles-trace-id')).toBe(trace)
    const viaHeader = await call(d.url, 'GET', '/v1/balances?tenant=acme', undefined, {...auth(), traceparent: 'garbage', 'X-Cycles-Trace-Id': 'b'.repeat(32)})
    expect(viaHeader.headers.get('x-cycles-trace-id')).toBe('b'.repeat(32))
    const zeros = await call(d.url, 'GET', '/v1/balances?tenant=acme', undefined, {...auth(), traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, 'X-Cycles-Trace-Id': 'NOT-HEX'})
    expect(zeros.status).toBe(200)
    expect(zeros.headers.get('x-cycles-trace-id')).toMatch(/^[0-9a-f]{32}$/)
    expect(zeros.headers.get('x-cycles-trace-id')).not.toBe('0'.repeat(32))
    expect(zeros.headers.get('x-cycles-tenant')).toBe('acme')
  })

  it.each([
    ['unknown field', {observe_mode: 'OBSERVE'}],
    ['wrong type', {estimate: {unit: 'USD_MICROCENTS', amount: '10'}}],
    ['negative amount', {estimate: {unit: 'USD_MICROCENTS', amount: -1}}],
    ['non-safe integer', {estimate: {unit: 'USD_MICROCENTS', amount: 2 ** 53}}],
    ['fractional amount', {estimate: {unit: 'USD_MICROCENTS', amount: 1.5}}],
    ['unknown unit', {estimate: {unit: 'EUR', amount: 1}}],
    ['subject with only dimensions', {subject: {dimensions: {run_id: 'r'}}}],
    ['bad subject charset', {subject: {tenant: 'acme', agent: 'a b'}}],
    ['blank action kind', {action: {kind: ' ', name: 'x'}}],
    ['ttl out of range', {ttl_ms: 999}],
    ['overlong idempotency key', {idempotency_key: 'x'.repeat(257)}],
  ])('%s → 400 INVALID_REQUEST', async (_name, over) => {
    const res = await reserve({dry_run: true, ...over})
    expect(valid(res, 'ErrorResponse', 400).error).toBe('INVALID_REQUEST')
  })

  it('invalid JSON, empty body and an oversize body are 400 with the envelope', async () => {
    expect(valid(await call(d.url, 'POST', '/v1/decide', '{"idempotency_key":', auth()), 'ErrorResponse', 400).message).toMatch(/Malformed JSON/)
    const big = JSON.stringify({idempotency_key: 'x', subject: {tenant: 'acme'}, action: {kind: 'a', name: 'b'}, estimate: {unit: 'USD_MICROCENTS', amount: 1}, metadata: {blob: 'x'.repeat(100_000)}})
    expect(valid(await call(d.url, 'POST', '/v1/decide', big, auth()), 'ErrorResponse', 400).message).toMatch(/exceeds/)
    const res = await fetch(`${d.url}/v1/decide`, {method: 'POST', headers: auth()})
    expect(res.status).toBe(400)
  })

  it('GET /v1/balances needs a filter and the key tenant', async () => {
    expect(valid(await call(d.url, 'GET', '/v1/balances', undefined, auth()), 'ErrorResponse', 400).error).toBe('INVALID_REQUEST')
    expect(valid(await call(d.url, 'GET', '/v1/balances?tenant=other', undefined, auth()), 'ErrorResponse', 403).error).toBe('FORBIDDEN')
    const page = valid(await call(d.url, 'GET', '/v1/balances?tenant=acme&limit=2', undefined, auth()), 'BalanceResponse', 200)
    expect(page.balances).toHaveLength(2)
    expect(page.has_more).toBe(true)
    const rest = valid(await call(d.url, 'GET', `/v1/balances?tenant=acme&limit=200&cursor=${page.next_cursor}`, undefined, auth()), 'BalanceResponse', 200)
    expect(rest.balances.length).toBeGreaterThan(0)
    expect(rest.balances.map((b: any) => b.scope_path)).not.toContain(page.balances[0].scope_path)
  })

  it('GET /v1/reservations lists only the key tenant', async () => {
    const list = valid(await call(d.url, 'GET', '/v1/reservations?status=COMMITTED&limit=5', undefined, auth()), 'ReservationListResponse', 200)
    expect(list.reservations.length).toBeGreaterThan(0)
    expect(list.reservations.length).toBeLessThanOrEqual(5)
    expect(list.reservations.every((r: any) => r.status === 'COMMITTED' && r.subject.tenant === 'acme')).toBe(true)
    const others = valid(await call(d.url, 'GET', '/v1/reservations', undefined, auth(OTHER_KEY)), 'ReservationListResponse', 200)
    expect(others.reservations).toEqual([])
  })

  it('unknown endpoints are 404 with the envelope', async () => {
    expect(valid(await call(d.url, 'GET', '/v1/nothing', undefined, auth()), 'ErrorResponse', 404).error).toBe('NOT_FOUND')
  })
})
