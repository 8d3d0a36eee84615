// Named collections of JSON docs (events, webhooks, policies, counters …) for the embedded store's
// in-memory state. Pure: callers pass the time. The Redis apply script mirrors these rules.
import type {DocCondition, DocListOptions, DocWrite, StoredDoc, TxResult} from './types.js'

type Failure = Extract<TxResult, {ok: false}>

const DEFAULT_LIST_LIMIT = 100
const OPS = new Set(['lt', 'lte', 'gte', 'eq'])

/**
 * Why a transaction's doc part cannot be applied, or undefined. Both stores refuse such a
 * transaction (TypeError) before anything is written: a NaN or infinite number would be journaled
 * as null, and the embedded store would then refuse its own journal on the next start.
 */
export function docInputProblem(conditions: readonly DocCondition[] | undefined, writes: readonly DocWrite[] | undefined): string | undefined {
  for (const c of conditions ?? []) {
    if (!OPS.has(c.op)) return `doc condition on ${c.collection}/${c.id}: op must be lt, lte, gte or eq, not ${String(c.op)}`
    if (!Number.isFinite(c.value)) return `doc condition on ${c.collection}/${c.id}: value is not a finite number`
  }
  for (const w of writes ?? []) {
    // for-in, not Object.entries: this runs for every counter write on the hot path.
    for (const field in w.add) {
      if (!Number.isFinite(w.add[field])) return `doc ${w.collection}/${w.id}: add.${field} is not a finite number`
    }
    if (w.expires_at_ms !== undefined && !Number.isFinite(w.expires_at_ms)) return `doc ${w.collection}/${w.id}: expires_at_ms is not a finite number`
    if (w.expectVersion !== undefined && !Number.isSafeInteger(w.expectVersion)) return `doc ${w.collection}/${w.id}: expectVersion is not an integer`
  }
  return undefined
}

export function docFieldValue(doc: StoredDoc | undefined, field: string): number {
  const v = doc?.value[field]
  return typeof v === 'number' ? v : 0
}

export function docConditionHolds(doc: StoredDoc | undefined, c: DocCondition): boolean {
  const v = docFieldValue(doc, c.field)
  switch (c.op) {
    case 'lt':
      return v < c.value
    case 'lte':
      return v <= c.value
    case 'gte':
      return v >= c.value
    case 'eq':
      return v === c.value
  }
}

/** The doc after one write (undefined: deleted). `current` is the live doc, already filtered for expiry. */
export function nextDoc(current: StoredDoc | undefined, w: DocWrite): StoredDoc | undefined {
  if (w.delete) return undefined
  const value: Record<string, unknown> = w.set ? {...w.set} : {...(current?.value ?? {})}
  const add = w.add
  for (const field in add) {
    const v = value[field]
    value[field] = (typeof v === 'number' ? v : 0) + add[field]
  }
  const expires = w.expires_at_ms ?? current?.expires_at_ms
  const doc: StoredDoc = {collection: w.collection, id: w.id, version: (current?.version ?? 0) + 1, value}
  if (expires !== undefined) doc.expires_at_ms = expires
  return doc
}

