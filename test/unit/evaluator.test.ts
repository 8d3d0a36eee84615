import {describe, expect, it} from 'vitest'

import {admissionConditions, evaluateReserve, liveErrorFor} from '../../src/evaluator/evaluate.js'
import {conditionHolds} from '../../src/store/ledger-math.js'
import type {Ledger, Tenant} from '../../src/protocol/types.js'

const SCOPES = ['tenant:acme', 'tenant:acme/workspace:prod', 'tenant:acme/workspace:prod/agent:bot']

function ledger(scope: string, over: Partial<Ledger> = {}): Ledger {
  const base: Ledger = {
    scope, unit: 'USD_MICROCENTS', allocated: 1000, remaining: 1000, reserved: 0, spent: 0, debt: 0,
    overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE',
  }
  const l = {...base, ...over}
  if (over.remaining === undefined) l.remaining = l.allocated - l.spent - l.reserved - l.debt
  return l
}

const run = (ledgers: Array<Ledger | undefined>, estimate = 100, tenant?: Tenant) =>
  evaluateReserve({tenant, affected_scopes: SCOPES, unit: 'USD_MICROCENTS', estimate, ledgers})

describe('evaluateReserve: check order per scope (FROZEN, CLOSED, over-limit, debt, remaining < estimate)', () => {
  it.each<[string, Partial<Ledger>, string]>([
    ['frozen', {status: 'FROZEN'}, 'BUDGET_FROZEN'],
    ['closed', {status: 'CLOSED'}, 'BUDGET_CLOSED'],
    ['over limit', {is_over_limit: true}, 'OVERDRAFT_LIMIT_EXCEEDED'],
    ['debt without overdraft', {debt: 10}, 'DEBT_OUTSTANDING'],
    ['remaining below estimate', {spent: 950}, 'BUDGET_EXCEEDED'],
    // within one scope, the earlier check wins
    ['frozen beats exceeded', {status: 'FROZEN', spent: 1000}, 'BUDGET_FROZEN'],
    ['closed beats over-limit', {status: 'CLOSED', is_over_limit: true}, 'BUDGET_CLOSED'],
    ['over-limit beats debt (OVERDRAFT beats DEBT)', {is_over_limit: true, debt: 5}, 'OVERDRAFT_LIMIT_EXCEEDED'],
    ['debt beats exceeded', {debt: 950}, 'DEBT_OUTSTANDING'],
  ])('%s → %s', (_name, over, reason) => {
    const result = run([ledger(SCOPES[0]), ledger(SCOPES[1], over), ledger(SCOPES[2])])
    expect(result.decision).toBe('DENY')
    expect(result.reason_code).toBe(reason)
    expect(result.denied_scope).toBe(SCOPES[1])
  })

  it('root first: an exceeded tenant budget beats a frozen agent budget', () => {
    const result = run([ledger(SCOPES[0], {spent: 990}), ledger(SCOPES[1]), ledger(SCOPES[2], {status: 'FROZEN'})])
    expect(result).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_EXCEEDED', denied_scope: 'tenant:acme'})
  })

  it('debt is allowed when an overdraft limit exists', () => {
    const result = run([ledger(SCOPES[0], {debt: 50, overdraft_limit: 100})])
    expect(result.decision).toBe('ALLOW')
  })

  it('estimate equal to remaining is allowed (strict <), and 0 always fits', () => {
    expect(run([ledger(SCOPES[0], {spent: 900})], 100).decision).toBe('ALLOW')
    expect(run([ledger(SCOPES[0], {spent: 1000})], 0).decision).toBe('ALLOW')
    expect(run([ledger(SCOPES[0], {spent: 901})], 100).decision).toBe('DENY')
  })

  it('unbudgeted scopes are skipped; none budgeted → BUDGET_NOT_FOUND', () => {
    expect(run([undefined, ledger(SCOPES[1]), undefined])).toMatchObject({decision: 'ALLOW', budgeted: [SCOPES[1]]})
    expect(run([undefined, undefined, undefined])).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_NOT_FOUND'})
  })

  it('closed tenant → TENANT_CLOSED before any ledger check', () => {
    const tenant: Tenant = {tenant_id: 'acme', status: 'CLOSED'}
    expect(run([ledger(SCOPES[0], {status: 'FROZEN'})], 100, tenant)).toMatchObject({decision: 'DENY', reason_code: 'TENANT_CLOSED'})
  })

  it('caps come from the deepest scope only', () => {
    const deepCaps = run([ledger(SCOPES[0]), ledger(SCOPES[1]), ledger(SCOPES[2], {caps: {max_tokens: 64}})])
    expect(deepCaps).toMatchObject({decision: 'ALLOW_WITH_CAPS', caps: {max_tokens: 64}})
    const shallowCaps = run([ledger(SCOPES[0], {caps: {max_tokens: 64}}), ledger(SCOPES[1]), undefined])
    expect(shallowCaps.decision).toBe('ALLOW')
    expect(shallowCaps.caps).toBeUndefined()
  })

  it('an ALLOW carries conditions that hold now and fail once the budget moves', () => {
    const l = ledger(SCOPES[0], {spent: 800})
    const result = run([l], 200)
    expect(admissionConditions(result).length).toBeGreaterThan(0)
    expect(admissionConditions(result).every((c) => conditionHolds(l, c))).toBe(true)
    const moved = ledger(SCOPES[0], {spent: 801})
    expect(admissionConditions(result).every((c) => conditionHolds(moved, c))).toBe(false)
    expect(admissionConditions(result).every((c) => conditionHolds({...l, status: 'FROZEN'}, c))).toBe(false)
  })

  it('maps live errors', () => {
    expect(liveErrorFor('BUDGET_NOT_FOUND')).toEqual({status: 404, code: 'NOT_FOUND'})
    expect(liveErrorFor('BUDGET_EXCEEDED')).toEqual({status: 409, code: 'BUDGET_EXCEEDED'})
  })
})
