// Reading events back: GET /v1/admin/events (every filter of the spec), GET /v1/admin/events/{id}
// and the tenant's GET /v1/events. Events are docs of the `events` collection whose ids sort by
// time, so a time window is an id range; the other filters are applied while scanning it, a bounded
// number of docs per request (a page can come back short, with a cursor to go on from).
import {payloadHash} from '../protocol/canonical-json.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {queryDate, queryEnum, queryLimit, querySearch} from '../admin/requests.js'
import type {Store} from '../store/types.js'
import {type CyclesEvent, EVENTS_COLLECTION, EVENT_CATEGORIES, eventIdFloor} from './event.js'

/** Docs looked at per request at most, whatever the filters (keeps one request's cost bounded). */
export const MAX_SCAN = 10_000
const CHUNK = 500
const EVENT_TYPE = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/
const TRACE_ID = /^[0-9a-f]{32}$/

export interface EventFilter {
  tenant_id?: string
  event_type?: string
  category?: string
  /** Prefix of the event's scope. */
  scope?: string
  correlation_id?: string
  trace_id?: string
  request_id?: string
  from_ms?: number
  to_ms?: number
  /** Lower-cased substring of correlation_id or scope. */
  search?: string
  sort_dir: 'asc' | 'desc'
  limit: number
}

export interface EventPage {
  events: CyclesEvent[]
  next_cursor?: string
  has_more: boolean
}

/** The admin route's filters; `tenantView` takes the self-service subset (no tenant_id, trace_id, request_id, search). */
export function eventFilterOf(query: URLSearchParams, tenantView = false): EventFilter {
  const text = (name: string): string | undefined => {
    const v = query.get(name)
    return v === null || v === '' ? undefined : v
  }
  const eventType = text('event_type')
  if (eventType !== undefined && !EVENT_TYPE.test(eventType)) throw invalid('Validation failed: event_type: expected {category}.{action}, e.g. budget.threshold_crossed')
  const category = queryEnum(query, 'category', EVENT_CATEGORIES)
  const traceId = tenantView ? undefined : text('trace_id')
  if (traceId !== undefined && !TRACE_ID.test(traceId)) throw invalid('Validation failed: trace_id: expected 32 lowercase hex characters')
  const sortBy = queryEnum(query, 'sort_by', ['event_type', 'category', 'scope', 'tenant_id', 'timestamp'] as const)
  if (sortBy !== undefined && sortBy !== 'timestamp') throw invalid(`Validation failed: sort_by: events are listed by timestamp only (got ${sortBy})`)
  const from = queryDate(query, 'from')
  const to = queryDate(query, 'to')
  if (from !== undefined && to !== undefined && from > to) throw invalid('Validation failed: from must be before to')
  const filter: EventFilter = {sort_dir: queryEnum(query, 'sort_dir', ['asc', 'desc'] as const) ?? 'desc', limit: queryLimit(query)}
  const set = <K extends keyof EventFilter>(k: K, v: EventFilter[K] | undefined) => {
    if (v !== undefined) filter[k] = v
  }
  if (!tenantView) {
    set('tenant_id', text('tenant_id'))
    set('trace_id', traceId)
    set('request_id', text('request_id'))
    set('search', querySearch(query))
  }
  set('event_type', eventType)
  set('category', category)
  set('scope', text('scope')?.toLowerCase())
  set('correlation_id', text('correlation_id'))
  set('from_ms', from)
  set('to_ms', to)
  return filter
}

function matches(e: CyclesEvent, f: EventFilter): boolean {
  if (f.tenant_id !== undefined && e.tenant_id !== f.tenant_id) return false
  if (f.event_type !== undefined && e.event_type !== f.event_type) return false
  if (f.category !== undefined && e.category !== f.category) return false
  if (f.scope !== undefined && !(e.scope ?? '').toLowerCase().startsWith(f.scope)) return false
  if (f.correlation_id !== undefined && e.correlation_id !== f.correlation_id) return false
  if (f.trace_id !== undefined && e.trace_id !== f.trace_id) return false
  if (f.request_id !== undefined && e.request_id !== f.request_id) return false
  if (f.search !== undefined && !(e.correlation_id ?? '').toLowerCase().includes(f.search) && !(e.scope ?? '').toLowerCase().includes(f.search)) return false
  return true
}

/**
 * One page of events, newest first by default. `visible` narrows further (the tenant view). The
 * cursor is bound to the filters it was issued for (another filter set with it is a 400).
 */
export async function listEvents(store: Store, filter: EventFilter, cursor: string | null, visible: (e: CyclesEvent) => boolean = () => true): Promise<EventPage> {
  const {limit, ...binding} = filter
  const tag = payloadHash(binding).slice(0, 12)
  const desc = filter.sort_dir === 'desc'
  // The id range of the time window: ids at `from` or later sort after eventIdFloor(from).
  const lowest = filter.from_ms === undefined ? undefined : eventIdFloor(filter.from_ms)
  const highest = filter.to_ms === undefined ? undefined : eventIdFloor(filter.to_ms + 1)
  let position = cursor ? decodeCursor(cursor, tag) : desc ? highest : lowest
  const out: CyclesEvent[] = []
  let scanned = 0
  let exhausted = false
  while (out.length < limit && scanned < MAX_SCAN) {
    const asked = Math.min(CHUNK, MAX_SCAN - scanned)
    const docs = await store.listDocs(EVENTS_COLLECTION, {descending: desc, ...(position ? {after: position} : {}), limit: asked})
    let stop = false
    let consumed = 0
    for (const doc of docs) {
      if (desc ? lowest !== undefined && doc.id < lowest : highest !== undefined && doc.id >= highest) {
        stop = true
        break
      }
      scanned++
      consumed++
      position = doc.id
      const e = doc.value as unknown as CyclesEvent
      if (matches(e, filter) && visible(e)) {
        out.push(e)
        if (out.length === limit) break
      }
    }
    // Past the window, or the collection ended inside this chunk: nothing further can match.
    if (stop || (docs.length < asked && consumed === docs.length)) {
      exhausted = true
      break
    }
  }
  // A full page may have nothing after it; one more look says whether to offer a cursor.
  const more = !exhausted && position !== undefined && (await anotherMatchPossible(store, desc, position, lowest, highest))
  return {events: out, has_more: more, ...(more ? {next_cursor: encodeCursor(position!, tag)} : {})}
}

async function anotherMatchPossible(store: Store, desc: boolean, position: string, lowest?: string, highest?: string): Promise<boolean> {
  const [next] = await store.listDocs(EVENTS_COLLECTION, {descending: desc, after: position, limit: 1})
  if (!next) return false
  return desc ? lowest === undefined || next.id >= lowest : highest === undefined || next.id < highest
}

export async function getEvent(store: Store, id: string): Promise<CyclesEvent> {
  const [doc] = id.length > 0 && id.length <= 128 ? await store.getDocs(EVENTS_COLLECTION, [id]) : [undefined]
  if (!doc) throw new ProtocolError('EVENT_NOT_FOUND', `Event not found: ${id}`)
  return doc.value as unknown as CyclesEvent
}

function encodeCursor(id: string, tag: string): string {
  return Buffer.from(JSON.stringify({a: id, f: tag})).toString('base64url')
}

function decodeCursor(cursor: string, tag: string): string {
  let decoded: {a?: unknown; f?: unknown}
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalid('Validation failed: cursor: not a cursor issued by this server; restart from page 1')
  }
  if (decoded.f !== tag || typeof decoded.a !== 'string') throw invalid('Validation failed: cursor: does not match these filters; restart without a cursor')
  return decoded.a
}
