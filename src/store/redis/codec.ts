// Encodings between the store's domain objects and Redis values. Ledgers are hashes with the
// reference field names; reservations are hashes with the reference fields plus `cycles_json`, the
// full record as created, and after a transition `cycles_update_json`, the fields that can change
// (this store reads the two back together); idempotency records are their JSON header, a newline and
// the body verbatim; tenants, API keys and audit entries are JSON.
import type {Ledger, Reservation, Unit} from '../../protocol/types.js'
import type {IdempotencyRecord, LedgerDelta} from '../types.js'
import {RESERVATION_UPDATE_FIELD} from './apply-script.js'

export function ledgerToHash(l: Ledger): string[] {
  const f: string[] = [
    'scope', l.scope,
    'unit', l.unit,
    'allocated', String(l.allocated),
    'remaining', String(l.allocated - l.spent - l.reserved - l.debt),
    'reserved', String(l.reserved),
    'spent', String(l.spent),
    'debt', String(l.debt),
    'overdraft_limit', String(l.overdraft_limit),
    'is_over_limit', l.is_over_limit ? 'true' : 'false',
    'status', l.status,
  ]
  if (l.caps) f.push('caps_json', JSON.stringify(l.caps))
  if (l.commit_overage_policy) f.push('commit_overage_policy', l.commit_overage_policy)
  if (l.created_at_ms !== undefined) f.push('created_at_ms', String(l.created_at_ms))
  if (l.updated_at_ms !== undefined) f.push('updated_at_ms', String(l.updated_at_ms))
  return f
}

/** A ledger hash (HGETALL) back to a Ledger; undefined when the hash is empty (no ledger). */
export function hashToLedger(h: Record<string, string> | null | undefined, scope: string, unit: Unit): Ledger | undefined {
  if (!h || Object.keys(h).length === 0) return undefined
  const n = (field: string) => (h[field] === undefined || h[field] === '' ? 0 : Number(h[field]))
  const allocated = n('allocated')
  const spent = n('spent')
  const reserved = n('reserved')
  const debt = n('debt')
  const ledger: Ledger = {
    scope: h.scope || scope,
    unit: (h.unit as Unit) || unit,
    allocated,
    remaining: h.remaining === undefined ? allocated - spent - reserved - debt : Number(h.remaining),
    reserved,
    spent,
    debt,
    overdraft_limit: n('overdraft_limit'),
    is_over_limit: h.is_over_limit === 'true',
    status: (h.status as Ledger['status']) || 'ACTIVE',
  }
  if (h.caps_json) ledger.caps = JSON.parse(h.caps_json)
  if (h.commit_overage_policy) ledger.commit_overage_policy = h.commit_overage_policy as Ledger['commit_overage_policy']
  if (h.created_at_ms !== undefined) ledger.created_at_ms = Number(h.created_at_ms)
  if (h.updated_at_ms !== undefined) ledger.updated_at_ms = Number(h.updated_at_ms)
  return ledger
}

/**
 * A delta's `set` split for the script: numeric counters that feed `remaining` (allocated, spent,
 * debt) and flag fields written as hash strings (null = delete the field).
 */
export function encodeSet(set: LedgerDelta['set']): {counters?: Record<string, number>; flags?: Array<[string, string | null]>} {
  if (!set) return {}
  const counters: Record<string, number> = {}
  const flags: Array<[string, string | null]> = []
  for (const [field, value] of Object.entries(set)) {
    switch (field) {
      case 'allocated':
      case 'spent':
      case 'debt':
        if (typeof value === 'number') counters[field] = value
        break
      case 'is_over_limit':
        flags.push(['is_over_limit', value ? 'true' : 'false'])
        break
      case 'overdraft_limit':
        flags.push(['overdraft_limit', value === undefined ? '0' : String(value)])
        break
      case 'caps':
        flags.push(['caps_json', value === undefined || value === null ? null : JSON.stringify(value)])
        break
      case 'status':
      case 'commit_overage_policy':
        flags.push([field, value === undefined || value === null ? null : String(value)])
        break
      default:
        break
    }
  }
  return {
    ...(Object.keys(counters).length > 0 ? {counters} : {}),
    ...(flags.length > 0 ? {flags} : {}),
  }
}

/**
 * Reservation fields that never change after creation: a transition (commit, release, extend,
 * expiry) writes neither their reference fields nor their values again (see reservationToHash).
 */
const CREATION_ONLY = new Set<string>([
  'reservation_id',
  'tenant',
  'subject',
  'action',
  'reserved',
  'scope_path',
  'affected_scopes',
  'real_scopes',
  'shadow_scopes',
  'idempotency_key',
  'overage_policy',
  'created_at_ms',
  'grace_period_ms',
  'max_extensions',
  'metadata',
  'run_id',
  'parent_run_id',
])

/**
 * Reference reservation fields plus `cycles_json`, the complete record at creation. With `full`
 * false (a transition of a reservation this store already holds: commit, release, extend, expiry)
 * only the fields that can change after creation are written: the reference ones and
 * `cycles_update_json`, every field of the record except the creation-only ones (which stay in
 * cycles_json); reservationFromHash puts the two together again.
 */
