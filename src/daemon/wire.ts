// Wire shapes of the runtime plane's responses: balances, reservation summaries, paging.
import {invalid} from '../protocol/errors.js'
import {leafSegment} from '../protocol/scope.js'
import type {BalanceWire, Ledger, Reservation} from '../protocol/types.js'
import {decodeCursor} from '../store/filters.js'

export const SHADOW_DECISION_HEADER = 'X-Cycles-Shadow-Decision'
export const SHADOW_REASON_HEADER = 'X-Cycles-Shadow-Reason'

/**
 * Response headers for a would-be denial of shadowed traffic (diagnostics never go in the body). An
 * enforced request already got the real answer, so it carries none.
 */
export function shadowHeaders(facts: {mode?: string; would_decision?: string; would_reason_code?: string}): Record<string, string> | undefined {
  if (facts.mode !== 'shadow' || facts.would_decision !== 'DENY') return undefined
  return {[SHADOW_DECISION_HEADER]: 'DENY', ...(facts.would_reason_code ? {[SHADOW_REASON_HEADER]: facts.would_reason_code} : {})}
}

// Ledgers are immutable values (every change makes a new object), so a ledger's wire JSON can be
// cached on the object itself: dry-runs against an unchanged budget serialize nothing twice.
const balanceJsonCache = new WeakMap<Ledger, string>()

/** JSON of `body` with a `balances` array of the given ledgers (omitted when there are none). */
export function jsonWithBalances(body: Record<string, unknown>, ledgers: Array<Ledger | undefined>): string {
  const head = JSON.stringify(body)
  let balances = ''
  for (const l of ledgers) {
    if (!l) continue
    let json = balanceJsonCache.get(l)
    if (json === undefined) {
      json = JSON.stringify(balancesOf([l])[0])
      balanceJsonCache.set(l, json)
    }
    balances += (balances === '' ? '' : ',') + json
  }
  if (balances === '') return head
  return `${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"balances":[${balances}]}`
}

/** Balance on the wire: leaf `scope`, full `scope_path`; debt/overdraft only when > 0, is_over_limit only when true. */
export function balancesOf(ledgers: Array<Ledger | undefined>): BalanceWire[] {
  const out: BalanceWire[] = []
  for (const l of ledgers) {
    if (!l) continue
    const amt = (amount: number) => ({unit: l.unit, amount})
    const b: BalanceWire = {
      scope: leafSegment(l.scope),
      scope_path: l.scope,
      remaining: amt(l.remaining),
      reserved: amt(l.reserved),
      spent: amt(l.spent),
      allocated: amt(l.allocated),
    }
    if (l.debt > 0) b.debt = amt(l.debt)
    if (l.overdraft_limit > 0) b.overdraft_limit = amt(l.overdraft_limit)
    if (l.is_over_limit) b.is_over_limit = true
    out.push(b)
  }
  return out
}

export function summaryOf(r: Reservation): Record<string, unknown> {
  const s: Record<string, unknown> = {
    reservation_id: r.reservation_id,
    status: r.status,
    idempotency_key: r.idempotency_key,
    subject: r.subject,
    action: r.action,
    reserved: r.reserved,
    created_at_ms: r.created_at_ms,
    expires_at_ms: r.expires_at_ms,
    scope_path: r.scope_path,
    affected_scopes: r.affected_scopes,
  }
  if (r.finalized_at_ms !== undefined) s.finalized_at_ms = r.finalized_at_ms
  if (r.committed) s.committed = r.committed
  return s
}

export function parseLimit(raw: string | null): number {
  if (raw === null || raw === '') return 50
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > 200) throw invalid('Validation failed: limit: expected an integer from 1 to 200')
  return n
}

/** Offset from a `cursor` query parameter (0 when absent); 400 when it is not one of ours. */
export function cursorOffset(raw: string | null): number {
  if (!raw) return 0
  const n = decodeCursor(raw)
  if (n === undefined) throw invalid('Validation failed: cursor: not a cursor returned by this server')
  return n
}
