// Exact writes of the real book under shadow mode at its boundaries (remaining exactly the estimate,
// freed exactly the actual or zero, no shortfall, nothing to write): the deltas and the conditions a
// store applies atomically. The conditions are what keeps concurrent writers honest, so they are
// pinned value for value (survivors of the full mutation run of 2026-11-28 in real-book.ts).
import {describe, expect, it} from 'vitest'

import {unconditionalHold, unconditionalSettle} from '../../src/evaluator/real-book.js'
import type {Ledger} from '../../src/protocol/types.js'
import {openingLedger} from '../../src/store/ledger-math.js'

const ledger = (allocated: number, over: Partial<Ledger> = {}): Ledger => {
  const l = {...openingLedger({scope: 'tenant:acme', unit: 'TOKENS', overdraft_limit: 0, status: 'ACTIVE'}, allocated), ...over}
  return {...l, remaining: l.allocated - l.spent - l.reserved - l.debt}
}
const at = {book: 'real', scope: 'tenant:acme', unit: 'TOKENS'}

describe('unconditionalHold at its boundaries', () => {
  it('remaining exactly the estimate: the whole estimate, pinned by remaining >= estimate', () => {
    expect(unconditionalHold([ledger(100, {spent: 40})], 60)).toEqual({
      held: [60],
      deltas: [{...at, add: {reserved: 60}}],
      conditions: [{...at, field: 'remaining', op: 'gte', value: 60}],
    })
  })
  it('remaining exactly zero: nothing held and no delta at all', () => {
    expect(unconditionalHold([ledger(100, {spent: 100})], 60)).toEqual({held: [0], deltas: [], conditions: [{...at, field: 'remaining', op: 'lte', value: 0}]})
  })
})

describe('unconditionalSettle at its boundaries', () => {
  it('freed exactly the actual: all of it spent, no debt key, no overdraft conditions', () => {
    // remaining 20 + held 30 = 50 = actual
    expect(unconditionalSettle([ledger(100, {spent: 50, reserved: 30})], () => 30, 50)).toEqual({
      deltas: [{...at, add: {reserved: -30, spent: 50}}],
      conditions: [{...at, field: 'remaining', op: 'gte', value: 20}],
    })
  })
  it('freed exactly zero: nothing covered, all debt, pinned by remaining <= -held', () => {
    // remaining -30 (debt) + held 30 = 0
    expect(unconditionalSettle([ledger(100, {spent: 100, reserved: 30, debt: 0, allocated: 100})].map((l) => ({...l, remaining: -30})), () => 30, 10)).toEqual({
      deltas: [{...at, add: {reserved: -30, spent: 0, debt: 10}, set: {is_over_limit: true}}],
      conditions: [
        {...at, field: 'remaining', op: 'lte', value: -30},
        {...at, field: 'overdraft_limit', op: 'eq', value: 0},
        {...at, field: 'debt', op: 'gte', value: -9},
      ],
    })
  })
  it('an event (nothing held) covered by remaining: spent, no debt; an event of 0: nothing to write', () => {
    expect(unconditionalSettle([ledger(100)], () => 0, 5)).toEqual({
      deltas: [{...at, add: {reserved: -0, spent: 5}}], // -held with held 0
      conditions: [{...at, field: 'remaining', op: 'gte', value: 5}],
    })
    expect(unconditionalSettle([ledger(100)], () => 0, 0)).toEqual({deltas: [], conditions: [{...at, field: 'remaining', op: 'gte', value: 0}]})
  })
})
