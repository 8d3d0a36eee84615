// The Redis store's listing reads (admin and list endpoints, the expiry sweep): plain commands
// outside the group commit, each taking the connection and the key layout.
import type {Redis} from 'ioredis'

import type {ApiKey, Book, Ledger, Reservation, Tenant, Unit} from '../../protocol/types.js'
import {UNITS} from '../../protocol/types.js'
import {auditMatches, compareLedgers, decodeCursor, ledgerMatches, newestFirst, paginate, reservationMatches} from '../filters.js'
import type {AuditEntry, AuditFilter, LedgerFilter, ReservationFilter} from '../types.js'
import {RESERVATION_UPDATE_FIELD} from './apply-script.js'
import {hashToLedger, parseJson, reservationFromHash} from './codec.js'
import type {KeyLayout} from './keys.js'

export async function listTenants(redis: Redis, keys: KeyLayout): Promise<Tenant[]> {
  const ids = await redis.smembers(keys.tenantIndex())
  if (ids.length === 0) return []
  const values = await redis.mget(ids.map((id) => keys.tenant(id)))
  return values.map((v) => parseJson<Tenant>(v)).filter((t): t is Tenant => t !== undefined)
}

export async function listApiKeys(redis: Redis, keys: KeyLayout, tenantId?: string): Promise<ApiKey[]> {
  const ids = await redis.smembers(keys.apiKeyIndex())
  if (ids.length === 0) return []
  const values = await redis.mget(ids.map((id) => keys.apiKey(id)))
  return values
    .map((v) => parseJson<ApiKey>(v))
    .filter((a): a is ApiKey => a !== undefined && (!tenantId || a.tenant_id === tenantId))
    .sort((a, b) => a.created_at_ms - b.created_at_ms || a.key_id.localeCompare(b.key_id))
}

export async function unitsAt(redis: Redis, keys: KeyLayout, book: Book, scopes: readonly string[]): Promise<Array<{scope: string; units: Unit[]}>> {
  const probes = await Promise.all(scopes.map((s) => Promise.all(UNITS.map((u) => redis.exists(keys.ledger(book, s, u))))))
  return scopes.map((scope, i) => ({scope, units: UNITS.filter((_, j) => probes[i][j] === 1)}))
}

export async function listLedgers(redis: Redis, keys: KeyLayout, book: Book, filter: LedgerFilter): Promise<Ledger[]> {
  const members = await redis.smembers(keys.ledgerIndex(book))
  const wanted = members
    .map((m) => {
      const bar = m.lastIndexOf('|')
      return {scope: m.slice(0, bar), unit: m.slice(bar + 1) as Unit}
    })
    .filter((m) => ledgerMatches(m as Ledger, filter))
  const hashes = await Promise.all(wanted.map((m) => redis.hgetall(keys.ledger(book, m.scope, m.unit))))
  const out: Ledger[] = []
  hashes.forEach((h, i) => {
    const l = hashToLedger(h, wanted[i].scope, wanted[i].unit)
    if (l) out.push(l)
  })
  return out.sort(compareLedgers)
}

/**
 * Newest first (ties by id), the same order and offset cursors as the embedded store. Walks the
 * created-at index in chunks, never splitting a group of equal timestamps across chunks.
 */
export async function listReservations(redis: Redis, keys: KeyLayout, filter: ReservationFilter): Promise<{reservations: Reservation[]; next_cursor?: string}> {
  const limit = filter.limit ?? 50
  const start = filter.cursor ? (decodeCursor(filter.cursor) ?? 0) : 0
  const need = start + limit + 1
  const indexKey = keys.reservationIndex(filter.tenant)
  const matches: Reservation[] = []
  const CHUNK = 256
  let max = '+inf'
  while (matches.length < need) {
    const flat = await redis.zrevrangebyscore(indexKey, max, '-inf', 'WITHSCORES', 'LIMIT', 0, CHUNK)
    if (flat.length === 0) break
    let pairs: Array<{id: string; score: number}> = []
    for (let i = 0; i < flat.length; i += 2) pairs.push({id: flat[i], score: Number(flat[i + 1])})
    let done = false
    if (pairs.length < CHUNK) done = true
    else {
      const lowest = pairs[pairs.length - 1].score
      if (pairs[0].score === lowest) {
        const all = await redis.zrangebyscore(indexKey, lowest, lowest)
        pairs = all.map((id) => ({id, score: lowest}))
        max = `(${lowest}`
      } else {
        pairs = pairs.filter((p) => p.score > lowest)
        max = String(lowest)
      }
    }
    pairs.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id))
    const values = await Promise.all(pairs.map((p) => redis.hmget(keys.reservation(p.id), 'cycles_json', RESERVATION_UPDATE_FIELD)))
    const gone: string[] = []
    values.forEach((v, i) => {
      const r = reservationFromHash(v)
      if (!r) gone.push(pairs[i].id)
      else if (reservationMatches(r, filter)) matches.push(r)
    })
    if (gone.length > 0) void redis.zrem(indexKey, ...gone).catch(() => {})
    if (done) break
  }
  const {page, next_cursor} = paginate(matches, limit, filter.cursor)
  return {reservations: page, next_cursor}
}

export async function dueForExpiry(redis: Redis, keys: KeyLayout, nowMs: number, limit: number): Promise<Reservation[]> {
  const ids = await redis.zrangebyscore(keys.reservationTtl(), '-inf', `(${nowMs}`, 'LIMIT', 0, limit)
  if (ids.length === 0) return []
  const values = await Promise.all(ids.map((id) => redis.hmget(keys.reservation(id), 'cycles_json', RESERVATION_UPDATE_FIELD)))
  const out: Reservation[] = []
  const stale: string[] = []
  values.forEach((v, i) => {
    const r = reservationFromHash(v)
    if (r && r.status === 'ACTIVE' && r.expires_at_ms + r.grace_period_ms < nowMs) out.push(r)
    else if (!r || r.status !== 'ACTIVE') stale.push(ids[i])
  })
  if (stale.length > 0) void redis.zrem(keys.reservationTtl(), ...stale).catch(() => {})
  return out
}

export async function listAudit(redis: Redis, keys: KeyLayout, filter: AuditFilter): Promise<{entries: AuditEntry[]; next_cursor?: string}> {
  const limit = filter.limit ?? 50
  const start = filter.cursor ? (decodeCursor(filter.cursor) ?? 0) : 0
  const need = start + limit + 1
  // The first `need` matches of each class, newest first, merged: the merged first `need` are among them.
  const [writes, failures] = await Promise.all([newestMatches(redis, keys.audit(), filter, need), newestMatches(redis, keys.auditFailures(), filter, need)])
  const {page, next_cursor} = paginate(newestFirst(writes, failures), limit, filter.cursor)
  return {entries: page, next_cursor}
}

/** Up to `need` rows of one audit list that match, newest first (walking from the tail in chunks). */
async function newestMatches(redis: Redis, key: string, filter: AuditFilter, need: number): Promise<AuditEntry[]> {
  const total = await redis.llen(key)
  const matches: AuditEntry[] = []
  const CHUNK = 500
  for (let end = total - 1; end >= 0 && matches.length < need; end -= CHUNK) {
    const from = Math.max(0, end - CHUNK + 1)
    const chunk = await redis.lrange(key, from, end)
    for (let i = chunk.length - 1; i >= 0; i--) {
      const e = parseJson<AuditEntry>(chunk[i])
      if (e && auditMatches(e, filter)) matches.push(e)
    }
  }
  return matches
}
