// Ledger arithmetic shared by every store and the runtime's response projection: one place that
// derives `remaining` (allocated - spent - reserved - debt) and evaluates write conditions.
import type {Ledger} from '../protocol/types.js'
import type {Condition, LedgerDelta, OverageCharge} from './types.js'

/** A budget's ledger before any traffic: all of its allocation remains. The daemon seeds both books with it; the calibration replay starts from it. */
export function openingLedger(b: Pick<Ledger, 'scope' | 'unit' | 'overdraft_limit' | 'status' | 'caps'>, allocated: number): Ledger {
  return {
    scope: b.scope,
    unit: b.unit,
    allocated,
    remaining: allocated,
    reserved: 0,
    spent: 0,
    debt: 0,
    overdraft_limit: b.overdraft_limit,
    is_over_limit: false,
    status: b.status,
    ...(b.caps ? {caps: b.caps} : {}),
  }
}

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

/**
 * An OverageCharge against these ledgers (one per charge.ledgers entry, in order): the extra charged
 * to the capping ledgers, the deltas, and the first debt ledger that would pass its overdraft limit
 * (then `deltas` only release the hold). The rule is documented on OverageCharge.
 */
export function overageOutcome(
  ledgers: readonly Ledger[],
  charge: Pick<OverageCharge, 'ledgers' | 'estimate' | 'over'>,
): {extra: number; deltas: Array<Omit<LedgerDelta, 'book'>>; limitScope?: string} {
  const {estimate, over} = charge
  let extra = over
  for (let i = 0; i < ledgers.length; i++) if (!charge.ledgers[i].debt) extra = Math.min(extra, Math.max(0, ledgers[i].remaining))
  const limited = ledgers.find((l, i) => charge.ledgers[i].debt && l.debt + (over - Math.min(over, Math.max(0, l.remaining))) > l.overdraft_limit)
  if (limited) {
    const deltas = ledgers.map((l) => ({scope: l.scope, unit: l.unit, add: {reserved: -estimate}}))
    return {extra, deltas, limitScope: limited.scope}
  }
  const deltas = ledgers.map((l, i): Omit<LedgerDelta, 'book'> => {
    const available = Math.max(0, l.remaining)
    if (charge.ledgers[i].debt) {
      const covered = Math.min(over, available)
      return {scope: l.scope, unit: l.unit, add: {reserved: -estimate, spent: estimate + covered, debt: over - covered}}
    }
    return {scope: l.scope, unit: l.unit, add: {reserved: -estimate, spent: estimate + extra}, set: available < over ? {is_over_limit: true} : undefined}
  })
  return {extra, deltas}
}
