// planSettlement: which settlements go to the store as an overage charge (an actual above the estimate
// under ALLOW_IF_AVAILABLE or ALLOW_WITH_OVERDRAFT on active ledgers) and which are settled exactly as
// settle() does. Each case sits on one clause of that choice (survivors of the first full mutation run).
import {describe, expect, it} from 'vitest'

import {type SettleInput, planSettlement, settle} from '../../src/evaluator/settle.js'
import type {Ledger} from '../../src/protocol/types.js'

function ledger(scope: string, over: Partial<Ledger> = {}): Ledger {
  const l: Ledger = {scope, unit: 'CREDITS', allocated: 1000, remaining: 0, reserved: 100, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE', ...over}
  l.remaining = l.allocated - l.spent - l.reserved - l.debt
  return l
}

const input = (over: Partial<SettleInput>): SettleInput => ({ledgers: [ledger('tenant:a'), ledger('tenant:a/agent:b')], estimate: 100, actual: 150, policy: 'ALLOW_IF_AVAILABLE', kind: 'commit', ...over})

describe('planSettlement: settled as settle() does', () => {
  it('an actual equal to the estimate (over = 0) has no overage charge', () => {
    const i = input({actual: 100})
    const planned = planSettlement(i)
    expect(planned).toEqual(settle(i))
    expect(planned).toMatchObject({ok: true, charged: 100, released: 0})
    expect('overage' in planned).toBe(false)
  })

  it('an actual below the estimate has none either, and releases the rest', () => {
    const planned = planSettlement(input({actual: 60}))
    expect(planned).toMatchObject({ok: true, charged: 60, released: 40})
    expect('overage' in planned).toBe(false)
  })

  it('REJECT is settle(): a commit above its estimate is refused', () => {
    const i = input({policy: 'REJECT'})
    expect(planSettlement(i)).toEqual({ok: false, code: 'BUDGET_EXCEEDED', scope: 'tenant:a'})
    expect(planSettlement(i)).toEqual(settle(i))
  })

  it('no ledger at all is settle(): charged in full, nothing for the store to cap', () => {
    const planned = planSettlement(input({ledgers: []}))
    expect(planned).toEqual(settle(input({ledgers: []})))
    expect(planned).toMatchObject({ok: true, charged: 150})
    expect('overage' in planned).toBe(false)
  })

  it('a frozen ledger anywhere in the path is settle()\'s refusal, not an overage charge', () => {
    const i = input({ledgers: [ledger('tenant:a'), ledger('tenant:a/agent:b', {status: 'FROZEN'})]})
    expect(planSettlement(i)).toEqual({ok: false, code: 'BUDGET_FROZEN', scope: 'tenant:a/agent:b'})
  })
})

describe('planSettlement: an overage charge for the store', () => {
  it('ALLOW_IF_AVAILABLE on active ledgers: status conditions only, the capped extra expected', () => {
    // remaining 900 and 30: the extra of 50 is capped at the agent's 30.
    const i = input({ledgers: [ledger('tenant:a'), ledger('tenant:a/agent:b', {allocated: 130})]})
    const planned = planSettlement(i)
    expect(planned).toMatchObject({ok: true, charged: 130, released: 0})
    if (!planned.ok) throw new Error('refused')
    expect(planned.conditions).toEqual([
      {scope: 'tenant:a', unit: 'CREDITS', field: 'status', op: 'eq', value: 'ACTIVE'},
      {scope: 'tenant:a/agent:b', unit: 'CREDITS', field: 'status', op: 'eq', value: 'ACTIVE'},
    ])
    expect(planned.overage).toEqual({
      unit: 'CREDITS',
      estimate: 100,
      over: 50,
      expectExtra: 30,
      ledgers: [
        {scope: 'tenant:a', debt: false},
        {scope: 'tenant:a/agent:b', debt: false},
      ],
    })
  })

  it('ALLOW_WITH_OVERDRAFT: the shortfall becomes debt, so no extra is expected (the store charges it all)', () => {
    const i = input({policy: 'ALLOW_WITH_OVERDRAFT', ledgers: [ledger('tenant:a', {overdraft_limit: 100}), ledger('tenant:a/agent:b', {allocated: 130, overdraft_limit: 100})]})
    const planned = planSettlement(i)
    expect(planned).toMatchObject({ok: true, charged: 150, released: 0})
    if (!planned.ok) throw new Error('refused')
    expect(planned.overage?.ledgers.some((l) => l.debt)).toBe(true)
    expect(planned.overage && 'expectExtra' in planned.overage).toBe(false)
  })

  it('with a debt ledger anywhere in the path (overdraft on the agent only), the whole actual is charged and no extra is expected', () => {
    const i = input({policy: 'ALLOW_WITH_OVERDRAFT', ledgers: [ledger('tenant:a'), ledger('tenant:a/agent:b', {allocated: 130, overdraft_limit: 100})]})
    const planned = planSettlement(i)
    if (!planned.ok) throw new Error('refused')
    expect(planned.overage?.ledgers).toEqual([
      {scope: 'tenant:a', debt: false},
      {scope: 'tenant:a/agent:b', debt: true},
    ])
    expect(planned.charged).toBe(150)
    expect(planned.overage && 'expectExtra' in planned.overage).toBe(false)
  })
})
