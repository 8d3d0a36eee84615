// The approval gate end to end through a real daemon with its default wiring (no stand-in gate): a
// policy that requires approval for a kind denies and queues one request per (tenant, subject,
// action, estimate); an operator approves it on the admin plane; the grant admits exactly one of
// several concurrent matching reservations, and the next one is denied again.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {ADMIN_KEY, admin} from '../admin/support.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const CONFIG = `
admin_key: ${ADMIN_KEY}
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 100000}
tiers:
  low: {mode: enforce, match: []}
  medium: {mode: enforce, match: []}
  high: {mode: enforce, match: ["code.*"]}
policies:
  - id: pol_approve
    tenant: acme
    name: approve deploys
    scope_pattern: "tenant:acme/workspace:ops"
    approval_required_action_kinds: [code.deploy]
`

describe('approval gate through the daemon (default wiring)', () => {
  let d: TestDaemon
  let n = 0
  const reserve = (amount = 500, extra: Record<string, unknown> = {}) =>
    call(d.url, 'POST', '/v1/reservations', {idempotency_key: `gate-${++n}`, subject: {tenant: 'acme', workspace: 'ops'}, action: {kind: 'code.deploy', name: 'deploy'}, estimate: {unit: 'TOKENS', amount}, ...extra}, {'X-Cycles-API-Key': KEY})
  const reserved = async () => (await call(d.url, 'GET', '/v1/balances?tenant=acme', undefined, {'X-Cycles-API-Key': KEY})).body.balances[0].reserved.amount as number

  beforeAll(async () => {
    d = await startTestDaemon(CONFIG, {adminPort: 0})
  })
  afterAll(async () => d?.stop())

  it('denies and queues once, an approval admits exactly one of eight concurrent reservations, then it denies again', async () => {
    const dry = await reserve(500, {dry_run: true})
    expect(dry.body).toMatchObject({decision: 'DENY', reason_code: 'APPROVAL_REQUIRED'})
    const first = await reserve()
    expect(first.status).toBe(409)
    expect(first.body.error).toBe('ACTION_KIND_NOT_ALLOWED')
    const id = /apr_[A-Za-z0-9_]+/.exec(first.body.message)?.[0]
    expect(id).toBeDefined()
    const second = await reserve()
    expect(second.status).toBe(409)
    expect(second.body.message).toContain(id)
    const pending = await admin(d.daemon.adminUrl, 'GET', '/v1/admin/approvals?tenant_id=acme&status=PENDING')
    expect(pending.body.approvals.map((a: {request_id: string}) => a.request_id)).toEqual([id])
    expect(await reserved()).toBe(0)

    const approved = await admin(d.daemon.adminUrl, 'POST', `/v1/admin/approvals/${id}/approve`, {actor: 'oncall', reason: 'release 42'})
    expect(approved.status).toBe(200)

    const answers = await Promise.all(Array.from({length: 8}, () => reserve()))
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1)
    expect(answers.filter((a) => a.status === 409).every((a) => a.body.error === 'ACTION_KIND_NOT_ALLOWED')).toBe(true)
    expect(await reserved()).toBe(500)

    // A grant is for one (subject, action, estimate): another estimate was never approved.
    expect((await reserve(501)).status).toBe(409)
    // The grant is spent: the same request is denied again.
    expect((await reserve()).status).toBe(409)
  })
})
