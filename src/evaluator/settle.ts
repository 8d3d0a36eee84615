// Settlement math for commits and direct-debit events (cycles-protocol.md §2.3, §2.9): pure,
// returns the ledger deltas to apply and the conditions under which they are still right.
import type {Ledger, OveragePolicy} from '../protocol/types.js'
import type {Condition, LedgerDelta} from '../store/types.js'

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

  // Capping: the extra is limited to the smallest non-negative remaining across capping scopes.
  const capping = policy === 'ALLOW_IF_AVAILABLE' ? ledgers : ledgers.filter((l) => l.overdraft_limit === 0)
  const cap = capping.length > 0 ? Math.max(0, Math.min(...capping.map((l) => l.remaining))) : over
  const cappedExtra = Math.min(over, cap)
  const deltas: Omit<LedgerDelta, 'book'>[] = []
  for (const l of ledgers) {
    const available = Math.max(0, l.remaining)
    if (policy === 'ALLOW_WITH_OVERDRAFT' && l.overdraft_limit > 0) {
      const covered = Math.min(over, available)
      const deficit = over - covered
      if (l.debt + deficit > l.overdraft_limit) return {ok: false, code: 'OVERDRAFT_LIMIT_EXCEEDED', scope: l.scope}
      const set = l.debt + deficit > l.overdraft_limit ? {is_over_limit: true} : undefined
      deltas.push({scope: l.scope, unit: l.unit, add: {reserved: -estimate, spent: estimate + covered, debt: deficit}, set})
    } else {
      deltas.push({
        scope: l.scope,
        unit: l.unit,
        add: {reserved: -estimate, spent: estimate + cappedExtra},
        set: available < over ? {is_over_limit: true} : undefined,
      })
    }
    // The capped amounts were computed from this exact balance.
    conditions.push({scope: l.scope, unit: l.unit, field: 'remaining', op: 'eq', value: l.remaining})
  }
  const anyOverdraft = policy === 'ALLOW_WITH_OVERDRAFT' && ledgers.some((l) => l.overdraft_limit > 0)
  const charged = anyOverdraft ? actual : estimate + cappedExtra
  return {ok: true, charged, released: 0, deltas, conditions}
}
