// Named collections of JSON docs (events, webhooks, policies, counters …) for the embedded store's
// in-memory state. Pure: callers pass the time. The Redis apply script mirrors these rules.
import type {DocCondition, DocListOptions, DocWrite, StoredDoc, TxResult} from './types.js'

type Failure = Extract<TxResult, {ok: false}>

const DEFAULT_LIST_LIMIT = 100

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
  for (const [field, by] of Object.entries(w.add ?? {})) {
    const v = value[field]
    value[field] = (typeof v === 'number' ? v : 0) + by
  }
  const expires = w.expires_at_ms ?? current?.expires_at_ms
  const doc: StoredDoc = {collection: w.collection, id: w.id, version: (current?.version ?? 0) + 1, value}
  if (expires !== undefined) doc.expires_at_ms = expires
  return doc
}

export class DocCollections {
  private readonly collections = new Map<string, Map<string, StoredDoc>>()

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
      docs?.delete(id)
      return
    }
    if (!docs) this.collections.set(collection, (docs = new Map()))
    docs.set(id, doc)
  }

  list(collection: string, options: DocListOptions, nowMs: number): StoredDoc[] {
    const docs = this.collections.get(collection)
    if (!docs) return []
    const {prefix, after, descending = false, limit = DEFAULT_LIST_LIMIT} = options
    const ids = [...docs.keys()].filter((id) => (prefix === undefined || id.startsWith(prefix)) && (after === undefined || (descending ? id < after : id > after)))
    ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    if (descending) ids.reverse()
    const out: StoredDoc[] = []
    for (const id of ids) {
      const doc = this.get(collection, id, nowMs)
      if (doc) out.push(doc)
      if (out.length >= limit) break
    }
    return out
  }

  prune(nowMs: number): void {
    for (const docs of this.collections.values()) {
      for (const [id, doc] of docs) if (doc.expires_at_ms !== undefined && doc.expires_at_ms <= nowMs) docs.delete(id)
    }
  }

  *all(): IterableIterator<StoredDoc> {
    for (const docs of this.collections.values()) yield* docs.values()
  }

  restore(docs: readonly StoredDoc[]): void {
    this.collections.clear()
    for (const d of docs) this.put(d.collection, d.id, d)
  }
}