export function reservationToHash(r: Reservation, full = true): string[] {
  let f: string[]
  if (full) {
    f = [
      'reservation_id', r.reservation_id,
      'tenant', r.tenant,
      'state', r.status,
      'subject_json', JSON.stringify(r.subject),
      'action_json', JSON.stringify(r.action),
      'estimate_amount', String(r.reserved.amount),
      'estimate_unit', r.reserved.unit,
      'scope_path', r.scope_path,
      'affected_scopes', JSON.stringify(r.affected_scopes),
      'budgeted_scopes', JSON.stringify(r.real_scopes),
      'created_at', String(r.created_at_ms),
      'expires_at', String(r.expires_at_ms),
      'grace_ms', String(r.grace_period_ms),
      'idempotency_key', r.idempotency_key,
      'overage_policy', r.overage_policy,
      'max_extensions', String(r.max_extensions),
      'extension_count', String(r.extension_count),
      'cycles_json', JSON.stringify(r),
    ]
    if (r.metadata) f.push('metadata_json', JSON.stringify(r.metadata))
  } else {
    const changed: Record<string, unknown> = {}
    for (const key in r) {
      if (!CREATION_ONLY.has(key)) changed[key] = (r as unknown as Record<string, unknown>)[key]
    }
    f = ['state', r.status, 'expires_at', String(r.expires_at_ms), 'extension_count', String(r.extension_count), RESERVATION_UPDATE_FIELD, JSON.stringify(changed)]
  }
  if (r.finalized_at_ms !== undefined) {
    const at = r.status === 'COMMITTED' ? 'committed_at' : r.status === 'RELEASED' ? 'released_at' : 'expired_at'
    f.push(at, String(r.finalized_at_ms))
  }
  if (r.committed) f.push('charged_amount', String(r.committed.amount))
  return f
}

/**
 * The record from `cycles_json` and `cycles_update_json` (HMGET, in that order): the creation-only
 * fields from the first, everything else from the second when there is one; key order as created.
 */
export function reservationFromHash(v: unknown): Reservation | undefined {
  if (!Array.isArray(v)) return undefined
  const [base, update] = v as Array<string | null | undefined>
  if (!base) return undefined
  const created = JSON.parse(base) as Record<string, unknown>
  if (!update) return created as unknown as Reservation
  const changed = JSON.parse(update) as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const key in created) {
    if (CREATION_ONLY.has(key)) out[key] = created[key]
    else if (key in changed) out[key] = changed[key]
  }
  for (const key in changed) if (!(key in out)) out[key] = changed[key]
  return out as unknown as Reservation
}

/**
 * An idempotency record as stored: its JSON without the body, a newline, then the body verbatim (it
 * is itself JSON and would otherwise be escaped into a string). JSON.stringify never writes a raw
 * newline, so the first one ends the header.
 */
export function encodeIdempotency(record: IdempotencyRecord): string {
  const {body, ...rest} = record
  return `${JSON.stringify(rest)}\n${body}`
}

/** Either form: header + newline + body, or (as written before) the whole record as JSON. */
export function decodeIdempotency(value: string | null | undefined): IdempotencyRecord | undefined {
  if (value === null || value === undefined || value === '') return undefined
  const nl = value.indexOf('\n')
  if (nl < 0) return JSON.parse(value) as IdempotencyRecord
  const record = JSON.parse(value.slice(0, nl)) as IdempotencyRecord
  record.body = value.slice(nl + 1)
  return record
}

/**
 * HMGET of LEDGER_FIELDS (apply-script.ts), in that order, back to a Ledger; undefined when every
 * field is absent (no ledger). Same result as hashToLedger on the whole hash. A transaction's
 * post-state comes in the same order with the counters as integers (Number() takes either).
 */
export function valuesToLedger(v: unknown, scope: string, unit: Unit): Ledger | undefined {
  if (!Array.isArray(v)) return undefined
  const s = v as Array<string | null>
  let any = false
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== null && s[i] !== undefined) {
      any = true
      break
    }
  }
  if (!any) return undefined
  const n = (x: string | null) => (x === null || x === undefined || x === '' ? 0 : Number(x))
  const allocated = n(s[2])
  const spent = n(s[5])
  const reserved = n(s[4])
  const debt = n(s[6])
  const ledger: Ledger = {
    scope: s[0] || scope,
    unit: (s[1] as Unit) || unit,
    allocated,
    remaining: s[3] === null || s[3] === undefined ? allocated - spent - reserved - debt : Number(s[3]),
    reserved,
    spent,
    debt,
    overdraft_limit: n(s[7]),
    is_over_limit: s[8] === 'true',
    status: (s[9] as Ledger['status']) || 'ACTIVE',
  }
  if (s[10]) ledger.caps = JSON.parse(s[10])
  if (s[11]) ledger.commit_overage_policy = s[11] as Ledger['commit_overage_policy']
  if (s[12] !== null && s[12] !== undefined) ledger.created_at_ms = Number(s[12])
  if (s[13] !== null && s[13] !== undefined) ledger.updated_at_ms = Number(s[13])
  return ledger
}

/** A JSON value stored as a string; undefined when absent or empty. */
export function parseJson<T>(value: string | null | undefined): T | undefined {
  if (value === null || value === undefined || value === '') return undefined
  return JSON.parse(value) as T
}
