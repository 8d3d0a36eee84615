// API-key permissions and scope filters on the runtime plane, against a real daemon: every endpoint
// refused (403 FORBIDDEN with the envelope) without its permission and served with it, each scope
// filter form admitting and refusing, and the spec's default permissions for keys made via the admin API.
import {createHash} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type CallResult, type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {specErrors} from '../support/spec.js'

const ADMIN_KEY = 'adm_test_permissions_0123456789'
const FULL_KEY = 'cyc_test_full_0123456789abcdef'
const HASHED_SECRET = 'cyc_test_hashed_0123456789abcdef'
const RUNTIME = ['reservations:create', 'reservations:commit', 'reservations:release', 'reservations:extend', 'reservations:list', 'balances:read']

const CONFIG = `
tenants:
  - {id: acme}
  - {id: globex}
api_keys:
  - {tenant: acme, secret: ${FULL_KEY}, permissions: [${RUNTIME.join(', ')}]}
  - {tenant: acme, secret_sha256: ${createHash('sha256').update(HASHED_SECRET).digest('hex')}, permissions: [balances:read]}
  - {tenant: globex, secret: cyc_test_globex_0123456789abcdef}
budgets:
  - {scope: "tenant:acme", unit: USD_MICROCENTS, allocated: 100000000}
  - {scope: "tenant:acme/workspace:eng", unit: USD_MICROCENTS, allocated: 10000000}
  - {scope: "tenant:acme/workspace:prod", unit: USD_MICROCENTS, allocated: 10000000}
  - {scope: "tenant:globex", unit: USD_MICROCENTS, allocated: 100000000}
admin_key: ${ADMIN_KEY}
`

let d: TestDaemon
let seq = 0
const idem = () => `perm-${++seq}`
const auth = (k: string) => ({'X-Cycles-API-Key': k})
const subjectOf = (scope: Record<string, string>) => ({tenant: 'acme', ...scope})

