// Ledger arithmetic shared by every store and the runtime's response projection: one place that
// derives `remaining` (allocated - spent - reserved - debt) and evaluates write conditions.
import type {Ledger} from '../protocol/types.js'
import type {Condition, LedgerDelta} from './types.js'

export function conditionHolds(ledger: Ledger | undefined, c: Condition): boolean {
  if (!ledger) return false
  const actual = ledger[c.field]
  if (c.op === 'eq') return actual === c.value
  if (typeof actual !== 'number' || typeof c.value !== 'number') return false
  return c.op === 'gte' ? actual >= c.value : actual <= c.value
}

/** Apply a delta to a copy of a ledger; undefined when a counter would leave the safe-integer range. */
export function applyDelta(ledger: Ledger, d: LedgerDelta, nowMs: number): Ledger | undefined {
  const next: Ledger = d.set ? {...ledger, ...d.set} : {...ledger}
  const add = d.add
  if (add) {
    if (add.allocated) next.allocated += add.allocated
    if (add.spent) next.spent += add.spent
    if (add.reserved) next.reserved += add.reserved
    if (add.debt) next.debt += add.debt
  }
  next.remaining = next.allocated - next.spent - next.reserved - next.debt
  if (
    !Number.isSafeInteger(next.allocated) ||
    !Number.isSafeInteger(next.spent) ||
    !Number.isSafeInteger(next.reserved) ||
    !Number.isSafeInteger(next.debt) ||
    !Number.isSafeInteger(next.remaining)
  ) {
    return undefined
  }
  next.updated_at_ms = nowMs
  return next
}
