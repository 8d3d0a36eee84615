import {describe, expect, it} from 'vitest'

import {settle} from '../../src/evaluator/settle.js'
import {applyDelta} from '../../src/store/ledger-math.js'
import type {Ledger} from '../../src/protocol/types.js'

function ledger(scope: string, over: Partial<Ledger> = {}): Ledger {
  const l: Ledger = {scope, unit: 'TOKENS', allocated: 1000, remaining: 0, reserved: 100, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE', ...over}
  l.remaining = l.allocated - l.spent - l.reserved - l.debt
  return l
}

function after(l: Ledger, s: ReturnType<typeof settle>): Ledger {
  if (!s.ok) throw new Error('not ok')
  const d = s.deltas.find((x) => x.scope === l.scope)!
  return applyDelta(l, {...d, book: 'real'}, 0)!
}

describe('settle: commit', () => {
  it('actual below estimate returns the difference', () => {
    const l = ledger('tenant:a')
    const s = settle({ledgers: [l], estimate: 100, actual: 60, policy: 'ALLOW_IF_AVAILABLE', kind: 'commit'})
    expect(s).toMatchObject({ok: true, charged: 60, released: 40})
    expect(after(l, s)).toMatchObject({reserved: 0, spent: 60, remaining: 940})
  })

  it('REJECT refuses any actual above the estimate', () => {
    const s = settle({ledgers: [ledger('tenant:a')], estimate: 100, actual: 101, policy: 'REJECT', kind: 'commit'})
    expect(s).toEqual({ok: false, code: 'BUDGET_EXCEEDED', scope: 'tenant:a'})
  })

  it('ALLOW_IF_AVAILABLE caps the extra at the smallest remaining and marks short scopes over limit', () => {
    const root = ledger('tenant:a') // remaining 900
    const leaf = ledger('tenant:a/agent:b', {allocated: 130}) // remaining 30
    const s = settle({ledgers: [root, leaf], estimate: 100, actual: 180, policy: 'ALLOW_IF_AVAILABLE', kind: 'commit'})
    expect(s).toMatchObject({ok: true, charged: 130})
    expect(after(root, s)).toMatchObject({spent: 130, reserved: 0, remaining: 870, is_over_limit: false})
    expect(after(leaf, s)).toMatchObject({spent: 130, reserved: 0, remaining: 0, is_over_limit: true})
  })

  it('ALLOW_WITH_OVERDRAFT turns the shortfall into debt within the limit', () => {
    const l = ledger('tenant:a', {allocated: 120, overdraft_limit: 50}) // remaining 20
    const s = settle({ledgers: [l], estimate: 100, actual: 150, policy: 'ALLOW_WITH_OVERDRAFT', kind: 'commit'})
    expect(s).toMatchObject({ok: true, charged: 150})
    expect(after(l, s)).toMatchObject({debt: 30, spent: 120, reserved: 0, remaining: -30})
  })

  it('ALLOW_WITH_OVERDRAFT beyond the limit → OVERDRAFT_LIMIT_EXCEEDED', () => {
    const l = ledger('tenant:a', {allocated: 120, overdraft_limit: 10})
    expect(settle({ledgers: [l], estimate: 100, actual: 150, policy: 'ALLOW_WITH_OVERDRAFT', kind: 'commit'})).toEqual({
      ok: false, code: 'OVERDRAFT_LIMIT_EXCEEDED', scope: 'tenant:a',
    })
  })

  it('frozen budget blocks the commit', () => {
    expect(settle({ledgers: [ledger('tenant:a', {status: 'FROZEN'})], estimate: 100, actual: 50, policy: 'REJECT', kind: 'commit'})).toMatchObject({ok: false, code: 'BUDGET_FROZEN'})
  })
})

describe('settle: event', () => {
  it('REJECT only when actual exceeds remaining', () => {
    const l = ledger('tenant:a', {reserved: 0})
    expect(settle({ledgers: [l], estimate: 0, actual: 1000, policy: 'REJECT', kind: 'event'})).toMatchObject({ok: true, charged: 1000})
    expect(settle({ledgers: [l], estimate: 0, actual: 1001, policy: 'REJECT', kind: 'event'})).toMatchObject({ok: false, code: 'BUDGET_EXCEEDED'})
  })

  it('debt and over-limit do not block events', () => {
    const l = ledger('tenant:a', {reserved: 0, debt: 10, is_over_limit: true})
    expect(settle({ledgers: [l], estimate: 0, actual: 5, policy: 'ALLOW_IF_AVAILABLE', kind: 'event'}).ok).toBe(true)
  })
})