async function newKey(body: Record<string, unknown>): Promise<{secret: string; key_id: string; permissions: string[]}> {
  const res = await call(d.daemon.adminUrl, 'POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: `k${++seq}`, ...body}, {'X-Admin-API-Key': ADMIN_KEY})
  expect(res.status, res.text).toBe(201)
  return {secret: res.body.key_secret, key_id: res.body.key_id, permissions: res.body.permissions}
}

const reserveBody = (subject: Record<string, string> = {workspace: 'eng'}) => ({
  idempotency_key: idem(),
  subject: subjectOf(subject),
  action: {kind: 'llm.chat', name: 'perm-test'},
  estimate: {unit: 'USD_MICROCENTS', amount: 10},
})

async function reservation(subject: Record<string, string> = {workspace: 'eng'}): Promise<string> {
  const res = await call(d.url, 'POST', '/v1/reservations', reserveBody(subject), auth(FULL_KEY))
  expect(res.status, res.text).toBe(200)
  return res.body.reservation_id
}

/** One call per runtime endpoint; the ones on a reservation get a fresh one made with a full key. */
const ENDPOINTS: Record<string, {permission: string; ok: number; run: (key: string, subject?: Record<string, string>) => Promise<CallResult>}> = {
  reserve: {permission: 'reservations:create', ok: 200, run: (k, s) => call(d.url, 'POST', '/v1/reservations', reserveBody(s), auth(k))},
  decide: {permission: 'reservations:create', ok: 200, run: (k, s) => call(d.url, 'POST', '/v1/decide', reserveBody(s), auth(k))},
  commit: {
    permission: 'reservations:commit',
    ok: 200,
    run: async (k, s) => call(d.url, 'POST', `/v1/reservations/${await reservation(s)}/commit`, {idempotency_key: idem(), actual: {unit: 'USD_MICROCENTS', amount: 5}}, auth(k)),
  },
  release: {permission: 'reservations:release', ok: 200, run: async (k, s) => call(d.url, 'POST', `/v1/reservations/${await reservation(s)}/release`, {idempotency_key: idem()}, auth(k))},
  extend: {
    permission: 'reservations:extend',
    ok: 200,
    run: async (k, s) => call(d.url, 'POST', `/v1/reservations/${await reservation(s)}/extend`, {idempotency_key: idem(), extend_by_ms: 1000}, auth(k)),
  },
  events: {
    permission: 'reservations:commit',
    ok: 201,
    run: (k, s) =>
      call(d.url, 'POST', '/v1/events', {idempotency_key: idem(), subject: subjectOf(s ?? {workspace: 'eng'}), action: {kind: 'llm.chat', name: 'perm-test'}, actual: {unit: 'USD_MICROCENTS', amount: 1}}, auth(k)),
  },
  balances: {permission: 'balances:read', ok: 200, run: (k) => call(d.url, 'GET', '/v1/balances?tenant=acme', undefined, auth(k))},
  listReservations: {permission: 'reservations:list', ok: 200, run: (k) => call(d.url, 'GET', '/v1/reservations', undefined, auth(k))},
  getReservation: {permission: 'reservations:list', ok: 200, run: async (k, s) => call(d.url, 'GET', `/v1/reservations/${await reservation(s)}`, undefined, auth(k))},
}

function forbidden(res: CallResult): void {
  expect(res.status, res.text).toBe(403)
  expect(specErrors('runtime', 'ErrorResponse', res.body), res.text).toBeUndefined()
  expect(res.body.error).toBe('FORBIDDEN')
  expect(res.body.request_id).toBe(res.headers.get('x-request-id'))
  expect(res.body.trace_id).toBe(res.headers.get('x-cycles-trace-id'))
}

beforeAll(async () => {
  d = await startTestDaemon(CONFIG, {adminPort: 0})
})
afterAll(async () => d?.stop())

describe('runtime permissions', () => {
  for (const [name, endpoint] of Object.entries(ENDPOINTS)) {
    it(`${name}: 403 FORBIDDEN without ${endpoint.permission}, served with only it`, async () => {
      const without = await newKey({permissions: RUNTIME.filter((p) => p !== endpoint.permission)})
      const refused = await endpoint.run(without.secret)
      forbidden(refused)
      expect(refused.body.message).toContain(endpoint.permission)
      const only = await newKey({permissions: [endpoint.permission]})
      const served = await endpoint.run(only.secret)
      expect(served.status, served.text).toBe(endpoint.ok)
    })
  }

  it('the issue case: a balances:read key cannot reserve, commit or post events', async () => {
    const readOnly = await newKey({permissions: ['balances:read'], scope_filter: ['workspace:readonly']})
    for (const name of ['reserve', 'commit', 'events'] as const) forbidden(await ENDPOINTS[name].run(readOnly.secret, {workspace: 'prod'}))
    expect((await ENDPOINTS.balances.run(readOnly.secret)).status).toBe(200)
  })

  it('admin:read serves reads but no writes; admin:write serves writes', async () => {
    const reader = await newKey({permissions: ['admin:read']})
    expect((await ENDPOINTS.balances.run(reader.secret)).status).toBe(200)
    expect((await ENDPOINTS.listReservations.run(reader.secret)).status).toBe(200)
    forbidden(await ENDPOINTS.reserve.run(reader.secret))
    const writer = await newKey({permissions: ['admin:write']})
    expect((await ENDPOINTS.reserve.run(writer.secret)).status).toBe(200)
    forbidden(await ENDPOINTS.balances.run(writer.secret))
  })

  it('a key created via the admin API gets exactly the spec default permissions, which serve every runtime endpoint', async () => {
    const created = await newKey({})
    expect([...created.permissions].sort()).toEqual(
      ['reservations:create', 'reservations:commit', 'reservations:release', 'reservations:extend', 'reservations:list', 'balances:read', 'budgets:read', 'budgets:write', 'policies:read', 'policies:write'].sort(),
    )
    for (const [name, endpoint] of Object.entries(ENDPOINTS)) {
      const res = await endpoint.run(created.secret)
      expect(res.status, `${name}: ${res.text}`).toBe(endpoint.ok)
    }
  })

  it('a config key given as secret_sha256 authenticates with its plaintext, with its configured permissions', async () => {
    expect((await ENDPOINTS.balances.run(HASHED_SECRET)).status).toBe(200)
    forbidden(await ENDPOINTS.reserve.run(HASHED_SECRET))
    const wrong = await ENDPOINTS.balances.run(`${HASHED_SECRET}x`)
    expect(wrong.status).toBe(401)
  })

  it('a permission change applies at once (no cached grant)', async () => {
    const k = await newKey({permissions: ['balances:read']})
    forbidden(await ENDPOINTS.reserve.run(k.secret))
    const patched = await call(d.daemon.adminUrl, 'PATCH', `/v1/admin/api-keys/${k.key_id}`, {permissions: ['reservations:create']}, {'X-Admin-API-Key': ADMIN_KEY})
    expect(patched.status).toBe(200)
    expect((await ENDPOINTS.reserve.run(k.secret)).status).toBe(200)
    forbidden(await ENDPOINTS.balances.run(k.secret))
  })
})

describe('runtime scope filters', () => {
  const cases: Array<{filter: string[]; allowed: Array<Record<string, string>>; refused: Array<Record<string, string>>}> = [
    // single segment, anywhere in the path
    {filter: ['workspace:eng'], allowed: [{workspace: 'eng'}, {workspace: 'eng', agent: 'bot'}], refused: [{workspace: 'prod'}, {}]},
    // level wildcard
    {filter: ['agent:*'], allowed: [{workspace: 'prod', agent: 'any'}], refused: [{workspace: 'prod'}]},
    // exact scope from the tenant
    {filter: ['tenant:acme/workspace:eng'], allowed: [{workspace: 'eng'}], refused: [{workspace: 'eng', agent: 'bot'}, {workspace: 'prod'}]},
    // subtree (trailing /*)
    {filter: ['tenant:acme/workspace:eng/*'], allowed: [{workspace: 'eng'}, {workspace: 'eng', agent: 'bot'}], refused: [{workspace: 'prod', agent: 'bot'}]},
    // value wildcard in a path
    {filter: ['tenant:acme/workspace:*'], allowed: [{workspace: 'prod'}], refused: [{workspace: 'prod', agent: 'x'}]},
    // several filters: the spec's example limits to agents of the eng workspace; same-level entries are alternatives
    {filter: ['workspace:eng', 'agent:*'], allowed: [{workspace: 'eng', agent: 'bot'}], refused: [{workspace: 'prod', agent: 'bot'}, {workspace: 'eng'}]},
    {filter: ['workspace:eng', 'workspace:prod'], allowed: [{workspace: 'eng'}, {workspace: 'prod'}], refused: [{workspace: 'ops'}]},
  ]

  for (const c of cases) {
    it(`${JSON.stringify(c.filter)} on reserve, decide and events`, async () => {
      const k = await newKey({scope_filter: c.filter})
      for (const subject of c.allowed) {
        for (const name of ['reserve', 'decide', 'events'] as const) {
          const res = await ENDPOINTS[name].run(k.secret, subject)
          // allowed means not refused by the filter; an unbudgeted leaf may still be a budget answer
          expect([200, 201], `${name} ${JSON.stringify(subject)}: ${res.text}`).toContain(res.status)
        }
      }
      for (const subject of c.refused) {
        for (const name of ['reserve', 'decide', 'events'] as const) {
          const res = await ENDPOINTS[name].run(k.secret, subject)
          forbidden(res)
          expect(res.body.message).toContain('scope_filter')
        }
      }
    })
  }

  it('commit, release, extend and get of a reservation outside the filter are 403; inside they are served', async () => {
    const k = await newKey({scope_filter: ['workspace:eng']})
    for (const name of ['commit', 'release', 'extend', 'getReservation'] as const) {
      forbidden(await ENDPOINTS[name].run(k.secret, {workspace: 'prod'}))
      expect((await ENDPOINTS[name].run(k.secret, {workspace: 'eng'})).status).toBe(200)
    }
  })

  it('lists and balances show only what the filter admits', async () => {
    const eng = await reservation({workspace: 'eng'})
    const prod = await reservation({workspace: 'prod'})
    const k = await newKey({scope_filter: ['workspace:eng']})
    const listed = await call(d.url, 'GET', '/v1/reservations?status=ACTIVE&limit=200', undefined, auth(k.secret))
    expect(listed.status).toBe(200)
    const ids = listed.body.reservations.map((r: {reservation_id: string}) => r.reservation_id)
    expect(ids).toContain(eng)
    expect(ids).not.toContain(prod)
    for (const r of listed.body.reservations) expect(r.scope_path).toContain('workspace:eng')
    const full = await call(d.url, 'GET', '/v1/reservations?status=ACTIVE&limit=200', undefined, auth(FULL_KEY))
    expect(full.body.reservations.map((r: {reservation_id: string}) => r.reservation_id)).toContain(prod)

    const balances = await call(d.url, 'GET', '/v1/balances?tenant=acme', undefined, auth(k.secret))
    expect(balances.status).toBe(200)
    expect(balances.body.balances.map((b: {scope_path: string}) => b.scope_path)).toEqual(['tenant:acme/workspace:eng'])
  })

  it('a malformed filter is refused at creation with 400 naming the entry', async () => {
    const res = await call(d.daemon.adminUrl, 'POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: 'bad', scope_filter: ['agents:bot']}, {'X-Admin-API-Key': ADMIN_KEY})
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('INVALID_REQUEST')
    expect(res.body.message).toContain('agents:bot')
  })
})

describe('reservation ownership', () => {
  it("another tenant's reservation id answers 404 NOT_FOUND exactly as an unknown id (no existence leak)", async () => {
    const id = await reservation({workspace: 'eng'})
    const globex = auth('cyc_test_globex_0123456789abcdef')
    const attempts = (rid: string) => [
      call(d.url, 'GET', `/v1/reservations/${rid}`, undefined, globex),
      call(d.url, 'POST', `/v1/reservations/${rid}/commit`, {idempotency_key: idem(), actual: {unit: 'USD_MICROCENTS', amount: 1}}, globex),
      call(d.url, 'POST', `/v1/reservations/${rid}/release`, {idempotency_key: idem()}, globex),
      call(d.url, 'POST', `/v1/reservations/${rid}/extend`, {idempotency_key: idem(), extend_by_ms: 1000}, globex),
    ]
    const theirs = await Promise.all(attempts(id))
    const unknown = await Promise.all(attempts('00000000-0000-4000-8000-000000000000'))
    for (const [i, res] of theirs.entries()) {
      expect(res.status, res.text).toBe(404)
      expect(res.body.error).toBe('NOT_FOUND')
      expect(specErrors('runtime', 'ErrorResponse', res.body)).toBeUndefined()
      // same answer as for an id that does not exist, apart from the id itself
      expect(res.body.message.replace(id, '<id>')).toBe(unknown[i].body.message.replace('00000000-0000-4000-8000-000000000000', '<id>'))
    }
    // and the owner still sees it untouched
    const mine = await call(d.url, 'GET', `/v1/reservations/${id}`, undefined, auth(FULL_KEY))
    expect(mine.status).toBe(200)
    expect(mine.body.status).toBe('ACTIVE')
  })
})
