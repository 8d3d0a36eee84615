// The v0.1.26 DenyDetail of a denial, for clients that asked for v0.1.26 (X-Cycles-Protocol-Version):
// policy denials carry the policy's own detail; budget denials name the scope and, on
// BUDGET_EXCEEDED, what remains and how much to fund.
import type {Ledger, Unit} from '../protocol/types.js'
import type {DenyDetail} from './evaluate.js'

export function budgetDenyDetail(reason: string, scope: string | undefined, ledgers: ReadonlyArray<Ledger | undefined>, estimate: number, unit: Unit): DenyDetail {
  const detail: DenyDetail = {reason_code: reason}
  if (scope) detail.blocked_by_scope = scope
  const ledger = scope ? ledgers.find((l) => l?.scope === scope) : undefined
  if (reason === 'BUDGET_EXCEEDED' && ledger) {
    detail.budget_remaining = ledger.remaining
    detail.suggested_fix = `Fund ${scope} budget by at least ${estimate - ledger.remaining} ${unit}`
  } else if (reason === 'DEBT_OUTSTANDING' && ledger) {
    detail.suggested_fix = `Repay overdraft debt of ${ledger.debt} ${unit} on ${scope} before new reservations`
  } else if (reason === 'BUDGET_FROZEN' && scope) {
    detail.suggested_fix = `Unfreeze the budget of ${scope}`
  }
  return detail
}
