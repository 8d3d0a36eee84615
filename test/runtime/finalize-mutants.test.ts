// Commit, release and extend settle exactly (runtime-finalize.ts): the exact response bodies, the
// stored reservation and ledgers, the decision records, the extend window and its idempotent replay
// on a controlled clock, the retry loop against a store that refuses writes, and the expiry count.
// Written against the mutants a Stryker run left alive in that file (issue 17).
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Ledger, Reservation} from '../../src/protocol/types.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import type {Store, Tx, TxResult} from '../../src/store/types.js'
import {type CallResult, type TestDaemon, call, startTestDaemon, tempDir} from '../support/daemon.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const BARE_KEY = 'cyc_test_bare_0123456789abcdef'
const CONFIG = `
tenants: [{id: acme}, {id: bare}]
api_keys: [{tenant: acme, secret: ${KEY}}, {tenant: bare, secret: ${BARE_KEY}}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 10000}
  - {scope: "tenant:acme/workspace:a", unit: CREDITS, allocated: 1000}
  - {scope: "tenant:acme/workspace:b", unit: CREDITS, allocated: 1000}
  - {scope: "tenant:acme/workspace:c", unit: CREDITS, allocated: 1000}
  - {scope: "tenant:acme/workspace:reject", unit: CREDITS, allocated: 1000}
  - {scope: "tenant:acme/workspace:ode", unit: CREDITS, allocated: 100, overdraft_limit: 50}
  - {scope: "tenant:acme/workspace:ods", unit: CREDITS, allocated: 100, overdraft_limit: 50}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: shadow, match: ["email.*"]}
`
const T0 = Date.parse('2026-11-27T10:00:00.000Z')

let d: TestDaemon
let clock = T0
let n = 0
/** Writes the store refuses (as a concurrent writer would make them fail), and how many were asked. */
let refuse: ((tx: Tx) => boolean) | undefined
let appliesFor: Record<string, number> = {}

/** The embedded store, with apply() counting the writes on each existing reservation and refusing those `refuse` picks. */
function refusingStore(inner: EmbeddedStore): Store {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'apply') {
        return async (tx: Tx): Promise<TxResult> => {
          const id = tx.reservation?.expectStatus === 'ACTIVE' ? tx.reservation.value.reservation_id : undefined // a write on an existing reservation
          if (id) appliesFor[id] = (appliesFor[id] ?? 0) + 1
          if (refuse?.(tx)) return {ok: false, failed: 'reservation'}
          return target.apply(tx)
        }
      }
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  }) as unknown as Store
}

/** Refuse the first `times` writes on reservation `id`, then let them through. */
function refuseFirst(id: string, times: number): void {
  let left = times
  refuse = (tx) => tx.reservation?.value.reservation_id === id && left-- > 0
}

beforeAll(async () => {
  const dir = tempDir()
  const inner = await EmbeddedStore.open({stateDir: `${dir}/state`, now: () => clock})
  d = await startTestDaemon(CONFIG, {store: refusingStore(inner), now: () => clock, sweepIntervalMs: 3_600_000}, dir)
})
afterAll(async () => d?.stop())

const auth = (k = KEY) => ({'X-Cycles-API-Key': k})
async function reserve(kind: string, unit: string, amount: number, extra: Record<string, unknown> = {}, k = KEY): Promise<Reservation> {
  const tenant = k === KEY ? 'acme' : 'bare'
  const res = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: `fm-${++n}`, subject: {tenant}, action: {kind, name: 'x'}, estimate: {unit, amount}, ...extra}, auth(k))
  expect(res.status, res.text).toBe(200)
  return (await d.daemon.store.getReservation(res.body.reservation_id))!
}
const inWorkspace = (workspace: string, tenant = 'acme') => ({subject: {tenant, workspace}})
const commit = (id: string, unit: string, amount: number, extra: Record<string, unknown> = {}, k = KEY) =>
  call(d.url, 'POST', `/v1/reservations/${id}/commit`, {idempotency_key: `c-${++n}`, actual: {unit, amount}, ...extra}, auth(k))
