// Tiers, modes and the two ledgers (design §3, README "Two books"): shadow admits and records what
// enforcement would have said, while its spend still counts in the real book; enforce is the protocol
// as written; the shadow ledger sees every reservation.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets:
  - {scope: "tenant:acme/workspace:shadowed", unit: TOKENS, allocated: 1000}
  - {scope: "tenant:acme/workspace:dry", unit: TOKENS, allocated: 1000}
  - {scope: "tenant:acme/workspace:enforced", unit: TOKENS, allocated: 1000}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: shadow, match: ["email.*"]}
`

let d: TestDaemon
let n = 0
const auth = {'X-Cycles-API-Key': KEY}
const reserve = (workspace: string, kind: string, amount: number, extra: Record<string, unknown> = {}) =>
  call(d.url, 'POST', '/v1/reservations', {
    idempotency_key: `t-${++n}`,
    subject: {tenant: 'acme', workspace, dimensions: {run_id: `run-${workspace}`}},
    action: {kind, name: 'x'},
    estimate: {unit: 'TOKENS', amount},
    ...extra,
  }, auth)
const ledger = async (workspace: string) => {
  const res = await call(d.url, 'GET', `/v1/balances?tenant=acme&workspace=${workspace}`, undefined, auth)
  return res.body.balances.find((b: any) => b.scope_path === `tenant:acme/workspace:${workspace}`)
}
const recordFor = (requestId: string | null) => d.records().find((r) => r.request_id === requestId)!

beforeAll(async () => {
  d = await startTestDaemon(CONFIG)
})
afterAll(async () => d?.stop())

describe('shadow tier', () => {
  it('admits a live reserve that enforcement would deny, says so in a header, and counts its spend in the real book (the shortfall as debt)', async () => {
    const res = await reserve('shadowed', 'llm.completion', 5000)
    expect(res.status).toBe(200)
    expect(res.body.decision).toBe('ALLOW')
    expect(res.body.reservation_id).toBeTruthy()
    expect(res.headers.get('x-cycles-shadow-decision')).toBe('DENY')
    expect(res.headers.get('x-cycles-shadow-reason')).toBe('BUDGET_EXCEEDED')
    expect(Object.keys(res.body).sort()).toEqual(['affected_scopes', 'balances', 'decision', 'expires_at_ms', 'remaining_ttl_ms', 'reservation_id', 'reserved', 'scope_path'])
    // The real book holds what it can cover of the estimate (1000 of 5000), never more.
    expect(await ledger('shadowed')).toMatchObject({reserved: {unit: 'TOKENS', amount: 1000}, remaining: {unit: 'TOKENS', amount: 0}})

    const commit = await call(d.url, 'POST', `/v1/reservations/${res.body.reservation_id}/commit`, {idempotency_key: `c-${++n}`, actual: {unit: 'TOKENS', amount: 4200}}, auth)
    expect(commit.status).toBe(200)
    expect(commit.body.charged).toEqual({unit: 'TOKENS', amount: 4200})
    // Was: the real ledger untouched. Now the real spend shows: 1000 covered, 3200 as debt, over the (zero) overdraft limit.
    expect(await ledger('shadowed')).toMatchObject({
      spent: {unit: 'TOKENS', amount: 1000}, reserved: {unit: 'TOKENS', amount: 0}, debt: {unit: 'TOKENS', amount: 3200},
      remaining: {unit: 'TOKENS', amount: -3200}, is_over_limit: true,
    })

    const records = d.records()
    const reserveRecord = recordFor(res.headers.get('x-request-id'))
    expect(reserveRecord).toMatchObject({
      v: 2, endpoint: 'reserve', mode: 'shadow', tier: 'medium', dry_run: false, decision: 'ALLOW',
      would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED', denied_scope: 'tenant:acme/workspace:shadowed',
      scope_path: 'tenant:acme/workspace:shadowed', unit: 'TOKENS', estimate: 5000, run_id: 'run-shadowed', http_status: 200,
      reservation_id: res.body.reservation_id, tenant: 'acme',
    })
    const commitRecord = records.find((r) => r.request_id === commit.headers.get('x-request-id'))
    expect(commitRecord).toMatchObject({endpoint: 'commit', mode: 'shadow', tier: 'medium', estimate: 5000, actual: 4200, scope_path: 'tenant:acme/workspace:shadowed', run_id: 'run-shadowed'})
  })

  it('the shadow ledger holds would-be allowed reservations, so later ones would be denied', async () => {
    const results = []
    for (let i = 0; i < 4; i++) results.push(await reserve('shadowed', 'llm.chat', 300))
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200])
    expect(results.map((r) => r.headers.get('x-cycles-shadow-decision'))).toEqual([null, null, null, 'DENY'])
    const would = results.map((r) => recordFor(r.headers.get('x-request-id')).would_decision)
    expect(would).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'DENY'])
    // releasing a held shadow reservation gives the room back in the shadow world
    const release = await call(d.url, 'POST', `/v1/reservations/${results[0].body.reservation_id}/release`, {idempotency_key: `rel-${++n}`}, auth)
    expect(release.status).toBe(200)
    const after = await reserve('shadowed', 'llm.chat', 300)
    expect(recordFor(after.headers.get('x-request-id')).would_decision).toBe('ALLOW')
  })

  it('dry-runs stay stateless in the answer while the shadow ledger charges their estimates', async () => {
    const results = []
    for (let i = 0; i < 5; i++) results.push(await reserve('dry', 'llm.chat', 300, {dry_run: true}))
    expect(results.map((r) => r.body.decision)).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW'])
    const records = results.map((r) => recordFor(r.headers.get('x-request-id')))
    expect(records.map((r) => r.decision)).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW'])
    expect(records.map((r) => r.would_decision)).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'DENY', 'DENY'])
    expect(records.every((r) => r.dry_run === true && r.mode === 'shadow')).toBe(true)
  })

  it('unmatched kinds are tier high', async () => {
    const res = await reserve('dry', 'unknown.thing', 1, {dry_run: true})
    expect(recordFor(res.headers.get('x-request-id')).tier).toBe('high')
  })
})

describe('enforce tier', () => {
  it('is the protocol as written: real holds, 409 on exceeded, log shows DENY', async () => {
    const ok = await reserve('enforced', 'search.web', 600)
    expect(ok.status).toBe(200)
    expect((await ledger('enforced')).reserved.amount).toBe(600)
    const denied = await reserve('enforced', 'search.web', 600)
    expect(denied.status).toBe(409)
    expect(denied.body.error).toBe('BUDGET_EXCEEDED')
    const record = recordFor(denied.headers.get('x-request-id'))
    expect(record).toMatchObject({mode: 'enforce', tier: 'low', decision: 'DENY', reason_code: 'BUDGET_EXCEEDED', would_decision: 'DENY', http_status: 409})
    expect(recordFor(ok.headers.get('x-request-id'))).toMatchObject({decision: 'ALLOW', would_decision: 'ALLOW', mode: 'enforce'})
  })

  it('writes one record per evaluated request, each a complete schema-v2 (chained) record', async () => {
    const records = d.records()
    const counts: Record<string, number> = {}
    for (const r of records) counts[`${r.endpoint}${r.dry_run ? '/dry' : ''}`] = (counts[`${r.endpoint}${r.dry_run ? '/dry' : ''}`] ?? 0) + 1
    expect(counts).toEqual({reserve: 8, 'reserve/dry': 6, commit: 1, release: 1})
    for (const r of records) {
      expect(r).toMatchObject({v: 2, prev_hash: expect.stringMatching(/^[0-9a-f]{64}$/), hash: expect.stringMatching(/^[0-9a-f]{64}$/)})
      expect(r.id).toMatch(/^[0-9a-f-]{36}$/)
      expect(r.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      expect(['reserve', 'decide', 'commit', 'release', 'extend', 'event']).toContain(r.endpoint)
      expect(['ALLOW', 'ALLOW_WITH_CAPS', 'DENY']).toContain(r.decision)
      expect(['ALLOW', 'ALLOW_WITH_CAPS', 'DENY']).toContain(r.would_decision)
      expect(typeof r.latency_us).toBe('number')
      expect(r.trace_id).toMatch(/^[0-9a-f]{32}$/)
    }
    expect(new Set(records.map((r) => r.id)).size).toBe(records.length)
  })
})
