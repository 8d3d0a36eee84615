// The shadow book's charge for a would-be-allowed dry-run or decide (src/evaluator/shadow-book.ts).
import {describe, expect, it} from 'vitest'

import type {ReserveEvaluation} from '../../src/evaluator/evaluate.js'
import {chargeDeltas} from '../../src/evaluator/shadow-book.js'

const evaluation = (decision: ReserveEvaluation['decision']): ReserveEvaluation =>
  ({decision, budgeted: ['tenant:a', 'tenant:a/agent:b'], admitting: [], estimate: 5}) as unknown as ReserveEvaluation

describe('chargeDeltas', () => {
  it('charges the estimate to every budgeted scope on an ALLOW', () => {
    expect(chargeDeltas(evaluation('ALLOW'), {unit: 'TOKENS', amount: 5})).toStrictEqual([
      {book: 'shadow', scope: 'tenant:a', unit: 'TOKENS', add: {spent: 5}},
      {book: 'shadow', scope: 'tenant:a/agent:b', unit: 'TOKENS', add: {spent: 5}},
    ])
  })

  it('charges nothing on a DENY', () => {
    expect(chargeDeltas(evaluation('DENY'), {unit: 'TOKENS', amount: 5})).toStrictEqual([])
  })

  it('charges nothing for a zero estimate', () => {
    expect(chargeDeltas(evaluation('ALLOW'), {unit: 'TOKENS', amount: 0})).toStrictEqual([])
  })
})