const release = (id: string, k = KEY, key = `r-${++n}`) => call(d.url, 'POST', `/v1/reservations/${id}/release`, {idempotency_key: key}, auth(k))
const extend = (id: string, by: number, key = `e-${++n}`, k = KEY) => call(d.url, 'POST', `/v1/reservations/${id}/extend`, {idempotency_key: key, extend_by_ms: by}, auth(k))
const ledger = async (book: 'real' | 'shadow', scope: string, unit: string): Promise<Ledger> => (await d.daemon.store.getLedgers(book, [scope], unit as never))[0]!
const counters = (l: Ledger) => ({spent: l.spent, reserved: l.reserved, debt: l.debt, remaining: l.remaining})
const recordOf = (res: CallResult) => d.records().find((r) => r.request_id === res.headers.get('x-request-id'))
const balance = (scope: string, unit: string, b: {remaining: number; reserved: number; spent: number; allocated: number}, extra: Record<string, unknown> = {}) => ({
  scope: scope.slice(scope.lastIndexOf('/') + 1),
  scope_path: scope,
  remaining: {unit, amount: b.remaining},
  reserved: {unit, amount: b.reserved},
  spent: {unit, amount: b.spent},
  allocated: {unit, amount: b.allocated},
  ...extra,
})
function expectError(res: CallResult, status: number, code: string, message: RegExp): void {
  expect(res.status, res.text).toBe(status)
  expect(res.body).toEqual({error: code, message: expect.stringMatching(message), request_id: res.headers.get('x-request-id'), trace_id: res.headers.get('x-cycles-trace-id')})
}