/**
 * Byte order of the ids' UTF-8 (the order of Redis' ZRANGEBYLEX), which is code point order. JS
 * compares UTF-16 code units, which differs only where a surrogate (an astral character) meets a
 * unit of U+E000..U+FFFF: there the surrogate must sort higher.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  let i = 0
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++
  if (i === n) return a.length - b.length
  const x = a.charCodeAt(i)
  const y = b.charCodeAt(i)
  if (x < 0xd800 || y < 0xd800) return x - y
  // Surrogates (D800..DFFF) above E000..FFFF.
  return (x >= 0xe000 ? x - 0x800 : x + 0x2000) - (y >= 0xe000 ? y - 0x800 : y + 0x2000)
}

/** Index of the first id in `ids` (sorted) that is not before `id`. */
function lowerBound(ids: readonly string[], id: string): number {
  let lo = 0
  let hi = ids.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareIds(ids[mid], id) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

export class DocCollections {
  private readonly collections = new Map<string, Map<string, StoredDoc>>()
  /**
   * Per collection, its ids in order, built by the first listing and then kept up to date by every
   * create and delete: a listing (webhooks poll the events collection) costs a binary search and its
   * page, not a sort of the whole collection.
   */
  private readonly ordered = new Map<string, string[]>()

  get(collection: string, id: string, nowMs: number): StoredDoc | undefined {
    const doc = this.collections.get(collection)?.get(id)
    return doc && (doc.expires_at_ms === undefined || doc.expires_at_ms > nowMs) ? doc : undefined
  }

  /** The first failed condition or version expectation of a transaction, checked before anything is written. */
  check(conditions: readonly DocCondition[] | undefined, writes: readonly DocWrite[] | undefined, nowMs: number): Failure | undefined {
    for (const c of conditions ?? []) {
      if (!docConditionHolds(this.get(c.collection, c.id, nowMs), c)) {
        return {ok: false, failed: 'condition', detail: `doc:${c.collection}/${c.id} ${c.field} ${c.op} ${c.value}`}
      }
    }
    for (const w of writes ?? []) {
      if (w.expectVersion === undefined) continue
      const version = this.get(w.collection, w.id, nowMs)?.version ?? 0
      if (version !== w.expectVersion) return {ok: false, failed: 'doc', detail: `${w.collection}/${w.id}`}
    }
    return undefined
  }

  apply(writes: readonly DocWrite[], nowMs: number): void {
    for (const w of writes) this.put(w.collection, w.id, nextDoc(this.get(w.collection, w.id, nowMs), w))
  }

  private put(collection: string, id: string, doc: StoredDoc | undefined): void {
    let docs = this.collections.get(collection)
    if (!doc) {
      if (docs?.delete(id)) this.unlist(collection, id)
      return
    }
    if (!docs) this.collections.set(collection, (docs = new Map()))
    const created = !docs.has(id)
    docs.set(id, doc)
    if (!created) return
    const ids = this.ordered.get(collection)
    if (!ids) return
    // Time-ordered ids (events) arrive in order: append without a search.
    if (ids.length === 0 || compareIds(ids[ids.length - 1], id) < 0) ids.push(id)
    else ids.splice(lowerBound(ids, id), 0, id)
  }

  private unlist(collection: string, id: string): void {
    const ids = this.ordered.get(collection)
    if (!ids) return
    const at = lowerBound(ids, id)
    if (ids[at] === id) ids.splice(at, 1)
  }

  private idsOf(collection: string, docs: Map<string, StoredDoc>): string[] {
    let ids = this.ordered.get(collection)
    if (!ids) {
      ids = [...docs.keys()].sort(compareIds)
      this.ordered.set(collection, ids)
    }
    return ids
  }

  list(collection: string, options: DocListOptions, nowMs: number): StoredDoc[] {
    const docs = this.collections.get(collection)
    const {prefix = '', after, descending = false, limit = DEFAULT_LIST_LIMIT} = options
    if (!docs || limit <= 0) return []
    const ids = this.idsOf(collection, docs)
    const out: StoredDoc[] = []
    const take = (id: string): boolean => {
      if (!id.startsWith(prefix)) return false
      const doc = this.get(collection, id, nowMs)
      if (doc) out.push(doc)
      return out.length < limit
    }
    if (!descending) {
      let i = lowerBound(ids, after !== undefined && compareIds(after, prefix) >= 0 ? after : prefix)
      if (i < ids.length && ids[i] === after) i++
      // Ids with the prefix are contiguous: stop at the first one without it.
      for (; i < ids.length && take(ids[i]); i++);
      return out
    }
    // Descending: from the last id before `after` (or the end) and within the prefix's range, down
    // while ids keep the prefix.
    let i = (after === undefined ? ids.length : lowerBound(ids, after)) - 1
    if (prefix) {
      let end = lowerBound(ids, `${prefix}\u{10FFFF}`)
      while (end < ids.length && ids[end].startsWith(prefix)) end++
      i = Math.min(i, end - 1)
    }
    for (; i >= 0 && take(ids[i]); i--);
    return out
  }

  prune(nowMs: number): void {
    for (const [collection, docs] of this.collections) {
      for (const [id, doc] of docs) {
        if (doc.expires_at_ms !== undefined && doc.expires_at_ms <= nowMs) {
          docs.delete(id)
          this.unlist(collection, id)
        }
      }
    }
  }

  *all(): IterableIterator<StoredDoc> {
    for (const docs of this.collections.values()) yield* docs.values()
  }

  restore(docs: readonly StoredDoc[]): void {
    this.collections.clear()
    this.ordered.clear()
    for (const d of docs) this.put(d.collection, d.id, d)
  }
}
