// The shadow book (design §3): a dry-run or decide that would be allowed is charged to the shadow
// ledger; one that would be denied is not. A denied request that charged the book anyway would inflate
// every later would-deny rate, so the exact shadow balances are checked after each step.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Ledger} from '../../src/protocol/types.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets:
  - {scope: "tenant:acme/workspace:decide", unit: CREDITS, allocated: 100}
  - {scope: "tenant:acme/workspace:dry", unit: CREDITS, allocated: 100}
  - {scope: "tenant:acme/workspace:live", unit: CREDITS, allocated: 100}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: shadow, match: ["email.*"]}
`

let d: TestDaemon
let n = 0
const auth = {'X-Cycles-API-Key': KEY}

async function shadowLedger(workspace: string): Promise<Ledger> {
  const [l] = await d.daemon.store.getLedgers('shadow', [`tenant:acme/workspace:${workspace}`], 'CREDITS')
  return l!
}

async function realLedger(workspace: string): Promise<Ledger> {
  const [l] = await d.daemon.store.getLedgers('real', [`tenant:acme/workspace:${workspace}`], 'CREDITS')
  return l!
}

/** One request; returns its HTTP answer and its decision record. */
async function ask(path: '/v1/decide' | '/v1/reservations', workspace: string, amount: number, extra: Record<string, unknown> = {}) {
  const res = await call(d.url, 'POST', path, {
    idempotency_key: `sb-${++n}`,
    subject: {tenant: 'acme', workspace},
    action: {kind: 'llm.chat', name: 'x'},
    estimate: {unit: 'CREDITS', amount},
    ...extra,
  }, auth)
  expect(res.status, res.text).toBe(200)
  const record = d.records().find((r) => r.request_id === res.headers.get('x-request-id'))
  expect(record).toBeDefined()
  return {res, record: record!}
}

beforeAll(async () => {
  d = await startTestDaemon(CONFIG)
})
afterAll(async () => d?.stop())

describe('the shadow book', () => {
  it('decide: a would-be denial charges nothing; would-be allows charge exactly their estimate', async () => {
    const steps: Array<[number, string, number]> = [
      // [estimate, would_decision, shadow spent afterwards]
      [150, 'DENY', 0],
      [60, 'ALLOW', 60],
      [60, 'DENY', 60],
      [40, 'ALLOW', 100],
      [1, 'DENY', 100],
    ]
    for (const [amount, would, spent] of steps) {
      const {res, record} = await ask('/v1/decide', 'decide', amount)
      expect(record.would_decision, `estimate ${amount}`).toBe(would)
      expect(res.headers.get('x-cycles-shadow-decision')).toBe(would === 'DENY' ? 'DENY' : null)
      expect(await shadowLedger('decide'), `estimate ${amount}`).toMatchObject({spent, reserved: 0, remaining: 100 - spent})
    }
    // The real book never moves on a decide.
    expect(await realLedger('decide')).toMatchObject({spent: 0, reserved: 0, remaining: 100})
  })

  it('dry-run: the same rule, and the answer comes from the real book', async () => {
    const steps: Array<[number, string, string, number]> = [
      // [estimate, decision (real book), would_decision (shadow book), shadow spent afterwards]
      [101, 'DENY', 'DENY', 0],
      [70, 'ALLOW', 'ALLOW', 70],
      [70, 'ALLOW', 'DENY', 70],
      [30, 'ALLOW', 'ALLOW', 100],
    ]
    for (const [amount, decision, would, spent] of steps) {
      const {res, record} = await ask('/v1/reservations', 'dry', amount, {dry_run: true})
      expect(res.body.decision, `estimate ${amount}`).toBe(decision)
      expect(record).toMatchObject({dry_run: true, mode: 'shadow', decision, would_decision: would})
      expect(await shadowLedger('dry'), `estimate ${amount}`).toMatchObject({spent, reserved: 0})
    }
    expect(await realLedger('dry')).toMatchObject({spent: 0, reserved: 0, remaining: 100})
  })

  it('live shadow reserve: a would-be denial holds nothing in the shadow book, and its commit charges nothing there', async () => {
    const held = await ask('/v1/reservations', 'live', 80)
    expect(held.record.would_decision).toBe('ALLOW')
    expect(await shadowLedger('live')).toMatchObject({reserved: 80, spent: 0})
    const denied = await ask('/v1/reservations', 'live', 30)
    expect(denied.record).toMatchObject({decision: 'ALLOW', would_decision: 'DENY', would_reason_code: 'BUDGET_EXCEEDED'})
    expect(await shadowLedger('live')).toMatchObject({reserved: 80, spent: 0})
    const commit = await call(d.url, 'POST', `/v1/reservations/${denied.res.body.reservation_id}/commit`, {idempotency_key: `c-${++n}`, actual: {unit: 'CREDITS', amount: 30}}, auth)
    expect(commit.status, commit.text).toBe(200)
    expect(await shadowLedger('live')).toMatchObject({reserved: 80, spent: 0})
    // The would-be allowed one commits into the shadow book: 80 held → 50 spent.
    const ok = await call(d.url, 'POST', `/v1/reservations/${held.res.body.reservation_id}/commit`, {idempotency_key: `c-${++n}`, actual: {unit: 'CREDITS', amount: 50}}, auth)
    expect(ok.status, ok.text).toBe(200)
    expect(await shadowLedger('live')).toMatchObject({reserved: 0, spent: 50, remaining: 50})
    // Was: shadow mode never touches the real book. Now the real book counts both commits (30 + 50):
    // the 30 was held on the 20 the real book had left (80 held by the other), so 10 of it is debt,
    // which stays until repaid, as any overdraft (over the zero limit, so the budget is over limit).
    expect(await realLedger('live')).toMatchObject({reserved: 0, spent: 70, debt: 10, remaining: 20, is_over_limit: true})
  })
})
