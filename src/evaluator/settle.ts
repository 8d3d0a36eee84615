// Settlement math for commits and direct-debit events (cycles-protocol.md §2.3, §2.9): pure.
// settle() returns the ledger deltas to apply and the conditions under which they are still right;
// planSettlement() is what the runtime writes: the same rule, with an overage handed to the store as
// an OverageCharge so that the capping is decided against the ledgers as they are at the write.
import type {Ledger, OveragePolicy} from '../protocol/types.js'
import {overageOutcome} from '../store/ledger-math.js'
import type {Condition, LedgerDelta, OverageCharge} from '../store/types.js'

export type SettleFailure = 'BUDGET_EXCEEDED' | 'OVERDRAFT_LIMIT_EXCEEDED' | 'BUDGET_FROZEN' | 'BUDGET_CLOSED'

export type Settlement =
  | {ok: true; charged: number; released: number; deltas: Omit<LedgerDelta, 'book'>[]; conditions: Condition[]}
  | {ok: false; code: SettleFailure; scope: string}

export interface SettleInput {
  /** Ledgers currently holding the reservation (commit) or touched by the event, root first. */
  ledgers: Ledger[]
  /** The held estimate; 0 for an event. */
  estimate: number
  actual: number
  policy: OveragePolicy
  kind: 'commit' | 'event'
}

export function settle({ledgers, estimate, actual, policy, kind}: SettleInput): Settlement {
  for (const l of ledgers) {
    if (l.status === 'FROZEN') return {ok: false, code: 'BUDGET_FROZEN', scope: l.scope}
    if (l.status === 'CLOSED') return {ok: false, code: 'BUDGET_CLOSED', scope: l.scope}
  }
  const conditions: Condition[] = ledgers.map((l) => ({scope: l.scope, unit: l.unit, field: 'status', op: 'eq', value: 'ACTIVE'}))
  const over = actual - estimate
  if (over <= 0) {
    const deltas = ledgers.map((l) => ({scope: l.scope, unit: l.unit, add: {reserved: -estimate, spent: actual}}))
    return {ok: true, charged: actual, released: estimate - actual, deltas, conditions}
  }

  if (policy === 'REJECT') {
    // Commit: the reference rejects any actual above the estimate. Event: only when it exceeds remaining.
    const short = ledgers.find((l) => kind === 'commit' || l.remaining < over)
    if (short) return {ok: false, code: 'BUDGET_EXCEEDED', scope: short.scope}
    conditions.push(...ledgers.map((l): Condition => ({scope: l.scope, unit: l.unit, field: 'remaining', op: 'gte', value: over})))
    const deltas = ledgers.map((l) => ({scope: l.scope, unit: l.unit, add: {reserved: -estimate, spent: actual}}))
    return {ok: true, charged: actual, released: 0, deltas, conditions}
  }

  const charge = overageCharge(ledgers, policy, estimate, over)
  const outcome = overageOutcome(ledgers, charge)
  if (outcome.limitScope) return {ok: false, code: 'OVERDRAFT_LIMIT_EXCEEDED', scope: outcome.limitScope}
  // The capped amounts were computed from this exact balance.
  for (const l of ledgers) conditions.push({scope: l.scope, unit: l.unit, field: 'remaining', op: 'eq', value: l.remaining})
  return {ok: true, charged: chargedOf(charge, outcome.extra, actual), released: 0, deltas: outcome.deltas, conditions}
}

/** Which ledgers cap the extra and which take the shortfall as debt (ALLOW_WITH_OVERDRAFT, limit > 0). */
function overageCharge(ledgers: Ledger[], policy: OveragePolicy, estimate: number, over: number): Pick<OverageCharge, 'ledgers' | 'estimate' | 'over'> {
  const debt = (l: Ledger) => policy === 'ALLOW_WITH_OVERDRAFT' && l.overdraft_limit > 0
  return {ledgers: ledgers.map((l) => ({scope: l.scope, debt: debt(l)})), estimate, over}
}

/** With a debt ledger the whole actual is charged; otherwise the estimate plus the capped extra. */
function chargedOf(charge: Pick<OverageCharge, 'ledgers' | 'estimate'>, extra: number, actual: number): number {
  return charge.ledgers.some((l) => l.debt) ? actual : charge.estimate + extra
}

export type PlannedSettlement =
  | {
      ok: true
      /** As the response states it; with an overage, the store checks it (OverageCharge.expectExtra) or it does not depend on the ledgers. */
      charged: number
      released: number
      /** Predicted from the ledgers read (for the response's balances); with an overage the store computes its own. */
      deltas: Omit<LedgerDelta, 'book'>[]
      conditions: Condition[]
      /** Set for an actual above the estimate under a capping policy. */
      overage?: Omit<OverageCharge, 'book' | 'onLimit'>
    }
  | {ok: false; code: SettleFailure; scope: string}

/**
 * settle() for the write: an actual within the estimate and REJECT are exactly settle(); under
 * ALLOW_IF_AVAILABLE and ALLOW_WITH_OVERDRAFT the overage goes to the store as an OverageCharge,
 * conditioned only on the ledgers' status. `charged` and `deltas` are predicted from `ledgers`;
 * when the charged amount depends on the cap, expectExtra makes the store refuse a different one.
 * An overdraft limit is left to the store to judge (at the write).
 */
export function planSettlement(input: SettleInput): PlannedSettlement {
  const {ledgers, estimate, actual, policy} = input
  const over = actual - estimate
  if (over <= 0 || policy === 'REJECT' || ledgers.length === 0 || ledgers.some((l) => l.status !== 'ACTIVE')) return settle(input)
  const conditions: Condition[] = ledgers.map((l) => ({scope: l.scope, unit: l.unit, field: 'status', op: 'eq', value: 'ACTIVE'}))
  const charge = overageCharge(ledgers, policy, estimate, over)
  const predicted = overageOutcome(ledgers, charge)
  const fixed = charge.ledgers.some((l) => l.debt)
  return {
    ok: true,
    charged: chargedOf(charge, predicted.extra, actual),
    released: 0,
    deltas: predicted.deltas,
    conditions,
    overage: {...charge, unit: ledgers[0].unit, ...(fixed ? {} : {expectExtra: predicted.extra})},
  }
}