describe('commit', () => {
  it('an actual equal to the estimate releases nothing: the body has no `released`; a release states the balances', async () => {
    const r = await reserve('search.web', 'CREDITS', 40, inWorkspace('a'))
    const res = await commit(r.reservation_id, 'CREDITS', 40)
    expect(res.status, res.text).toBe(200)
    expect(res.body).toEqual({
      status: 'COMMITTED',
      charged: {unit: 'CREDITS', amount: 40},
      balances: [balance('tenant:acme/workspace:a', 'CREDITS', {remaining: 960, reserved: 0, spent: 40, allocated: 1000})],
    })
    expect(counters(await ledger('real', 'tenant:acme/workspace:a', 'CREDITS'))).toEqual({spent: 40, reserved: 0, debt: 0, remaining: 960})
    const held = await reserve('search.web', 'CREDITS', 15, inWorkspace('a'))
    const released = await release(held.reservation_id)
    expect(released.body).toEqual({
      status: 'RELEASED',
      released: {unit: 'CREDITS', amount: 15},
      balances: [balance('tenant:acme/workspace:a', 'CREDITS', {remaining: 960, reserved: 0, spent: 40, allocated: 1000})],
    })
  })

  it('stores the commit metadata on the reservation', async () => {
    const r = await reserve('search.web', 'CREDITS', 10, inWorkspace('a'))
    const res = await commit(r.reservation_id, 'CREDITS', 4, {metadata: {run: 'm-1', step: 3}})
    expect(res.status, res.text).toBe(200)
    expect(res.body.released).toEqual({unit: 'CREDITS', amount: 6})
    const stored = await d.daemon.store.getReservation(r.reservation_id)
    expect(stored).toMatchObject({status: 'COMMITTED', committed: {unit: 'CREDITS', amount: 4}, committed_actual: 4, committed_metadata: {run: 'm-1', step: 3}})
  })

  it('enforced: an overage past the overdraft limit is 409 OVERDRAFT_LIMIT_EXCEEDED and changes nothing', async () => {
    const scope = 'tenant:acme/workspace:ode'
    const r = await reserve('search.web', 'CREDITS', 100, {...inWorkspace('ode'), overage_policy: 'ALLOW_WITH_OVERDRAFT'})
    const res = await commit(r.reservation_id, 'CREDITS', 200)
    expectError(res, 409, 'OVERDRAFT_LIMIT_EXCEEDED', /Commit rejected: OVERDRAFT_LIMIT_EXCEEDED on scope tenant:acme\/workspace:ode/)
    expect(recordOf(res)).toMatchObject({decision: 'DENY', reason_code: 'OVERDRAFT_LIMIT_EXCEEDED'})
    expect(appliesFor[r.reservation_id]).toBe(1) // refused at the write, not retried
    expect((await d.daemon.store.getReservation(r.reservation_id))?.status).toBe('ACTIVE')
    expect(counters(await ledger('real', scope, 'CREDITS'))).toEqual({spent: 0, reserved: 100, debt: 0, remaining: 0})
  })

  it('shadow mode: an overage past the shadow book overdraft limit is a would-be denial (record and headers)', async () => {
    const scope = 'tenant:acme/workspace:ods'
    const r = await reserve('llm.chat', 'CREDITS', 100, {...inWorkspace('ods'), overage_policy: 'ALLOW_WITH_OVERDRAFT'})
    const res = await commit(r.reservation_id, 'CREDITS', 200)
    expect(res.status, res.text).toBe(200)
    expect(res.body.charged).toEqual({unit: 'CREDITS', amount: 200})
    expect(res.headers.get('x-cycles-shadow-decision')).toBe('DENY')
    expect(res.headers.get('x-cycles-shadow-reason')).toBe('OVERDRAFT_LIMIT_EXCEEDED')
    expect(recordOf(res)).toMatchObject({decision: 'ALLOW', would_decision: 'DENY', would_reason_code: 'OVERDRAFT_LIMIT_EXCEEDED', denied_scope: scope})
    // The real book takes it all (debt 100, past the limit); the shadow book only gave its hold back.
    expect(counters(await ledger('real', scope, 'CREDITS'))).toEqual({spent: 100, reserved: 0, debt: 100, remaining: -100})
    expect(counters(await ledger('shadow', scope, 'CREDITS'))).toEqual({spent: 0, reserved: 0, debt: 0, remaining: 100})
  })

  it('shadow mode: a commit the shadow book allows carries no would-be denial', async () => {
    const r = await reserve('llm.chat', 'CREDITS', 30, inWorkspace('b'))
    const res = await commit(r.reservation_id, 'CREDITS', 20)
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('x-cycles-shadow-decision')).toBeNull()
    const record = recordOf(res)!
    expect(record.decision).toBe('ALLOW')
    expect(record.would_decision).not.toBe('DENY')
    expect(record.denied_scope).toBeUndefined()
    expect(counters(await ledger('shadow', 'tenant:acme/workspace:b', 'CREDITS'))).toEqual({spent: 20, reserved: 0, debt: 0, remaining: 980})
  })

  it('shadow mode, REJECT: an actual above the estimate fails in the shadow book only, whose hold comes back', async () => {
    const scope = 'tenant:acme/workspace:reject'
    const r = await reserve('llm.chat', 'CREDITS', 50, {...inWorkspace('reject'), overage_policy: 'REJECT'})
    expect(counters(await ledger('shadow', scope, 'CREDITS'))).toEqual({spent: 0, reserved: 50, debt: 0, remaining: 950})
    const res = await commit(r.reservation_id, 'CREDITS', 80)
    expect(res.status, res.text).toBe(200)
    expect(res.body).toEqual({
      status: 'COMMITTED',
      charged: {unit: 'CREDITS', amount: 80},
      balances: [balance(scope, 'CREDITS', {remaining: 920, reserved: 0, spent: 80, allocated: 1000})],
    })
    expect(res.headers.get('x-cycles-shadow-decision')).toBe('DENY')
    expect(res.headers.get('x-cycles-shadow-reason')).toBe('BUDGET_EXCEEDED')
    expect(recordOf(res)).toMatchObject({decision: 'ALLOW', would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED', denied_scope: scope})
    expect(counters(await ledger('shadow', scope, 'CREDITS'))).toEqual({spent: 0, reserved: 0, debt: 0, remaining: 1000})
    expect(counters(await ledger('real', scope, 'CREDITS'))).toEqual({spent: 80, reserved: 0, debt: 0, remaining: 920})
  })

  it('a tenant without budgets (shadow mode): commit, release and extend answer without `balances`', async () => {
    const c = await reserve('llm.chat', 'CREDITS', 10, {}, BARE_KEY)
    expect(c.real_scopes).toEqual([])
    const committed = await commit(c.reservation_id, 'CREDITS', 10, {}, BARE_KEY)
    expect(committed.status, committed.text).toBe(200)
    expect(committed.body).toEqual({status: 'COMMITTED', charged: {unit: 'CREDITS', amount: 10}})
    const r = await reserve('llm.chat', 'CREDITS', 10, {}, BARE_KEY)
    const released = await release(r.reservation_id, BARE_KEY)
    expect(released.body).toEqual({status: 'RELEASED', released: {unit: 'CREDITS', amount: 10}})
    const e = await reserve('llm.chat', 'CREDITS', 10, {ttl_ms: 60_000}, BARE_KEY)
    const extended = await extend(e.reservation_id, 1000, undefined, BARE_KEY)
    expect(extended.body).toEqual({status: 'ACTIVE', expires_at_ms: clock + 61_000, remaining_ttl_ms: 61_000})
  })
})

describe('the retry loop against a store that refuses the write', () => {
  const afterRefusals = async (what: 'commit' | 'release' | 'extend', times: number) => {
    const r = await reserve('search.web', 'CREDITS', 10, inWorkspace('c'))
    refuseFirst(r.reservation_id, times)
    try {
      const res = what === 'commit' ? await commit(r.reservation_id, 'CREDITS', 7) : what === 'release' ? await release(r.reservation_id) : await extend(r.reservation_id, 5000)
      return {r, res, stored: (await d.daemon.store.getReservation(r.reservation_id))!}
    } finally {
      refuse = undefined
    }
  }

  it('one refused write is tried again: commit, release and extend are stored', async () => {
    const committed = await afterRefusals('commit', 1)
    expect(committed.res.status, committed.res.text).toBe(200)
    expect(appliesFor[committed.r.reservation_id]).toBe(2)
    expect(committed.stored).toMatchObject({status: 'COMMITTED', committed: {unit: 'CREDITS', amount: 7}})
    const released = await afterRefusals('release', 1)
    expect(released.res.status, released.res.text).toBe(200)
    expect(appliesFor[released.r.reservation_id]).toBe(2)
    expect(released.stored.status).toBe('RELEASED')
    const extended = await afterRefusals('extend', 1)
    expect(extended.res.status, extended.res.text).toBe(200)
    expect(appliesFor[extended.r.reservation_id]).toBe(2)
    expect(extended.stored).toMatchObject({status: 'ACTIVE', extension_count: 1, expires_at_ms: extended.r.expires_at_ms + 5000})
    expect(counters(await ledger('real', 'tenant:acme/workspace:c', 'CREDITS'))).toEqual({spent: 7, reserved: 10, debt: 0, remaining: 983})
  })

  it('after 16 refused writes the answer is 500 INTERNAL_ERROR and nothing changed', async () => {
    for (const what of ['commit', 'release', 'extend'] as const) {
      const {r, res, stored} = await afterRefusals(what, 16)
      expectError(res, 500, 'INTERNAL_ERROR', new RegExp(`changed too often during ${what}; retry with the same idempotency_key`))
      expect(appliesFor[r.reservation_id], what).toBe(16)
      expect(stored).toEqual(r)
      // The same reservation is finalized normally once the store lets the write through.
      const again = what === 'commit' ? await commit(r.reservation_id, 'CREDITS', 10) : what === 'release' ? await release(r.reservation_id) : await extend(r.reservation_id, 5000)
      expect(again.status, again.text).toBe(200)
    }
  })
})

/** A ledger as the response's `balances` shows it (read from the store, so independent of the path under test). */
const wire = (l: Ledger) => balance(l.scope, l.unit, l)

describe('extend (on the daemon clock)', () => {
  it('is allowed up to expires_at_ms exactly, not in the grace period', async () => {
    const scope = 'tenant:acme/workspace:a'
    const r = await reserve('search.web', 'CREDITS', 10, {...inWorkspace('a'), ttl_ms: 10_000, grace_period_ms: 5000})
    clock = r.expires_at_ms
    const res = await extend(r.reservation_id, 1000)
    expect(res.status, res.text).toBe(200)
    expect(res.body).toEqual({status: 'ACTIVE', expires_at_ms: r.expires_at_ms + 1000, remaining_ttl_ms: 1000, balances: [wire(await ledger('real', scope, 'CREDITS'))]})
    expect(res.body.balances[0].reserved.amount).toBeGreaterThanOrEqual(10)
    clock = r.expires_at_ms + 1001
    const late = await extend(r.reservation_id, 1000)
    expectError(late, 410, 'RESERVATION_EXPIRED', /extend is not allowed in the grace period/)
    expect(await d.daemon.store.getReservation(r.reservation_id)).toMatchObject({status: 'ACTIVE', extension_count: 1, expires_at_ms: r.expires_at_ms + 1000})
  })

  it('a replay recomputes remaining_ttl_ms while ACTIVE, is 0 once finalized, and lives until expires + grace', async () => {
    const r = await reserve('search.web', 'CREDITS', 10, {...inWorkspace('a'), ttl_ms: 60_000, grace_period_ms: 10_000})
    const t0 = clock
    const first = await extend(r.reservation_id, 60_000, 'ext-replay')
    expect(first.body).toMatchObject({status: 'ACTIVE', expires_at_ms: t0 + 120_000, remaining_ttl_ms: 120_000})
    clock = t0 + 20_000
    expect((await extend(r.reservation_id, 60_000, 'ext-replay')).body).toEqual({...first.body, remaining_ttl_ms: 100_000})
    // Past max(expires - now, 60 s) and past expires - now - grace: the stored answer is still there.
    clock = t0 + 115_000
    expect((await extend(r.reservation_id, 60_000, 'ext-replay')).body).toEqual({...first.body, remaining_ttl_ms: 5000})
    expect((await d.daemon.store.getReservation(r.reservation_id))?.extension_count).toBe(1)
    expect((await commit(r.reservation_id, 'CREDITS', 10)).status).toBe(200)
    expect((await extend(r.reservation_id, 60_000, 'ext-replay')).body).toEqual({...first.body, remaining_ttl_ms: 0})
    // Past expires + grace the stored answer is gone: the key is a new request on a committed reservation.
    clock = t0 + 135_000
    expectError(await extend(r.reservation_id, 60_000, 'ext-replay'), 409, 'RESERVATION_FINALIZED', /is COMMITTED/)
  })

  it('on a committed reservation is RESERVATION_FINALIZED, on an expired one RESERVATION_EXPIRED', async () => {
    const committed = await reserve('search.web', 'CREDITS', 10, inWorkspace('a'))
    expect((await commit(committed.reservation_id, 'CREDITS', 10)).status).toBe(200)
    expectError(await extend(committed.reservation_id, 1000), 409, 'RESERVATION_FINALIZED', /is COMMITTED/)
    expect((await d.daemon.store.getReservation(committed.reservation_id))?.extension_count).toBe(0)

    const expired = await reserve('search.web', 'CREDITS', 10, {...inWorkspace('a'), ttl_ms: 1000, grace_period_ms: 0})
    clock += 2000
    await d.daemon.sweepExpired()
    expect((await d.daemon.store.getReservation(expired.reservation_id))?.status).toBe('EXPIRED')
    expectError(await extend(expired.reservation_id, 1000), 410, 'RESERVATION_EXPIRED', /has expired$/)
  })
})

describe('the grace window of commit and release', () => {
  it('commit is allowed at expires + grace exactly; one ms later commit and release are RESERVATION_EXPIRED', async () => {
    const scope = 'tenant:acme/workspace:b'
    const onTime = await reserve('search.web', 'CREDITS', 10, {...inWorkspace('b'), ttl_ms: 10_000, grace_period_ms: 5000})
    clock = onTime.expires_at_ms + 5000
    const res = await commit(onTime.reservation_id, 'CREDITS', 10)
    expect(res.status, res.text).toBe(200)
    expect((await d.daemon.store.getReservation(onTime.reservation_id))?.status).toBe('COMMITTED')

    const late = await reserve('search.web', 'CREDITS', 10, {...inWorkspace('b'), ttl_ms: 10_000, grace_period_ms: 5000})
    const before = counters(await ledger('real', scope, 'CREDITS'))
    clock = late.expires_at_ms + 5001
    expectError(await commit(late.reservation_id, 'CREDITS', 10), 410, 'RESERVATION_EXPIRED', /commit is past expires_at_ms \+ grace_period_ms/)
    expectError(await release(late.reservation_id), 410, 'RESERVATION_EXPIRED', /release is past expires_at_ms \+ grace_period_ms/)
    expect((await d.daemon.store.getReservation(late.reservation_id))?.status).toBe('ACTIVE')
    expect(counters(await ledger('real', scope, 'CREDITS'))).toEqual(before)
  })
})

describe('the expiry sweep', () => {
  it('counts only the reservations it expired', async () => {
    clock += 36_000_000 // everything earlier tests left open is due: expire it first
    await d.daemon.sweepExpired()
    const scope = 'tenant:acme/workspace:c'
    const expires = await reserve('search.web', 'CREDITS', 10, {...inWorkspace('c'), ttl_ms: 1000, grace_period_ms: 0})
    const stays = await reserve('search.web', 'CREDITS', 20, {...inWorkspace('c'), ttl_ms: 1000, grace_period_ms: 0})
    const held = counters(await ledger('real', scope, 'CREDITS'))
    clock += 2000
    refuse = (tx) => tx.reservation?.value.reservation_id === stays.reservation_id
    try {
      expect(await d.daemon.sweepExpired()).toEqual({expired: 1, batches: 1})
    } finally {
      refuse = undefined
    }
    expect((await d.daemon.store.getReservation(expires.reservation_id))?.status).toBe('EXPIRED')
    expect((await d.daemon.store.getReservation(stays.reservation_id))?.status).toBe('ACTIVE')
    expect(counters(await ledger('real', scope, 'CREDITS'))).toEqual({...held, reserved: held.reserved - 10, remaining: held.remaining + 10})
    expect(await d.daemon.sweepExpired()).toEqual({expired: 1, batches: 1})
    expect(await d.daemon.sweepExpired()).toEqual({expired: 0, batches: 1})
  })
})
