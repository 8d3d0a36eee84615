// Policies while the store is unreachable, over a real daemon whose (embedded) store is switched off:
// every store call throws StoreUnavailableError, as the Redis store does while Redis is down. The
// policy set last loaded still applies: access lists deny whatever on_store_error says (as 409, or
// 200 DENY on dry-run / decide), an approval-required kind is denied (the gate fails closed), and a
// request whose quota counters cannot be read follows on_store_error like the budgets, its record
// saying the counters went unchecked. The clock is pinned and moved past the policy cache's TTL.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {StoreUnavailableError} from '../../src/store/errors.js'
import type {Store} from '../../src/store/types.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const V26 = {'X-Cycles-Protocol-Version': '0.1.26'}
const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 100000}
tiers:
  low: {mode: shadow, match: ["shadowed.*"]}
  medium: {mode: enforce, match: ["open.*"], on_store_error: allow}
  high: {mode: enforce, match: [], on_store_error: deny}
policies:
  - {id: pol_lists, tenant: acme, name: lists, scope_pattern: "tenant:acme/workspace:sandbox", denied_action_kinds: [open.pay, shadowed.pay, payment.charge]}
  - {id: pol_ops, tenant: acme, name: ops, scope_pattern: "tenant:acme/workspace:ops", approval_required_action_kinds: [open.deploy]}
  - id: pol_quota
    tenant: acme
    name: quota
    scope_pattern: "tenant:acme/workspace:quota"
    action_quotas: [{action_kind: open.send, max_calls: 5, window: per_minute_tumbling}, {action_kind: mail.send, max_calls: 5, window: per_minute_tumbling}]
  - {id: pol_rate, tenant: acme, name: rate, scope_pattern: "tenant:acme/workspace:rated", rate_limits: {max_reservations_per_minute: 5}}
