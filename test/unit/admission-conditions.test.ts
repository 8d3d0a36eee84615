// The evaluator's exact outputs where mutation testing found them unchecked: the write-time
// conditions per overdraft rule, caps from an empty caps object, and `budgeted` on a closed tenant.
import {describe, expect, it} from 'vitest'

import {admissionConditions, evaluateReserve} from '../../src/evaluator/evaluate.js'
import type {Ledger} from '../../src/protocol/types.js'

function ledger(scope: string, over: Partial<Ledger> = {}): Ledger {
  const l: Ledger = {scope, unit: 'CREDITS', allocated: 1000, remaining: 0, reserved: 0, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE', ...over}
  l.remaining = l.allocated - l.spent - l.reserved - l.debt
  return l
}

describe('admissionConditions', () => {
  it('without overdraft: active, not over limit, enough remaining, still no overdraft and no debt', () => {
    const evaluation = evaluateReserve({tenant: undefined, affected_scopes: ['tenant:a'], unit: 'CREDITS', estimate: 100, ledgers: [ledger('tenant:a')]})
    const c = {book: 'real', scope: 'tenant:a', unit: 'CREDITS'}
    expect(admissionConditions(evaluation)).toEqual([
      {...c, field: 'status', op: 'eq', value: 'ACTIVE'},
      {...c, field: 'is_over_limit', op: 'eq', value: false},
      {...c, field: 'remaining', op: 'gte', value: 100},
      {...c, field: 'overdraft_limit', op: 'eq', value: 0},
      {...c, field: 'debt', op: 'lte', value: 0},
    ])
  })

  it('with overdraft: the overdraft must still be granted (debt is then allowed); stamped with the book', () => {
    const evaluation = evaluateReserve({tenant: undefined, affected_scopes: ['tenant:a'], unit: 'CREDITS', estimate: 5, ledgers: [ledger('tenant:a', {overdraft_limit: 50, debt: 10})], book: 'shadow'})
    const c = {book: 'shadow', scope: 'tenant:a', unit: 'CREDITS'}
    expect(admissionConditions(evaluation)).toEqual([
      {...c, field: 'status', op: 'eq', value: 'ACTIVE'},
      {...c, field: 'is_over_limit', op: 'eq', value: false},
      {...c, field: 'remaining', op: 'gte', value: 5},
      {...c, field: 'overdraft_limit', op: 'gte', value: 1},
    ])
  })
})

describe('evaluateReserve details', () => {
  it('an empty caps object on the deepest scope is a plain ALLOW', () => {
    const r = evaluateReserve({tenant: undefined, affected_scopes: ['tenant:a'], unit: 'CREDITS', estimate: 1, ledgers: [ledger('tenant:a', {caps: {}})]})
    expect(r.decision).toBe('ALLOW')
    expect(r.caps).toBeUndefined()
  })

  it('a closed tenant still reports which scopes are budgeted', () => {
    const r = evaluateReserve({
      tenant: {tenant_id: 'a', status: 'CLOSED'},
      affected_scopes: ['tenant:a', 'tenant:a/workspace:w', 'tenant:a/workspace:w/agent:x'],
      unit: 'CREDITS',
      estimate: 1,
      ledgers: [ledger('tenant:a'), undefined, ledger('tenant:a/workspace:w/agent:x')],
    })
    expect(r).toMatchObject({decision: 'DENY', reason_code: 'TENANT_CLOSED', budgeted: ['tenant:a', 'tenant:a/workspace:w/agent:x'], admitting: []})
  })
})
