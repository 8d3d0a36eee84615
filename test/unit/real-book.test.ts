// The real book under shadow mode (evaluator/real-book.ts): holds cover what the book has left,
// settlement spends what the book covers and records the rest as debt, is_over_limit past the
// overdraft limit; each write's conditions fail when the ledger moved so that the plan is wrong.
import {describe, expect, it} from 'vitest'

import {realHeldOn, releaseRealHold, unconditionalHold, unconditionalSettle} from '../../src/evaluator/real-book.js'
import type {Ledger} from '../../src/protocol/types.js'
import {applyDelta, conditionHolds, openingLedger} from '../../src/store/ledger-math.js'
import type {Condition, LedgerDelta} from '../../src/store/types.js'

const ledger = (allocated: number, over: Partial<Ledger> = {}): Ledger => {
  const l = {...openingLedger({scope: 'tenant:acme', unit: 'TOKENS', overdraft_limit: 0, status: 'ACTIVE'}, allocated), ...over}
  return {...l, remaining: l.allocated - l.spent - l.reserved - l.debt}
}
const after = (l: Ledger, deltas: LedgerDelta[]) => deltas.reduce((x, d) => applyDelta(x, d, 0)!, l)
const holds = (l: Ledger, conditions: Condition[]) => conditions.every((c) => conditionHolds(l, c))
const counters = (l: Ledger) => ({spent: l.spent, reserved: l.reserved, debt: l.debt, remaining: l.remaining, is_over_limit: l.is_over_limit})

describe('unconditionalHold', () => {
  it('holds the estimate while remaining covers it, what remains when it partly does, nothing once exhausted', () => {
    const cases: Array<[Ledger, number]> = [
      [ledger(100), 60],
      [ledger(100, {spent: 70}), 30],
      [ledger(100, {spent: 100}), 0],
      [ledger(100, {spent: 100, debt: 20}), 0],
    ]
    for (const [l, held] of cases) {
      const h = unconditionalHold([l], 60)
      expect(h.held).toEqual([held])
      expect(holds(l, h.conditions)).toBe(true)
      expect(after(l, h.deltas).reserved).toBe(held)
      expect(after(l, h.deltas).remaining).toBe(Math.max(l.remaining - 60, Math.min(l.remaining, 0)))
    }
  })

  it('its conditions fail when the ledger moved out of the planned case, and hold when it stayed in it', () => {
    const full = unconditionalHold([ledger(100)], 60)
    expect(holds(ledger(100, {spent: 30}), full.conditions)).toBe(true)
    expect(holds(ledger(100, {spent: 50}), full.conditions)).toBe(false)
    const partial = unconditionalHold([ledger(100, {spent: 70})], 60)
    expect(holds(ledger(100, {spent: 71}), partial.conditions)).toBe(false)
    const none = unconditionalHold([ledger(100, {spent: 100})], 60)
    expect(holds(ledger(100, {spent: 100, debt: 5}), none.conditions)).toBe(true)
    expect(holds(ledger(100, {spent: 99}), none.conditions)).toBe(false)
  })
})

describe('unconditionalSettle', () => {
  it('spends what the book covers (remaining plus the hold) and records the rest as debt', () => {
    // held 60 of 100, actual 50: all covered, 10 returns.
    let l = ledger(100, {reserved: 60})
    let s = unconditionalSettle([l], () => 60, 50)
    expect(holds(l, s.conditions)).toBe(true)
    expect(counters(after(l, s.deltas))).toEqual({spent: 50, reserved: 0, debt: 0, remaining: 50, is_over_limit: false})
    // held 30 (partial), actual 80: 30 covered, 50 debt, past the zero limit.
    l = ledger(100, {spent: 70, reserved: 30})
    s = unconditionalSettle([l], () => 30, 80)
    expect(holds(l, s.conditions)).toBe(true)
    expect(counters(after(l, s.deltas))).toEqual({spent: 100, reserved: 0, debt: 50, remaining: -50, is_over_limit: true})
    // an event (holds nothing) on an exhausted book: all debt.
    l = ledger(100, {spent: 100})
    s = unconditionalSettle([l], () => 0, 25)
    expect(counters(after(l, s.deltas))).toEqual({spent: 100, reserved: 0, debt: 25, remaining: -25, is_over_limit: true})
  })

  it('debt within the overdraft limit leaves is_over_limit alone; the write is pinned to the debt side of the limit', () => {
    const l = ledger(100, {spent: 100, overdraft_limit: 50, debt: 20})
    const within = unconditionalSettle([l], () => 0, 30)
    expect(counters(after(l, within.deltas))).toMatchObject({debt: 50, is_over_limit: false})
    // Another write added debt in between: the plan (not over the limit) no longer holds.
    expect(holds({...l, debt: 21, remaining: -21}, within.conditions)).toBe(false)
    const past = unconditionalSettle([l], () => 0, 31)
    expect(counters(after(l, past.deltas))).toMatchObject({debt: 51, is_over_limit: true})
    expect(holds({...l, debt: 19, remaining: -19}, past.conditions)).toBe(false)
  })

  it('a commit of zero returns the hold and changes nothing else', () => {
    const l = ledger(100, {reserved: 40})
    const s = unconditionalSettle([l], () => 40, 0)
    expect(counters(after(l, s.deltas))).toEqual({spent: 0, reserved: 0, debt: 0, remaining: 100, is_over_limit: false})
  })
})

describe('holds of a reservation', () => {
  const r = {real_scopes: ['a', 'b'], reserved: {unit: 'TOKENS' as const, amount: 60}}
  it('are the estimate everywhere without real_held, the recorded amounts with it', () => {
    expect(['a', 'b', 'c'].map(realHeldOn(r))).toEqual([60, 60, 0])
    expect(['a', 'b'].map(realHeldOn({...r, real_held: [60, 15]}))).toEqual([60, 15])
    expect(releaseRealHold({...r, real_held: [60, 0]})).toEqual([{book: 'real', scope: 'a', unit: 'TOKENS', add: {reserved: -60}}])
  })
})
