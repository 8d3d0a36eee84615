// Query filters and cursors shared by every store, so listings mean the same in each.
import type {Ledger, Reservation} from '../protocol/types.js'
import type {AuditEntry, AuditFilter, LedgerFilter, ReservationFilter} from './types.js'

export function ledgerMatches(l: Ledger, f: LedgerFilter): boolean {
  if (f.unit && l.unit !== f.unit) return false
  if (f.tenant && !l.scope.split('/').includes(`tenant:${f.tenant.toLowerCase()}`)) return false
  if (f.scopePrefix && !l.scope.startsWith(f.scopePrefix)) return false
  if (f.segments) {
    const segments = l.scope.split('/')
    if (!f.segments.every((s) => segments.includes(s))) return false
  }
  return true
}

export function reservationMatches(r: Reservation, f: ReservationFilter): boolean {
  if (f.tenant && r.tenant !== f.tenant) return false
  if (f.status && r.status !== f.status) return false
  if (f.idempotency_key && r.idempotency_key !== f.idempotency_key) return false
  if (f.scopeSegments) {
    const segments = r.scope_path.split('/')
    if (!f.scopeSegments.every((s) => segments.includes(s))) return false
  }
  return true
}

export function auditMatches(e: AuditEntry, f: AuditFilter): boolean {
  if (f.tenant_id && e.tenant_id !== f.tenant_id) return false
  if (f.key_id && e.key_id !== f.key_id) return false
  if (f.operation && e.operation !== f.operation) return false
  if (f.resource_type && e.resource_type !== f.resource_type) return false
  if (f.resource_id && e.resource_id !== f.resource_id) return false
  if (f.status !== undefined && e.status !== f.status) return false
  if (f.from_ms !== undefined && e.timestamp_ms < f.from_ms) return false
  if (f.to_ms !== undefined && e.timestamp_ms > f.to_ms) return false
  if (f.trace_id && e.trace_id !== f.trace_id) return false
  return true
}

/**
 * Audit retention (README "Audit"): two classes kept apart, so failed requests — however many —
 * never push a successful write's row out. Each class is kept for an age and capped at a count,
 * whichever bound is hit first; rows are about 0.5 KB, so the caps bound the store at ~100 MB of
 * write rows and ~25 MB of failure rows.
 */
export const AUDIT_RETENTION = {
  writes: {maxAgeMs: 400 * 86_400_000, maxRows: 200_000},
  failures: {maxAgeMs: 30 * 86_400_000, maxRows: 50_000},
}
export type AuditRetention = typeof AUDIT_RETENTION

/** A failed request's row (status ≥ 400, authenticated or aggregated unauthenticated) rather than a write's. */
export const isFailureRow = (e: AuditEntry): boolean => e.status >= 400

/** Newest first across both classes (stable: rows with one timestamp keep their order). */
export function newestFirst(writes: AuditEntry[], failures: AuditEntry[]): AuditEntry[] {
  return [...writes, ...failures].sort((a, b) => b.timestamp_ms - a.timestamp_ms)
}

/** Offset cursors: opaque base64url of the next offset. */
export function encodeCursor(offset: number): string {
  return Buffer.from(String(offset)).toString('base64url')
}

/** The offset in a cursor from encodeCursor; undefined when it is not one. */
export function decodeCursor(cursor: string): number | undefined {
  const n = Number.parseInt(Buffer.from(cursor, 'base64url').toString(), 10)
  return Number.isInteger(n) && n >= 0 ? n : undefined
}

export function paginate<T>(items: T[], limit: number, cursor?: string): {page: T[]; next_cursor?: string} {
  const start = cursor ? (decodeCursor(cursor) ?? 0) : 0
  const page = items.slice(start, start + limit)
  const next_cursor = start + limit < items.length ? encodeCursor(start + limit) : undefined
  return {page, next_cursor}
}

/** Listing order of ledgers: by scope path, then unit (plain code-unit order, no locale rules). */
export function compareLedgers(a: Ledger, b: Ledger): number {
  if (a.scope !== b.scope) return a.scope < b.scope ? -1 : 1
  return a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0
}