`

/** The embedded store, all of whose calls fail as an unreachable store's do while `down` is set. */
function switchableStore(inner: EmbeddedStore): {store: Store; state: {down: boolean}} {
  const state = {down: false}
  // The durability wait and shutdown are the process's own, not a remote call; authentication is
  // served from the key cache while it has the key, as the Redis store does (README "Failure behaviour").
  const local = new Set(['flushed', 'close', 'onControlChange', 'findApiKeyWithTenant'])
  const store = new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target)
      if (typeof value !== 'function') return value
      if (local.has(String(prop))) return value.bind(target)
      return (...args: unknown[]) => {
        if (state.down) return Promise.reject(new StoreUnavailableError('connect ECONNREFUSED (test: store switched off)'))
        return value.apply(target, args)
      }
    },
  }) as unknown as Store
  return {store, state}
}

let d: TestDaemon
let down: {down: boolean}
let clock = Date.parse('2026-11-28T10:00:05Z')
let n = 0
const auth = {'X-Cycles-API-Key': KEY}
const reserveBody = (workspace: string, kind: string, extra: Record<string, unknown> = {}) => ({
  idempotency_key: `o${++n}`,
  subject: {tenant: 'acme', workspace},
  action: {kind, name: 'x'},
  estimate: {unit: 'TOKENS', amount: 10},
  ...extra,
})
const reserve = (workspace: string, kind: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  call(d.url, 'POST', '/v1/reservations', reserveBody(workspace, kind, extra), {...auth, ...headers})
const lastRecord = () => d.records().at(-1)!

beforeAll(async () => {
  const inner = await EmbeddedStore.open({now: () => clock})
  const switchable = switchableStore(inner)
  down = switchable.state
  d = await startTestDaemon(CONFIG, {store: switchable.store, now: () => clock})
  // Before the outage: the key is authenticated (and cached) and the policies are loaded once.
  expect((await reserve('sandbox', 'open.pay')).status).toBe(409)
  down.down = true
  clock += 5000 // past the policy cache's TTL: a reload is attempted and fails
})
afterAll(async () => {
  down.down = false
  await d?.stop()
})

describe('policies while the store is unreachable', () => {
  it('access lists still deny: 409 on a live reserve and an event in enforced tiers (on_store_error allow or deny), deny_detail for v0.1.26', async () => {
    const allowTier = await reserve('sandbox', 'open.pay')
    expect(allowTier.status).toBe(409)
    expect(allowTier.headers.get('x-cycles-store')).toBe('unavailable')
    expect(allowTier.body).toEqual({error: 'ACTION_KIND_DENIED', message: 'Action kind open.pay is denied by policy pol_lists', request_id: expect.any(String), trace_id: expect.any(String)})
    expect(lastRecord()).toMatchObject({endpoint: 'reserve', decision: 'DENY', reason_code: 'ACTION_KIND_DENIED', policy_id: 'pol_lists', http_status: 409, store_error: expect.stringContaining('ECONNREFUSED')})

    const denyTier = await reserve('sandbox', 'payment.charge', {}, V26)
    expect(denyTier.status).toBe(409)
    expect(denyTier.body.error).toBe('ACTION_KIND_DENIED')
    expect(denyTier.body.details.deny_detail).toEqual({
      reason_code: 'ACTION_KIND_DENIED',
      blocked_by_policy: 'pol_lists',
      blocked_by_scope: 'tenant:acme/workspace:sandbox',
      suggested_fix: "Remove 'payment.charge' from denied_action_kinds in policy 'pol_lists'",
    })

    const event = await call(d.url, 'POST', '/v1/events', {idempotency_key: `o${++n}`, subject: {tenant: 'acme', workspace: 'sandbox'}, action: {kind: 'open.pay', name: 'x'}, actual: {unit: 'TOKENS', amount: 3}}, auth)
    expect(event.status).toBe(409)
    expect(event.body.error).toBe('ACTION_KIND_DENIED')
    expect(lastRecord()).toMatchObject({endpoint: 'event', decision: 'DENY', reason_code: 'ACTION_KIND_DENIED'})

    // A kind the list does not name is answered by on_store_error as before: admitted, unrecorded.
    const other = await reserve('sandbox', 'open.read')
    expect(other.status).toBe(200)
    expect(other.body.reservation_id).toMatch(/^unrecorded_/)
  })

  it('a dry-run or decide the lists deny is 200 DENY; a shadowed tier admits with the would-be denial in its headers and record', async () => {
    const dry = await reserve('sandbox', 'open.pay', {dry_run: true})
    expect(dry.status).toBe(200)
    expect(dry.body).toEqual({decision: 'DENY', reason_code: 'ACTION_KIND_DENIED', affected_scopes: ['tenant:acme', 'tenant:acme/workspace:sandbox'], scope_path: 'tenant:acme/workspace:sandbox'})
    const observed = await reserve('sandbox', 'open.pay', {observe_mode: 'OBSERVE'}, V26)
    expect(observed.body).toMatchObject({decision: 'DENY', reason_code: 'ACTION_KIND_DENIED', deny_detail: {blocked_by_policy: 'pol_lists'}})
    expect(observed.body.reservation_id).toBeUndefined()
    expect(lastRecord()).toMatchObject({observe_mode: 'OBSERVE', decision: 'DENY', dry_run: false})
    const decide = await call(d.url, 'POST', '/v1/decide', reserveBody('sandbox', 'payment.charge'), auth)
    expect(decide.status).toBe(200)
    expect(decide.body).toEqual({decision: 'DENY', reason_code: 'ACTION_KIND_DENIED', affected_scopes: ['tenant:acme', 'tenant:acme/workspace:sandbox']})

    const shadowed = await reserve('sandbox', 'shadowed.pay')
    expect(shadowed.status).toBe(200)
    expect(shadowed.body.reservation_id).toMatch(/^unrecorded_s/)
    expect(shadowed.headers.get('x-cycles-shadow-decision')).toBe('DENY')
    expect(shadowed.headers.get('x-cycles-shadow-reason')).toBe('ACTION_KIND_DENIED')
    expect(lastRecord()).toMatchObject({decision: 'ALLOW', mode: 'shadow', would_decision: 'DENY', would_reason_code: 'ACTION_KIND_DENIED', policy_id: 'pol_lists'})
  })

  it('an approval-required kind is denied even where on_store_error is allow (the gate fails closed)', async () => {
    const live = await reserve('ops', 'open.deploy')
    expect(live.status).toBe(409)
    expect(live.body.error).toBe('ACTION_KIND_NOT_ALLOWED')
    expect(live.body.message).toMatch(/approvals store is unreachable/)
    expect(lastRecord()).toMatchObject({decision: 'DENY', reason_code: 'APPROVAL_REQUIRED', policy_id: 'pol_ops'})
    const dry = await reserve('ops', 'open.deploy', {dry_run: true})
    expect(dry.body).toMatchObject({decision: 'DENY', reason_code: 'APPROVAL_REQUIRED'})
  })

  it('quota-bearing requests follow on_store_error (allow: admitted, deny: 503), their records saying the counters went unchecked', async () => {
    const allowed = await reserve('quota', 'open.send')
    expect(allowed.status).toBe(200)
    expect(allowed.body.reservation_id).toMatch(/^unrecorded_e/)
    expect(lastRecord()).toMatchObject({decision: 'ALLOW', policy_id: 'pol_quota', store_error: expect.stringMatching(/; quota and rate counters of policy pol_quota not checked$/)})
    const refused = await reserve('quota', 'mail.send')
    expect(refused.status).toBe(503)
    expect(refused.body.error).toBe('INTERNAL_ERROR')
    expect(lastRecord()).toMatchObject({decision: 'DENY', reason_code: 'INTERNAL_ERROR', store_error: expect.stringMatching(/not checked$/)})
  })

  it('says the counters went unchecked only when the governing policy has some: a rate limit does, an access list alone does not', async () => {
    expect((await reserve('rated', 'open.read')).status).toBe(200)
    expect(lastRecord()).toMatchObject({decision: 'ALLOW', policy_id: 'pol_rate', store_error: expect.stringMatching(/; quota and rate counters of policy pol_rate not checked$/)})
    expect((await reserve('sandbox', 'open.read')).status).toBe(200)
    expect(lastRecord()).toMatchObject({decision: 'ALLOW', policy_id: 'pol_lists'})
    expect(lastRecord().store_error).not.toContain('not checked')
    expect((await reserve('sandbox', 'open.pay')).status).toBe(409)
    expect(lastRecord().store_error).not.toContain('not checked')
  })
})
