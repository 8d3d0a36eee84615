// Boundaries of the settlement money math (cycles-protocol.md §2.3, §2.9): each case sits exactly on
// an edge where a flipped comparison or a dropped clamp changes what a tenant is charged.
import {describe, expect, it} from 'vitest'

import {settle, type Settlement, type SettleInput} from '../../src/evaluator/settle.js'
import type {Ledger} from '../../src/protocol/types.js'
import {applyDelta, conditionHolds} from '../../src/store/ledger-math.js'

/** A ledger whose `remaining` is derived like every store derives it. */
function ledger(scope: string, over: Partial<Ledger>): Ledger {
  const l: Ledger = {scope, unit: 'CREDITS', allocated: 0, remaining: 0, reserved: 0, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE', ...over}
  l.remaining = l.allocated - l.spent - l.reserved - l.debt
  return l
}

/** The ledger after every delta the settlement has for its scope. */
function after(l: Ledger, s: Settlement): Ledger {
  if (!s.ok) throw new Error(`settlement refused: ${s.code}`)
  let next = l
  for (const d of s.deltas.filter((x) => x.scope === l.scope)) next = applyDelta(next, {...d, book: 'real'}, 0)!
  return next
}

const commit = (ledgers: Ledger[], estimate: number, actual: number, policy: SettleInput['policy']) =>
  settle({ledgers, estimate, actual, policy, kind: 'commit'})

describe('settle: overdraft boundaries', () => {
  it('debt landing exactly on the overdraft limit is allowed and not over limit', () => {
    // remaining 20 before the commit; 50 over the estimate → 20 covered, 30 of debt = the limit.
    const l = ledger('tenant:a', {allocated: 120, reserved: 100, overdraft_limit: 30})
    const s = commit([l], 100, 150, 'ALLOW_WITH_OVERDRAFT')
    expect(s).toMatchObject({ok: true, charged: 150, released: 0})
    expect(after(l, s)).toMatchObject({spent: 120, reserved: 0, debt: 30, remaining: -30, is_over_limit: false})
  })

  it('one unit of debt beyond the limit is refused on that scope', () => {
    const l = ledger('tenant:a', {allocated: 120, reserved: 100, overdraft_limit: 29})
    expect(commit([l], 100, 150, 'ALLOW_WITH_OVERDRAFT')).toEqual({ok: false, code: 'OVERDRAFT_LIMIT_EXCEEDED', scope: 'tenant:a'})
  })

  it('an overdraft commit on a ledger already in debt adds debt and never lowers spent', () => {
    // Already 20 in debt, the reservation holds 100: remaining -20. Actual 130 → all 30 extra is new debt.
    const l = ledger('tenant:a', {allocated: 100, reserved: 100, debt: 20, overdraft_limit: 100})
    expect(l.remaining).toBe(-20)
    const s = commit([l], 100, 130, 'ALLOW_WITH_OVERDRAFT')
    expect(s).toMatchObject({ok: true, charged: 130})
    const next = after(l, s)
    expect(next).toMatchObject({spent: 100, reserved: 0, debt: 50, remaining: -50})
    expect(next.spent).toBeGreaterThanOrEqual(l.spent)
  })

  it('existing debt counts toward the limit', () => {
    const l = ledger('tenant:a', {allocated: 100, reserved: 100, debt: 20, overdraft_limit: 49})
    expect(commit([l], 100, 130, 'ALLOW_WITH_OVERDRAFT')).toEqual({ok: false, code: 'OVERDRAFT_LIMIT_EXCEEDED', scope: 'tenant:a'})
  })

  it('a scope without overdraft caps the extra while an overdraft scope takes the rest as debt', () => {
    const root = ledger('tenant:a', {allocated: 1000, reserved: 100, overdraft_limit: 0}) // remaining 900
    const leaf = ledger('tenant:a/agent:b', {allocated: 110, reserved: 100, overdraft_limit: 100}) // remaining 10
    const s = commit([root, leaf], 100, 150, 'ALLOW_WITH_OVERDRAFT')
    expect(s).toMatchObject({ok: true, charged: 150})
    // The root has no overdraft: it pays the extra up to its own remaining (900 ≥ 50).
    expect(after(root, s)).toMatchObject({spent: 150, reserved: 0, debt: 0, is_over_limit: false})
    expect(after(leaf, s)).toMatchObject({spent: 110, reserved: 0, debt: 40, remaining: -40})
  })

  it('pins the balance it computed from: a moved ledger fails the conditions', () => {
    const l = ledger('tenant:a', {allocated: 120, reserved: 100, overdraft_limit: 30})
    const s = commit([l], 100, 150, 'ALLOW_WITH_OVERDRAFT')
    if (!s.ok) throw new Error('refused')
    expect(s.conditions).toEqual([
      {scope: 'tenant:a', unit: 'CREDITS', field: 'status', op: 'eq', value: 'ACTIVE'},
      {scope: 'tenant:a', unit: 'CREDITS', field: 'remaining', op: 'eq', value: 20},
    ])
    expect(s.conditions.every((c) => conditionHolds(l, c))).toBe(true)
    expect(s.conditions.every((c) => conditionHolds({...l, remaining: 19}, c))).toBe(false)
  })
})

describe('settle: ALLOW_IF_AVAILABLE boundaries', () => {
  it('an overage exactly equal to remaining is charged in full and does not flag over-limit', () => {
    const l = ledger('tenant:a', {allocated: 130, reserved: 100}) // remaining 30
    const s = commit([l], 100, 130, 'ALLOW_IF_AVAILABLE')
    expect(s).toMatchObject({ok: true, charged: 130, released: 0})
    const next = after(l, s)
    expect(next).toMatchObject({spent: 130, reserved: 0, remaining: 0})
    expect(next.is_over_limit).toBe(false)
  })

  it('one unit more than remaining is capped and flags over-limit', () => {
    const l = ledger('tenant:a', {allocated: 130, reserved: 100})
    const s = commit([l], 100, 131, 'ALLOW_IF_AVAILABLE')
    expect(s).toMatchObject({ok: true, charged: 130})
    expect(after(l, s)).toMatchObject({spent: 130, remaining: 0, is_over_limit: true})
  })

  it('a ledger already below zero caps the extra at nothing (never a negative charge)', () => {
    const l = ledger('tenant:a', {allocated: 100, reserved: 100, debt: 10}) // remaining -10
    const s = commit([l], 100, 150, 'ALLOW_IF_AVAILABLE')
    expect(s).toMatchObject({ok: true, charged: 100})
    expect(after(l, s)).toMatchObject({spent: 100, reserved: 0, debt: 10, is_over_limit: true})
  })

  it('ALLOW_WITH_OVERDRAFT on ledgers without any overdraft behaves as capping', () => {
    const l = ledger('tenant:a', {allocated: 120, reserved: 100}) // remaining 20
    const s = commit([l], 100, 150, 'ALLOW_WITH_OVERDRAFT')
    expect(s).toMatchObject({ok: true, charged: 120})
    expect(after(l, s)).toMatchObject({spent: 120, debt: 0, remaining: 0, is_over_limit: true})
  })

  it('the actual equal to the estimate releases nothing and charges the estimate', () => {
    const l = ledger('tenant:a', {allocated: 100, reserved: 100})
    for (const policy of ['REJECT', 'ALLOW_IF_AVAILABLE', 'ALLOW_WITH_OVERDRAFT'] as const) {
      const s = commit([l], 100, 100, policy)
      expect(s).toMatchObject({ok: true, charged: 100, released: 0})
      expect(after(l, s)).toMatchObject({spent: 100, reserved: 0, remaining: 0, is_over_limit: false})
    }
  })

  it('a zero actual releases the whole estimate', () => {
    const l = ledger('tenant:a', {allocated: 100, reserved: 100})
    const s = commit([l], 100, 0, 'REJECT')
    expect(s).toMatchObject({ok: true, charged: 0, released: 100})
    expect(after(l, s)).toMatchObject({spent: 0, reserved: 0, remaining: 100})
  })
})

describe('settle: events and status', () => {
  it('an event under REJECT equal to remaining passes, and carries a remaining ≥ condition', () => {
    const l = ledger('tenant:a', {allocated: 50, spent: 10}) // remaining 40
    const s = settle({ledgers: [l], estimate: 0, actual: 40, policy: 'REJECT', kind: 'event'})
    if (!s.ok) throw new Error('refused')
    expect(s.charged).toBe(40)
    expect(s.conditions).toContainEqual({scope: 'tenant:a', unit: 'CREDITS', field: 'remaining', op: 'gte', value: 40})
    expect(after(l, s)).toMatchObject({spent: 50, remaining: 0})
  })

  it('REJECT names the first short scope, root first', () => {
    const root = ledger('tenant:a', {allocated: 100})
    const leaf = ledger('tenant:a/agent:b', {allocated: 10})
    expect(settle({ledgers: [root, leaf], estimate: 0, actual: 11, policy: 'REJECT', kind: 'event'})).toEqual({ok: false, code: 'BUDGET_EXCEEDED', scope: 'tenant:a/agent:b'})
  })

  it('a closed budget blocks with BUDGET_CLOSED on its scope; every ledger must still be ACTIVE at write time', () => {
    const root = ledger('tenant:a', {allocated: 100})
    const closed = ledger('tenant:a/agent:b', {allocated: 100, status: 'CLOSED'})
    expect(settle({ledgers: [root, closed], estimate: 0, actual: 1, policy: 'REJECT', kind: 'event'})).toEqual({ok: false, code: 'BUDGET_CLOSED', scope: 'tenant:a/agent:b'})
    const s = settle({ledgers: [root, ledger('tenant:a/agent:b', {allocated: 100})], estimate: 0, actual: 1, policy: 'ALLOW_IF_AVAILABLE', kind: 'event'})
    if (!s.ok) throw new Error('refused')
    expect(s.conditions.filter((c) => c.field === 'status')).toEqual([
      {scope: 'tenant:a', unit: 'CREDITS', field: 'status', op: 'eq', value: 'ACTIVE'},
      {scope: 'tenant:a/agent:b', unit: 'CREDITS', field: 'status', op: 'eq', value: 'ACTIVE'},
    ])
  })
})

describe('settle: which scopes cap the extra (mutation survivors)', () => {
  it('ALLOW_IF_AVAILABLE caps on every scope, an overdraft scope included, and never creates debt', () => {
    const l = ledger('tenant:a', {allocated: 110, reserved: 100, overdraft_limit: 100}) // remaining 10
    const s = commit([l], 100, 150, 'ALLOW_IF_AVAILABLE')
    expect(s).toMatchObject({ok: true, charged: 110})
    expect(after(l, s)).toMatchObject({spent: 110, debt: 0, remaining: 0, is_over_limit: true})
  })

  it('ALLOW_WITH_OVERDRAFT charges the full actual even where a scope without overdraft capped its share', () => {
    const root = ledger('tenant:a', {allocated: 120, reserved: 100}) // remaining 20, no overdraft
    const leaf = ledger('tenant:a/agent:b', {allocated: 600, reserved: 100, overdraft_limit: 100}) // remaining 500
    const s = commit([root, leaf], 100, 150, 'ALLOW_WITH_OVERDRAFT')
    expect(s).toMatchObject({ok: true, charged: 150})
    expect(after(root, s)).toMatchObject({spent: 120, debt: 0, remaining: 0, is_over_limit: true})
    expect(after(leaf, s)).toMatchObject({spent: 150, debt: 0, remaining: 450, is_over_limit: false})
  })
})
