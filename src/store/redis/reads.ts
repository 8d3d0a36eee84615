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

/** Where a page of reservations stopped: the last one returned (its created-at score and id). */
interface ReservationPosition {
  at: number
  id: string
}

/** Keyset cursor: opaque base64url of the position, so the next page resumes there. */
export function encodeReservationCursor(p: ReservationPosition): string {
  return Buffer.from(JSON.stringify([p.at, p.id])).toString('base64url')
}

/** The position in a cursor from encodeReservationCursor; undefined when it is not one (listing starts at the top). */
export function decodeReservationCursor(cursor: string): ReservationPosition | undefined {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown
    if (Array.isArray(v) && v.length === 2 && Number.isFinite(v[0]) && typeof v[1] === 'string') return {at: v[0] as number, id: v[1] as string}
  } catch {
    // not a cursor of this store
  }
  return undefined
}

/** Listing order within one created-at millisecond, the embedded store's. */
const byId = (a: string, b: string) => a.localeCompare(b)

/**
 * Newest first (ties by id), the embedded store's order, with keyset cursors: a page resumes right
 * after the last reservation of the previous one, so its reads do not grow with depth (about one
 * index read and one record read per reservation looked at). Walks the created-at index in chunks,
 * never splitting a group of equal timestamps across chunks.
 */
export async function listReservations(redis: Redis, keys: KeyLayout, filter: ReservationFilter): Promise<{reservations: Reservation[]; next_cursor?: string}> {
  const limit = filter.limit ?? 50
  const indexKey = keys.reservationIndex(filter.tenant)
  // One more than a page, to know whether there is a next one.
  const matches: Reservation[] = []
  /** Read the records of `ids` in order until a page and one more matched: as many at a time as are still wanted. */
  const take = async (ids: string[]) => {
    const gone: string[] = []
    for (let from = 0; from < ids.length && matches.length <= limit; ) {
      const piece = ids.slice(from, from + Math.max(8, limit + 1 - matches.length))
      from += piece.length
      const values = await Promise.all(piece.map((id) => redis.hmget(keys.reservation(id), 'cycles_json', RESERVATION_UPDATE_FIELD)))
      for (let i = 0; i < piece.length && matches.length <= limit; i++) {
        const r = reservationFromHash(values[i])
        if (!r) gone.push(piece[i])
        else if (reservationMatches(r, filter)) matches.push(r)
      }
    }
    if (gone.length > 0) void redis.zrem(indexKey, ...gone).catch(() => {})
  }
  const after = filter.cursor ? decodeReservationCursor(filter.cursor) : undefined
  // Exclusive upper bound of what is left to walk.
  let max = '+inf'
  if (after) {
    // The rest of the cursor's own group of equal timestamps, then everything older.
    const group = (await redis.zrangebyscore(indexKey, after.at, after.at)).sort(byId)
    await take(group.filter((id) => byId(id, after.id) > 0))
    max = `(${after.at}`
  }
  let chunk = Math.max(16, limit + 1)
  while (matches.length <= limit) {
    const flat = await redis.zrevrangebyscore(indexKey, max, '-inf', 'WITHSCORES', 'LIMIT', 0, chunk)
    if (flat.length === 0) break
    const pairs: Array<{id: string; at: number}> = []
    for (let i = 0; i < flat.length; i += 2) pairs.push({id: flat[i], at: Number(flat[i + 1])})
    const last = pairs.length < chunk
    let ids: string[]
    if (last) ids = ordered(pairs)
    else {
      const lowest = pairs[pairs.length - 1].at
      if (pairs[0].at === lowest) {
        // One group fills the chunk: read the whole group.
        ids = (await redis.zrangebyscore(indexKey, lowest, lowest)).sort(byId)
        max = `(${lowest}`
      } else {
        // The lowest group may go on past the chunk: leave it to the next read.
        ids = ordered(pairs.filter((p) => p.at > lowest))
        max = String(lowest)
      }
    }
    await take(ids)
    if (last) break
    // Filters that match little: look further per read.
    chunk = Math.min(chunk * 2, 1024)
  }
  const page = matches.slice(0, limit)
  const end = page[page.length - 1]
  const next_cursor = matches.length > limit && end ? encodeReservationCursor({at: end.created_at_ms, id: end.reservation_id}) : undefined
  return {reservations: page, next_cursor}
}

function ordered(pairs: Array<{id: string; at: number}>): string[] {
  return pairs.sort((a, b) => b.at - a.at || byId(a.id, b.id)).map((p) => p.id)
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
