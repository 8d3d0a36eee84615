// Reserve, dry-run, decide and events down to the exact values: the denial message names the scope
// that denied, a shadow-mode reservation keeps what the shadow book said, a concurrent write is
// retried (conditions) or replayed (same key), and the retry loop gives up after MAX_ATTEMPTS writes.
// A proxy in front of the embedded store injects the concurrent writes (test/support/faulty-store.ts).
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {MAX_ATTEMPTS} from '../../src/daemon/runtime-core.js'
import type {Ledger} from '../../src/protocol/types.js'
import {type CallResult, type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {type FaultyStore, WINNER_BODY, faultyStore} from '../support/faulty-store.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
/** A tenant without any budget. */
const BARE_KEY = 'cyc_test_bare_0123456789abcdef'
const CONFIG = `
tenants: [{id: acme, max_reservation_ttl_ms: 86400000}, {id: bare}]
api_keys: [{tenant: acme, secret: ${KEY}}, {tenant: bare, secret: ${BARE_KEY}}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 1000}
  - {scope: "tenant:acme/workspace:capped", unit: TOKENS, allocated: 500, caps: {max_tokens: 64}}
  - {scope: "tenant:acme", unit: RISK_POINTS, allocated: 10}
  - {scope: "tenant:acme/workspace:deep", unit: RISK_POINTS, allocated: 1000}
  - {scope: "tenant:acme", unit: USD_MICROCENTS, allocated: 100}
  - {scope: "tenant:acme/workspace:partial", unit: USD_MICROCENTS, allocated: 40}
  - {scope: "tenant:acme/workspace:race", unit: CREDITS, allocated: 100}
  - {scope: "tenant:acme/workspace:srace", unit: CREDITS, allocated: 100}
  - {scope: "tenant:acme/workspace:ev", unit: CREDITS, allocated: 100}
  - {scope: "tenant:acme/workspace:evlimit", unit: CREDITS, allocated: 100, overdraft_limit: 50}
  - {scope: "tenant:acme/workspace:evshadow", unit: CREDITS, allocated: 100, overdraft_limit: 50}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: enforce, match: ["email.*"]}
`
const auth = {'X-Cycles-API-Key': KEY}
const START = 1_800_000_000_000
let clock = START
let fs: FaultyStore
let d: TestDaemon
let n = 0

beforeAll(async () => {
  fs = await faultyStore(() => clock)
  d = await startTestDaemon(CONFIG, {store: fs.store, now: () => clock})
})
afterAll(async () => d?.stop())
beforeEach(() => fs.reset())

type Extra = Record<string, unknown>
const body = (kind: string, unit: string, amount: number, workspace?: string, extra: Extra = {}) => ({
  idempotency_key: `rm-${++n}`,
  subject: {tenant: 'acme', ...(workspace ? {workspace} : {})},
  action: {kind, name: 'x'},
  estimate: {unit, amount},
  ...extra,
})
const post = (path: string, payload: unknown) => call(d.url, 'POST', path, payload, auth)
const reserve = (kind: string, unit: string, amount: number, workspace?: string, extra: Extra = {}) => post('/v1/reservations', body(kind, unit, amount, workspace, extra))
const decide = (kind: string, unit: string, amount: number, workspace?: string, extra: Extra = {}) => post('/v1/decide', body(kind, unit, amount, workspace, extra))
const event = (kind: string, unit: string, amount: number, workspace?: string, extra: Extra = {}) => {
  const {estimate, ...rest} = body(kind, unit, amount, workspace, extra)
  return post('/v1/events', {...rest, actual: estimate})
}
const bareEvent = (kind: string, amount: number) =>
  call(d.url, 'POST', '/v1/events', {idempotency_key: `bare-${++n}`, subject: {tenant: 'bare'}, action: {kind, name: 'x'}, actual: {unit: 'CREDITS', amount}}, {'X-Cycles-API-Key': BARE_KEY})
const recordOf = (res: CallResult) => {
  const r = d.records().find((x) => x.request_id === res.headers.get('x-request-id'))
  expect(r, `no record for ${res.headers.get('x-request-id')}`).toBeDefined()
  return r!
}
const ledger = async (book: 'real' | 'shadow', scope: string, unit: string): Promise<Ledger> => {
  const [l] = await d.daemon.store.getLedgers(book, [scope], unit as Ledger['unit'])
  return l!
}
const counters = (l: Ledger) => ({spent: l.spent, reserved: l.reserved, debt: l.debt, remaining: l.remaining})
const wouldHeaders = (res: CallResult) => [res.headers.get('x-cycles-shadow-decision'), res.headers.get('x-cycles-shadow-reason')]

describe('live reserve', () => {
  it('an enforced denial names the scope that denied, not the request scope', async () => {
    const res = await reserve('search.web', 'RISK_POINTS', 50, 'deep')
    expect(res.status).toBe(409)
    expect(res.body).toMatchObject({error: 'BUDGET_EXCEEDED', message: 'Reservation denied: BUDGET_EXCEEDED on scope tenant:acme'})
    expect(recordOf(res)).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_EXCEEDED'})
  })

  it('without dry_run it holds and stores the metadata on the reservation; the record says dry_run false', async () => {
    const res = await reserve('search.web', 'TOKENS', 5, undefined, {metadata: {ticket: 'T-1'}})
    expect(res.status, res.text).toBe(200)
    expect(res.body.decision).toBe('ALLOW')
    const stored = await d.daemon.store.getReservation(res.body.reservation_id)
    expect(stored?.metadata).toEqual({ticket: 'T-1'})
    expect(recordOf(res)).toMatchObject({dry_run: false, reservation_id: res.body.reservation_id})
  })

  it('shadow mode: a partial real hold shows per-scope balances, and the reservation keeps the shadow denial', async () => {
    // The tenant (100) covers all 70, the workspace (40) only 40: each scope holds what it covers.
    const res = await reserve('llm.chat', 'USD_MICROCENTS', 70, 'partial')
    expect(res.status, res.text).toBe(200)
    expect(res.body.decision).toBe('ALLOW')
    expect(wouldHeaders(res)).toEqual(['DENY', 'BUDGET_EXCEEDED'])
    const balances = Object.fromEntries(res.body.balances.map((b: any) => [b.scope, [b.reserved.amount, b.remaining.amount]]))
    expect(balances).toEqual({'tenant:acme': [70, 30], 'workspace:partial': [40, 0]})
    const stored = await d.daemon.store.getReservation(res.body.reservation_id)
    expect(stored).toMatchObject({shadow_scopes: [], would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED', real_held: [70, 40]})
    // Its release record carries the would-be reason too (RuntimeCore.reservationFacts).
    const rel = await post(`/v1/reservations/${res.body.reservation_id}/release`, {idempotency_key: `rel-${++n}`})
    expect(rel.status, rel.text).toBe(200)
    expect(recordOf(rel)).toMatchObject({endpoint: 'release', would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED'})
  })

  it('shadow mode keeps ALLOW_WITH_CAPS and the caps of the deepest scope', async () => {
    const res = await reserve('llm.chat', 'TOKENS', 10, 'capped')
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({decision: 'ALLOW_WITH_CAPS', caps: {max_tokens: 64}})
    const dry = await reserve('llm.chat', 'TOKENS', 10, 'capped', {dry_run: true})
    expect(dry.body).toMatchObject({decision: 'ALLOW_WITH_CAPS', caps: {max_tokens: 64}})
    const plain = await reserve('llm.chat', 'TOKENS', 10)
    expect(plain.body.decision).toBe('ALLOW')
    expect('caps' in plain.body).toBe(false)
  })

  it('a concurrent hold between read and write is re-evaluated (enforce: denied; both holds never pass)', async () => {
    fs.faults = [{run: async () => expect((await reserve('search.web', 'CREDITS', 80, 'race')).status).toBe(200)}]
    const res = await reserve('search.web', 'CREDITS', 80, 'race')
    expect(res.status, res.text).toBe(409)
    expect(res.body.error).toBe('BUDGET_EXCEEDED')
    expect(counters(await ledger('real', 'tenant:acme/workspace:race', 'CREDITS'))).toEqual({spent: 0, reserved: 80, debt: 0, remaining: 20})
  })

  it('a concurrent charge to the shadow book alone is re-evaluated: the loser is a would-be denial that holds nothing there', async () => {
    // A decide charges only the shadow book, so only the shadow book's conditions can catch it.
    fs.faults = [{run: async () => expect((await decide('llm.chat', 'CREDITS', 80, 'srace')).body.decision).toBe('ALLOW')}]
    const res = await reserve('llm.chat', 'CREDITS', 80, 'srace')
    expect(res.status, res.text).toBe(200)
    expect(wouldHeaders(res)).toEqual(['DENY', 'BUDGET_EXCEEDED'])
    expect(fs.applies).toBe(3)
    expect(counters(await ledger('shadow', 'tenant:acme/workspace:srace', 'CREDITS'))).toEqual({spent: 80, reserved: 0, debt: 0, remaining: 20})
    // The real book (shadow mode) holds it all the same.
    expect(counters(await ledger('real', 'tenant:acme/workspace:srace', 'CREDITS'))).toEqual({spent: 0, reserved: 80, debt: 0, remaining: 20})
  })

  it('the idempotency record outlives ttl + grace when that passes 24 h, and replays count remaining_ttl_ms down', async () => {
    const payload = body('search.web', 'TOKENS', 1, undefined, {ttl_ms: 86_400_000, grace_period_ms: 60_000})
    const first = await post('/v1/reservations', payload)
    expect(first.status, first.text).toBe(200)
    expect(first.body.remaining_ttl_ms).toBe(86_400_000)
    clock += 10_000
    const early = await post('/v1/reservations', payload)
    expect(early.body).toMatchObject({reservation_id: first.body.reservation_id, remaining_ttl_ms: 86_390_000})
    // 24 h + 30 s later: past a 24 h record (and past ttl - grace), within ttl + grace.
    clock += 86_420_000
    const late = await post('/v1/reservations', payload)
    expect(late.status, late.text).toBe(200)
    expect(late.body.reservation_id).toBe(first.body.reservation_id)
    clock = START
  })
})

describe('writes that lose a race', () => {
  const endpoints = {
    'dry-run': () => reserve('search.web', 'TOKENS', 1, undefined, {dry_run: true}),
    live: () => reserve('search.web', 'TOKENS', 1),
    decide: () => decide('search.web', 'TOKENS', 1),
    event: () => event('search.web', 'TOKENS', 1),
  }
  for (const [name, send] of Object.entries(endpoints)) {
    it(`${name}: the same key written concurrently is answered with the winner's stored response`, async () => {
      fs.faults = ['idempotency']
      const res = await send()
      expect(res.text).toBe(WINNER_BODY)
      expect(res.status).toBe(name === 'event' ? 201 : 200)
      expect(fs.applies).toBe(1)
    })

    it(`${name}: moved ledgers are read and written again`, async () => {
      const shadowBefore = (await ledger('shadow', 'tenant:acme', 'TOKENS')).spent
      fs.faults = ['condition']
      const res = await send()
      expect(res.status, res.text).toBe(name === 'event' ? 201 : 200)
      expect(res.text).not.toBe(WINNER_BODY)
      expect(fs.applies).toBe(2)
      // decide, dry-run and event charge the shadow book once (the failed write changed nothing).
      const charged = (await ledger('shadow', 'tenant:acme', 'TOKENS')).spent - shadowBefore
      expect(charged).toBe(name === 'live' ? 0 : 1)
    })

    it(`${name}: gives up after MAX_ATTEMPTS writes with INTERNAL_ERROR`, async () => {
      fs.alwaysConflict = true
      const res = await send()
      expect(res.status).toBe(500)
      expect(res.body.error).toBe('INTERNAL_ERROR')
      expect(res.body.message).toMatch(/changed too often during (evaluation|the event); retry with the same idempotency_key/)
      expect(fs.applies).toBe(MAX_ATTEMPTS)
    })
  }
})

describe('decide', () => {
  it('looks the key up once, with the first read, however many writes it takes', async () => {
    expect((await decide('search.web', 'TOKENS', 1)).status).toBe(200)
    expect(fs.idempotencyLookups).toBe(1)
    fs.reset()
    fs.faults = ['condition']
    expect((await decide('search.web', 'TOKENS', 1)).status).toBe(200)
    expect([fs.idempotencyLookups, fs.applies]).toEqual([1, 2])
  })

  it('a denial: reason in the body and in the record, which says dry_run false', async () => {
    const res = await decide('search.web', 'RISK_POINTS', 50, 'deep')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({decision: 'DENY', reason_code: 'BUDGET_EXCEEDED', affected_scopes: ['tenant:acme', 'tenant:acme/workspace:deep']})
    expect(recordOf(res)).toMatchObject({endpoint: 'decide', dry_run: false, decision: 'DENY', reason_code: 'BUDGET_EXCEEDED'})
  })

  it('a zero estimate writes no ledger, so a budget frozen concurrently does not send it round again', async () => {
    const freeze = (status: 'FROZEN' | 'ACTIVE') => fs.inner.apply({deltas: [{book: 'shadow', scope: 'tenant:acme/workspace:capped', unit: 'TOKENS', set: {status}}]})
    fs.faults = [{run: () => freeze('FROZEN')}]
    const res = await decide('search.web', 'TOKENS', 0, 'capped')
    await freeze('ACTIVE')
    expect(res.status, res.text).toBe(200)
    expect(res.body.decision).toBe('ALLOW_WITH_CAPS')
    expect(fs.applies).toBe(1)
    expect(recordOf(res)).toMatchObject({would_decision: 'ALLOW_WITH_CAPS'})
  })

  it('a unit without a budget where another unit has one is UNIT_MISMATCH', async () => {
    const res = await decide('search.web', 'CREDITS', 1)
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('UNIT_MISMATCH')
    expect(recordOf(res)).toMatchObject({decision: 'DENY', reason_code: 'UNIT_MISMATCH'})
  })
})

describe('events', () => {
  it('shadow mode debits the real book past its budget (debt), where enforce would refuse', async () => {
    const before = await ledger('real', 'tenant:acme/workspace:ev', 'CREDITS')
    const res = await event('llm.chat', 'CREDITS', 150, 'ev', {overage_policy: 'REJECT'})
    expect(res.status, res.text).toBe(201)
    expect(wouldHeaders(res)).toEqual(['DENY', 'BUDGET_EXCEEDED'])
    expect('charged' in res.body).toBe(false)
    expect(res.body.balances.map((b: any) => [b.scope, b.spent.amount, b.debt.amount])).toEqual([['workspace:ev', before.spent + 100, 50]])
    expect(recordOf(res)).toMatchObject({endpoint: 'event', dry_run: false, mode: 'shadow', decision: 'ALLOW', would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED', denied_scope: 'tenant:acme/workspace:ev'})
  })

  it('shadow mode without any budget: applied, no balances, a would-be BUDGET_NOT_FOUND', async () => {
    const res = await bareEvent('llm.chat', 5)
    expect(res.status, res.text).toBe(201)
    expect(Object.keys(res.body).sort()).toEqual(['event_id', 'status'])
    expect(wouldHeaders(res)).toEqual(['DENY', 'BUDGET_NOT_FOUND'])
    expect(recordOf(res)).toMatchObject({would_decision: 'DENY', would_reason_code: 'BUDGET_NOT_FOUND'})
  })

  it('shadow mode in a unit the scopes are not budgeted in: a would-be UNIT_MISMATCH', async () => {
    const res = await event('llm.chat', 'CREDITS', 5)
    expect(res.status, res.text).toBe(201)
    expect(Object.keys(res.body).sort()).toEqual(['event_id', 'status'])
    expect(wouldHeaders(res)).toEqual(['DENY', 'UNIT_MISMATCH'])
  })

  it('shadow mode within budget: balances, no would-be denial', async () => {
    const res = await event('llm.chat', 'TOKENS', 5, 'capped')
    expect(res.status, res.text).toBe(201)
    expect(res.body.balances.map((b: any) => b.scope)).toEqual(['tenant:acme', 'workspace:capped'])
    expect(wouldHeaders(res)).toEqual([null, null])
    expect(recordOf(res)).toMatchObject({would_decision: 'ALLOW'})
    expect(recordOf(res).would_reason_code).toBeUndefined()
  })

  it('enforce mode: no budget is NOT_FOUND, another unit is UNIT_MISMATCH', async () => {
    const none = await bareEvent('search.web', 5)
    expect(none.status).toBe(404)
    expect(none.body).toMatchObject({error: 'NOT_FOUND', message: 'Budget not found for provided scope: tenant:bare'})
    expect(recordOf(none)).toMatchObject({decision: 'DENY', reason_code: 'NOT_FOUND'})
    const other = await event('search.web', 'CREDITS', 5)
    expect(other.status).toBe(400)
    expect(other.body.error).toBe('UNIT_MISMATCH')
  })

  it('enforce mode, ALLOW_IF_AVAILABLE: the charge is capped at what remains and stated', async () => {
    const l = await ledger('real', 'tenant:acme/workspace:deep', 'RISK_POINTS')
    const tenantLeft = (await ledger('real', 'tenant:acme', 'RISK_POINTS')).remaining
    expect(l.remaining).toBeGreaterThan(tenantLeft)
    const res = await event('search.web', 'RISK_POINTS', tenantLeft + 3, 'deep', {overage_policy: 'ALLOW_IF_AVAILABLE'})
    expect(res.status, res.text).toBe(201)
    expect(res.body.charged).toEqual({unit: 'RISK_POINTS', amount: tenantLeft})
  })

  it('enforce mode, ALLOW_WITH_OVERDRAFT past the overdraft limit: refused at the write, nothing charged', async () => {
    const res = await event('search.web', 'CREDITS', 200, 'evlimit', {overage_policy: 'ALLOW_WITH_OVERDRAFT'})
    expect(res.status).toBe(409)
    expect(res.body).toMatchObject({error: 'OVERDRAFT_LIMIT_EXCEEDED', message: 'Event rejected: OVERDRAFT_LIMIT_EXCEEDED on scope tenant:acme/workspace:evlimit'})
    expect(fs.applies).toBe(1)
    expect(counters(await ledger('real', 'tenant:acme/workspace:evlimit', 'CREDITS'))).toEqual({spent: 0, reserved: 0, debt: 0, remaining: 100})
    const within = await event('search.web', 'CREDITS', 130, 'evlimit', {overage_policy: 'ALLOW_WITH_OVERDRAFT'})
    expect(within.status, within.text).toBe(201)
    expect(counters(await ledger('real', 'tenant:acme/workspace:evlimit', 'CREDITS'))).toEqual({spent: 100, reserved: 0, debt: 30, remaining: -30})
    expect(counters(await ledger('shadow', 'tenant:acme/workspace:evlimit', 'CREDITS'))).toEqual({spent: 100, reserved: 0, debt: 30, remaining: -30})
  })

  it('enforce mode: the shadow book past its overdraft limit is a would-be denial, the real charge stands', async () => {
    // A decide spends 100 in the shadow book only; the event's 120 then fits the real limit, not the shadow one.
    expect((await decide('search.web', 'CREDITS', 100, 'evshadow')).body.decision).toBe('ALLOW')
    const res = await event('search.web', 'CREDITS', 120, 'evshadow', {overage_policy: 'ALLOW_WITH_OVERDRAFT'})
    expect(res.status, res.text).toBe(201)
    expect(recordOf(res)).toMatchObject({decision: 'ALLOW', would_decision: 'DENY', would_reason_code: 'OVERDRAFT_LIMIT_EXCEEDED', denied_scope: 'tenant:acme/workspace:evshadow'})
    expect(counters(await ledger('real', 'tenant:acme/workspace:evshadow', 'CREDITS'))).toEqual({spent: 100, reserved: 0, debt: 20, remaining: -20})
    expect(counters(await ledger('shadow', 'tenant:acme/workspace:evshadow', 'CREDITS'))).toEqual({spent: 100, reserved: 0, debt: 0, remaining: 0})
  })
})
