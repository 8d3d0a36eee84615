// Exact ledgers from src/store/ledger-math.ts: the opening ledger's shape, conditions on non-numeric
// operands, and the safe-integer guard on each counter separately (the others kept safe).
import {describe, expect, it} from 'vitest'

import type {Ledger} from '../../src/protocol/types.js'
import {applyDelta, conditionHolds, openingLedger} from '../../src/store/ledger-math.js'
import type {Condition} from '../../src/store/types.js'

const ledger = (over: Partial<Ledger> = {}): Ledger => ({
  scope: 'tenant:a',
  unit: 'TOKENS',
  allocated: 100,
  remaining: 100,
  reserved: 0,
  spent: 0,
  debt: 0,
  overdraft_limit: 0,
  is_over_limit: false,
  status: 'ACTIVE',
  ...over,
})

describe('openingLedger', () => {
  it('starts with everything remaining, not over limit, with caps only when given', () => {
    expect(openingLedger({scope: 'tenant:a', unit: 'TOKENS', overdraft_limit: 7, status: 'ACTIVE'}, 50)).toStrictEqual({
      scope: 'tenant:a',
      unit: 'TOKENS',
      allocated: 50,
      remaining: 50,
      reserved: 0,
      spent: 0,
      debt: 0,
      overdraft_limit: 7,
      is_over_limit: false,
      status: 'ACTIVE',
    })
    const caps = {max_tokens: 10}
    expect(openingLedger({scope: 's', unit: 'TOKENS', overdraft_limit: 0, status: 'ACTIVE', caps}, 1).caps).toStrictEqual({max_tokens: 10})
  })
})

describe('conditionHolds with non-numeric operands', () => {
  const cond = (c: Partial<Condition>): Condition => ({scope: 'tenant:a', unit: 'TOKENS', field: 'remaining', op: 'gte', value: 0, ...c})
  it('is false for an ordering comparison when either side is not a number', () => {
    // JS would compare these ('ACTIVE' >= 'ACTIVE', 5 >= '3') and say true.
    expect(conditionHolds(ledger(), cond({field: 'status', op: 'gte', value: 'ACTIVE'}))).toBe(false)
    expect(conditionHolds(ledger({remaining: 5}), cond({field: 'remaining', op: 'gte', value: '3'}))).toBe(false)
    expect(conditionHolds(ledger({remaining: 5}), cond({field: 'remaining', op: 'lte', value: 5}))).toBe(true)
  })
})

describe('applyDelta safe-integer guard', () => {
  const big = 2 ** 53 // one past Number.MAX_SAFE_INTEGER, exactly representable
  it.each<[string, Partial<Ledger>]>([
    ['allocated', {allocated: big, spent: big - 10}],
    ['spent', {allocated: 0, spent: big, debt: -(big - 10)}],
    ['reserved', {allocated: 0, spent: -(big - 10), reserved: big}],
    ['debt', {allocated: 0, spent: -(big - 10), debt: big}],
  ])('refuses an unsafe %s even when remaining comes out safe', (_field, counters) => {
    const before = ledger(counters)
    expect(Math.abs(before.allocated - before.spent - before.reserved - before.debt)).toBe(10)
    expect(applyDelta(before, {book: 'real', scope: 'tenant:a', unit: 'TOKENS'}, 1)).toBeUndefined()
  })

  it('applies a safe delta and stamps the time', () => {
    expect(applyDelta(ledger(), {book: 'real', scope: 'tenant:a', unit: 'TOKENS', add: {spent: 30, reserved: 5, debt: 1}}, 42)).toStrictEqual(
      ledger({spent: 30, reserved: 5, debt: 1, remaining: 64, updated_at_ms: 42}),
    )
  })
})
