// The overview's event figures (GET /v1/admin/overview): events per category within the window and
// the latest reservation.expired events, read from the `events` collection newest first. Bounded:
// at most MAX_COUNTED events are looked at per call (a busier hour is counted up to that many).
import type {Store} from '../store/types.js'
import {type CyclesEvent, EVENTS_COLLECTION, eventIdFloor} from './event.js'

export const MAX_COUNTED = 20_000
const CHUNK = 1000

export interface RecentEvents {
  total_recent: number
  by_category: Record<string, number>
  recent_expiries: CyclesEvent[]
  /** More events in the window than were counted. */
  truncated: boolean
}

export async function recentEvents(store: Store, sinceMs: number): Promise<RecentEvents> {
  const floor = eventIdFloor(sinceMs)
  const out: RecentEvents = {total_recent: 0, by_category: {}, recent_expiries: [], truncated: false}
  let after: string | undefined
  while (out.total_recent < MAX_COUNTED) {
    const docs = await store.listDocs(EVENTS_COLLECTION, {descending: true, limit: CHUNK, ...(after ? {after} : {})})
    for (const doc of docs) {
      if (doc.id < floor) return out
      const e = doc.value as unknown as CyclesEvent
      out.total_recent++
      out.by_category[e.category] = (out.by_category[e.category] ?? 0) + 1
      if (e.event_type === 'reservation.expired' && out.recent_expiries.length < 10) out.recent_expiries.push(e)
      after = doc.id
    }
    if (docs.length < CHUNK) return out
  }
  out.truncated = true
  return out
}
