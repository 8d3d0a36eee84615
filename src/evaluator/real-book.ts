// The real book under shadow mode (README "Two books"): a shadow-mode live reservation is admitted
// whatever the real book says, yet it is real spend, so it holds and settles there too, without
// admission conditions. It holds what the real book can cover of its estimate (never driving
// `remaining` below zero by a hold); at commit (or for an event) the part of the actual the book
// cannot cover becomes debt, the way the protocol records an overdraft, and `is_over_limit` is set
// once the debt passes the overdraft limit. Pure delta builders; the conditions make each write exact
// (a write whose ledger moved in between fails and is planned again). The shadow book is untouched.
import type {Ledger, Reservation} from '../protocol/types.js'
import type {Condition, LedgerDelta} from '../store/types.js'

type RealDelta = LedgerDelta & {book: 'real'}
type RealCondition = Condition & {book: 'real'}

export interface RealBookWrite {
  deltas: RealDelta[]
  conditions: RealCondition[]
}

/**
 * Per ledger, the share of `estimate` the real book can hold: all of it while `remaining` covers it,
 * none once `remaining` is at or below zero, else what remains. The conditions pin the case, not the
 * value, except in the narrow partial case: concurrent writes to an exhausted budget do not collide.
 */
export function unconditionalHold(ledgers: readonly Ledger[], estimate: number): RealBookWrite & {held: number[]} {
  const out: RealBookWrite & {held: number[]} = {deltas: [], conditions: [], held: []}
  for (const l of ledgers) {
    const at = {book: 'real' as const, scope: l.scope, unit: l.unit}
    let held: number
    if (l.remaining >= estimate) {
      held = estimate
      out.conditions.push({...at, field: 'remaining', op: 'gte', value: estimate})
    } else if (l.remaining <= 0) {
      held = 0
      out.conditions.push({...at, field: 'remaining', op: 'lte', value: 0})
    } else {
      held = l.remaining
      out.conditions.push({...at, field: 'remaining', op: 'eq', value: l.remaining})
    }
    out.held.push(held)
    if (held > 0) out.deltas.push({...at, add: {reserved: held}})
  }
  return out
}

/**
 * Settle `actual` on ledgers that hold `heldOn(scope)` each (0 for an event): the hold comes back,
 * the actual is spent as far as the ledger covers it (its remaining plus the hold), the rest is debt;
 * debt past overdraft_limit sets is_over_limit. Never refused: shadow mode admitted the request.
 */
export function unconditionalSettle(ledgers: readonly Ledger[], heldOn: (scope: string) => number, actual: number): RealBookWrite {
  const out: RealBookWrite = {deltas: [], conditions: []}
  for (const l of ledgers) {
    const at = {book: 'real' as const, scope: l.scope, unit: l.unit}
    const held = heldOn(l.scope)
    const freed = l.remaining + held
    let covered: number
    if (freed >= actual) {
      covered = actual
      out.conditions.push({...at, field: 'remaining', op: 'gte', value: actual - held})
    } else if (freed <= 0) {
      covered = 0
      out.conditions.push({...at, field: 'remaining', op: 'lte', value: -held})
    } else {
      covered = freed
      out.conditions.push({...at, field: 'remaining', op: 'eq', value: l.remaining})
    }
    const shortfall = actual - covered
    const delta: RealDelta = {...at, add: {reserved: -held, spent: covered, ...(shortfall > 0 ? {debt: shortfall} : {})}}
    if (shortfall > 0) {
      // Whether this debt passes the limit depends on the debt and the limit as they are at the write.
      const limit = l.overdraft_limit
      out.conditions.push({...at, field: 'overdraft_limit', op: 'eq', value: limit})
      if (l.debt + shortfall > limit) {
        out.conditions.push({...at, field: 'debt', op: 'gte', value: limit - shortfall + 1})
        delta.set = {is_over_limit: true}
      } else out.conditions.push({...at, field: 'debt', op: 'lte', value: limit - shortfall})
    }
    if (held !== 0 || covered !== 0 || shortfall !== 0) out.deltas.push(delta)
  }
  return out
}

/** What a reservation holds on one real scope: `real_held` when the real book could not hold all of it. */
export function realHeldOn(r: Pick<Reservation, 'real_scopes' | 'real_held' | 'reserved'>): (scope: string) => number {
  return (scope) => {
    const i = r.real_scopes.indexOf(scope)
    if (i < 0) return 0
    return r.real_held?.[i] ?? r.reserved.amount
  }
}

/** A release or expiry on the real book: each scope's hold comes back. */
export function releaseRealHold(r: Pick<Reservation, 'real_scopes' | 'real_held' | 'reserved'>): RealDelta[] {
  const held = realHeldOn(r)
  return r.real_scopes
    .map((scope): RealDelta => ({book: 'real', scope, unit: r.reserved.unit, add: {reserved: -held(scope)}}))
    .filter((d) => d.add!.reserved !== 0)
}
