// The shadow book's transitions (docs/design.md §3 "Two ledgers"), as pure delta builders: the
// daemon's runtime service applies them through its store, the calibration replay to its in-memory
// book. A would-be ALLOW holds its estimate; a commit settles (settle.ts); a release or expiry
// returns the hold; a dry-run or decide is charged its estimate; an event debits its actual.
import type {Amount, Book, Decision} from '../protocol/types.js'
import type {LedgerDelta} from '../store/types.js'
import type {ReserveEvaluation} from './evaluate.js'

export interface WouldOutcome {
  would_decision: Decision
  would_reason_code?: string
  denied_scope?: string
}

/** What full enforcement would answer: UNIT_MISMATCH when no affected scope has a budget in the unit but another unit exists there. */
export function wouldOutcome(unitMismatch: boolean, evaluation: ReserveEvaluation): WouldOutcome {
  if (unitMismatch) return {would_decision: 'DENY', would_reason_code: 'UNIT_MISMATCH'}
  const out: WouldOutcome = {would_decision: evaluation.decision}
  if (evaluation.reason_code) out.would_reason_code = evaluation.reason_code
  if (evaluation.denied_scope) out.denied_scope = evaluation.denied_scope
  return out
}

/** A reservation's hold on the scopes that admitted it. */
export function holdDeltas(book: Book, scopes: readonly string[], amount: Amount): LedgerDelta[] {
  return scopes.map((scope) => ({book, scope, unit: amount.unit, add: {reserved: amount.amount}}))
}

/** A release or expiry: the hold comes back. */
export function releaseHold(book: Book, scopes: readonly string[], amount: Amount): LedgerDelta[] {
  return scopes.map((scope) => ({book, scope, unit: amount.unit, add: {reserved: -amount.amount}}))
}

/** A would-be-allowed dry-run or decide never commits, so the shadow book is charged its estimate. */
export function chargeDeltas(evaluation: ReserveEvaluation, amount: Amount): LedgerDelta[] {
  if (evaluation.decision === 'DENY' || amount.amount === 0) return []
  return evaluation.budgeted.map((scope) => ({book: 'shadow' as const, scope, unit: amount.unit, add: {spent: amount.amount}}))
}
