// Decision records and admin audit rows carry exactly what the analyzer and an auditor rely on:
// latency in microseconds, run lineage on every reservation endpoint, the riskiest tier, the response's
// own request_id, and who acted (admin, or admin on behalf of a tenant).
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import type {Store} from '../../src/store/types.js'
import {type CallResult, type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const ADMIN_KEY = 'adm_test_0123456789abcdef0123'
const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
admin_key: ${ADMIN_KEY}
budgets:
  - {scope: "tenant:acme", unit: CREDITS, allocated: 100000}
tiers:
  low: {mode: enforce, match: ["search.*", "*.read"]}
  medium: {mode: enforce, match: ["llm.*"]}
  high: {mode: enforce, match: ["email.*"]}
`
/** Every store write of the slowed daemon takes at least this long, so its latency has a known floor. */
const WRITE_DELAY_MS = 25

/** The embedded store with every `apply` delayed: the daemon cannot answer a write in less time. */
function slowedStore(store: EmbeddedStore): Store {
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target)
      if (prop === 'apply') return async (...args: Parameters<Store['apply']>) => (await sleep(WRITE_DELAY_MS), target.apply(...args))
      return typeof value === 'function' ? value.bind(target) : value
    },
  }) as unknown as Store
}

let d: TestDaemon
let n = 0
const auth = {'X-Cycles-API-Key': KEY}
const recordOf = (res: CallResult) => {
  const r = d.records().find((x) => x.request_id === res.headers.get('x-request-id'))
  expect(r, `no record for ${res.headers.get('x-request-id')}`).toBeDefined()
  return r!
}
const reserve = (subject: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  call(d.url, 'POST', '/v1/reservations', {
    idempotency_key: `ra-${++n}`, subject, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'CREDITS', amount: 10}, ...extra,
  }, auth)

beforeAll(async () => {
  d = await startTestDaemon(CONFIG, {adminPort: 0, store: slowedStore(await EmbeddedStore.open({}))})
})
afterAll(async () => d?.stop())

describe('decision records', () => {
  it('latency_us is in microseconds: at least the store delay, at most what the client measured', async () => {
    const started = process.hrtime.bigint()
    const res = await reserve({tenant: 'acme'}, {dry_run: true})
    const clientUs = Number((process.hrtime.bigint() - started) / 1000n)
    expect(res.status, res.text).toBe(200)
    const {latency_us} = recordOf(res)
    expect(Number.isInteger(latency_us)).toBe(true)
    // A millisecond or nanosecond count would fall outside these bounds by a factor of 1000.
    expect(latency_us).toBeGreaterThanOrEqual(WRITE_DELAY_MS * 1000)
    expect(latency_us).toBeLessThanOrEqual(clientUs)
  })

  it('run_id and parent_run_id from subject.dimensions reach the reserve, extend and commit records', async () => {
    const dims = {run_id: 'run-child', parent_run_id: 'run-parent'}
    const r = await reserve({tenant: 'acme', dimensions: dims})
    expect(r.status, r.text).toBe(200)
    const id = r.body.reservation_id
    const ext = await call(d.url, 'POST', `/v1/reservations/${id}/extend`, {idempotency_key: `x-${++n}`, extend_by_ms: 1000}, auth)
    const commit = await call(d.url, 'POST', `/v1/reservations/${id}/commit`, {idempotency_key: `c-${++n}`, actual: {unit: 'CREDITS', amount: 5}}, auth)
    expect([ext.status, commit.status]).toEqual([200, 200])
    for (const [res, endpoint] of [[r, 'reserve'], [ext, 'extend'], [commit, 'commit']] as const) {
      // A live reservation's records say so: dry_run false on its reserve, extend and commit alike.
      expect(recordOf(res), endpoint).toMatchObject({endpoint, reservation_id: id, dry_run: false, ...dims})
    }
  })

  it('run ids from metadata reach the release record; a run without a parent has no parent_run_id', async () => {
    const r = await reserve({tenant: 'acme'}, {metadata: {run_id: 'meta-run', parent_run_id: 'meta-parent'}})
    const rel = await call(d.url, 'POST', `/v1/reservations/${r.body.reservation_id}/release`, {idempotency_key: `rel-${++n}`}, auth)
    expect(rel.status, rel.text).toBe(200)
    expect(recordOf(rel)).toMatchObject({endpoint: 'release', run_id: 'meta-run', parent_run_id: 'meta-parent'})
    const root = await reserve({tenant: 'acme', dimensions: {run_id: 'root-run'}})
    const commit = await call(d.url, 'POST', `/v1/reservations/${root.body.reservation_id}/commit`, {idempotency_key: `c-${++n}`, actual: {unit: 'CREDITS', amount: 1}}, auth)
    expect(recordOf(commit)).toMatchObject({endpoint: 'commit', run_id: 'root-run'})
    expect(recordOf(commit)).not.toHaveProperty('parent_run_id')
  })

  it('the riskiest matching tier is recorded: email.read matches *.read (low) and email.* (high) → high', async () => {
    const res = await reserve({tenant: 'acme'}, {action: {kind: 'email.read', name: 'inbox'}, dry_run: true})
    expect(recordOf(res)).toMatchObject({tier: 'high', mode: 'enforce'})
    const low = await reserve({tenant: 'acme'}, {action: {kind: 'file.read', name: 'x'}, dry_run: true})
    expect(recordOf(low).tier).toBe('low')
  })
})

describe('admin audit rows', () => {
  const admin = (method: string, path: string, body?: unknown) => call(d.daemon.adminUrl, method, path, body, {'X-Admin-API-Key': ADMIN_KEY})
  const rowsFor = async (requestId: string | null) => {
    const res = await admin('GET', `/v1/admin/audit/logs?request_id=${requestId}`)
    expect(res.status, res.text).toBe(200)
    return res.body.logs as Array<Record<string, any>>
  }

  it('a tenant write is audited once with the response request_id, as admin_on_behalf_of that tenant', async () => {
    const res = await admin('POST', '/v1/admin/tenants', {tenant_id: 'initech', name: 'Initech'})
    expect(res.status, res.text).toBe(201)
    const rows = await rowsFor(res.headers.get('x-request-id'))
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      tenant_id: 'initech', operation: 'createTenant', resource_id: 'initech', status: 201,
      request_id: res.headers.get('x-request-id'), trace_id: res.headers.get('x-cycles-trace-id'),
    })
    expect(rows[0].metadata.actor_type).toBe('admin_on_behalf_of')
  })

  it('a control write with no tenant is audited as admin', async () => {
    const res = await admin('POST', '/v1/admin/killswitch/engage', {reason: 'audit test', actor: 'oncall'})
    expect(res.status, res.text).toBe(200)
    const rows = await rowsFor(res.headers.get('x-request-id'))
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({tenant_id: '__admin__', request_id: res.headers.get('x-request-id')})
    expect(rows[0].metadata.actor_type).toBe('admin')
    expect((await admin('POST', '/v1/admin/killswitch/release', {actor: 'oncall'})).status).toBe(200)
  })

  it('a failed admin request is audited with the request_id its error envelope carries', async () => {
    const res = await admin('POST', '/v1/admin/tenants', {tenant_id: 'Bad_Id', name: 'x'})
    expect(res.status).toBe(400)
    expect(res.body.request_id).toBe(res.headers.get('x-request-id'))
    const rows = await rowsFor(res.body.request_id)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({status: 400, error_code: res.body.error, request_id: res.body.request_id, tenant_id: '__admin__'})
    expect(rows[0].metadata.actor_type).toBe('admin')
  })
})
