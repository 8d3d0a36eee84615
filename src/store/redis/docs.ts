// Doc collections in the Redis store (the rules are doc-collections.ts'). Layout (keys.ts):
//   doc:{collection}:{id}       hash: `v` version, `x` expires_at_ms (when set), `.{field}` the JSON text
//                               of each top-level field of the value; PEXPIREAT at the expiry
//   doc-index:{collection}      zset, scores 0: the ids, for listing in byte order (ZRANGEBYLEX)
//   doc-expiry                  zset: `{collection}:{id}` scored by expires_at_ms, for the sweep
// One hash field per top-level field lets the apply script add to a counter with one HMGET and one
// HSET and no JSON in Lua (cjson would round numbers to 14 digits and turn [] into {}).
import type {Redis} from 'ioredis'

import {docInputProblem} from '../doc-collections.js'
import type {DocListOptions, StoredDoc, Tx} from '../types.js'
import type {KeyLayout} from './keys.js'

const DEFAULT_LIST_LIMIT = 100

/** One doc write in the script's plan (DOC_LUA in doc-script.ts reads it positionally). */
export type DocWritePlan = [
  /** doc key index */ number,
  /** id (the index member) */ string,
  /** index key index */ number,
  /** expected version, -1 = none */ number,
  /** delete 1/0 */ 0 | 1,
  /** ARGV index of the first `set` field name, 0 = no set */ number,
  /** number of `set` fields */ number,
  /** adds, flat: `.field`, amount; 0 = none */ Array<string | number> | 0,
  /** new expires_at_ms, 0 = keep */ number,
]

/**
 * A transaction's doc part: loads (per doc key, first touched first: key index, then the `.field`
 * names its conditions and adds read), conditions (flat: key index, `.field`, op, value) or 0, writes or 0.
 */
export type DocPlan = [Array<Array<number | string>>, Array<number | string> | 0, DocWritePlan[] | 0]

/** The doc part of a transaction's plan; `set` fields go to `extra` (ARGV) as name/JSON-text pairs. */
export function planDocs(tx: Tx, k: (name: string) => number, extra: string[], keys: KeyLayout): DocPlan {
  const problem = docInputProblem(tx.docConditions, tx.docs)
  if (problem) throw new TypeError(problem)
  const loads = new Map<number, Array<number | string>>()
  const load = (collection: string, id: string, field?: string): number => {
    const i = k(keys.doc(collection, id))
    let entry = loads.get(i)
    if (!entry) loads.set(i, (entry = [i]))
    if (field !== undefined && !entry.includes(field)) entry.push(field)
    return i
  }
  let conditions: Array<number | string> | 0 = 0
  if (tx.docConditions?.length) {
    conditions = []
    for (const c of tx.docConditions) {
      conditions.push(load(c.collection, c.id, `.${c.field}`), `.${c.field}`, c.op, c.value)
    }
  }
  let writes: DocWritePlan[] | 0 = 0
  if (tx.docs?.length) {
    writes = []
    for (const w of tx.docs) {
      const docKey = load(w.collection, w.id)
      let setAt = 0
      let setCount = 0
      let adds: Array<string | number> | 0 = 0
      if (!w.delete && w.set) {
        setAt = extra.length + 2
        for (const [field, value] of Object.entries(w.set)) {
          const text = JSON.stringify(value)
          if (text === undefined) continue // as JSON.stringify of the whole value would drop it
          extra.push(`.${field}`, text)
          setCount++
        }
      }
      if (!w.delete && w.add) {
        for (const [field, by] of Object.entries(w.add)) {
          ;(adds ||= []).push(`.${field}`, by)
          // The current value is needed unless `set` just replaced it.
          load(w.collection, w.id, `.${field}`)
        }
      }
      writes.push([docKey, w.id, k(keys.docIndex(w.collection)), w.expectVersion ?? -1, w.delete ? 1 : 0, setAt, setCount, adds, w.delete ? 0 : (w.expires_at_ms ?? 0)])
    }
  }
  return [[...loads.values()], conditions, writes]
}

/** A doc from its hash (HGETALL, as an object or flat), or undefined when absent or expired at `nowMs`. */
export function decodeDoc(collection: string, id: string, hash: Record<string, string> | unknown[] | null | undefined, nowMs: number): StoredDoc | undefined {
  if (!hash) return undefined
  let version: number | undefined
  let expires: number | undefined
  const value: Record<string, unknown> = {}
  const take = (name: string, text: string) => {
    if (name === 'v') version = Number(text)
    else if (name === 'x') expires = Number(text)
    // defineProperty: a field named __proto__ stays a field (as JSON.parse of the whole value keeps it).
    else if (name.startsWith('.')) Object.defineProperty(value, name.slice(1), {value: JSON.parse(text) as unknown, enumerable: true, writable: true, configurable: true})
  }
  if (Array.isArray(hash)) for (let i = 0; i + 1 < hash.length; i += 2) take(String(hash[i]), String(hash[i + 1]))
  else for (const name of Object.keys(hash)) take(name, hash[name])
  if (version === undefined || !(version > 0)) return undefined
  if (expires !== undefined && expires <= nowMs) return undefined
  const doc: StoredDoc = {collection, id, version, value}
  if (expires !== undefined) doc.expires_at_ms = expires
  return doc
}

/** Removes index members whose doc hash is gone, atomically (a doc created meanwhile keeps its member). KEYS[1] index; ARGV[1] doc key prefix, ARGV[2..] ids. */
const DROP_GONE_SCRIPT = `
local n = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then n = n + redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return n`

/** Greater than every UTF-8 string starting with `prefix` (no UTF-8 string holds the byte 0xff). */
const pastPrefix = (prefix: string) => Buffer.concat([Buffer.from(`(${prefix}`), Buffer.from([0xff])])

/**
 * A collection's live docs in byte order of their ids: ZRANGEBYLEX over the index in chunks, each
 * chunk's hashes read at once; members whose hash is gone (expired by Redis, or deleted) are dropped
 * from the index on the way.
 */
export async function listDocs(redis: Redis, keys: KeyLayout, collection: string, options: DocListOptions, nowMs: number): Promise<StoredDoc[]> {
  const {prefix, after, descending = false} = options
  const limit = options.limit ?? DEFAULT_LIST_LIMIT
  if (limit <= 0) return []
  const index = keys.docIndex(collection)
  // Bounds in ZRANGEBYLEX syntax; `after` is exclusive.
  let low: string | Buffer = prefix ? `[${prefix}` : '-'
  let high: string | Buffer = prefix ? pastPrefix(prefix) : '+'
  if (after !== undefined) {
    // With a prefix, `after` narrows the range only from inside it or from its side of it.
    const side = prefix ? (after.startsWith(prefix) ? 0 : Buffer.compare(Buffer.from(after), Buffer.from(prefix))) : 0
    if (descending ? side <= 0 : side >= 0) {
      if (descending) high = `(${after}`
      else low = `(${after}`
    }
  }
  const docPrefix = keys.doc(collection, '')
  const out: StoredDoc[] = []
  let chunk = Math.min(Math.max(limit, 16), 1000)
  for (;;) {
    const ids: string[] = descending ? await redis.zrevrangebylex(index, high, low, 'LIMIT', 0, chunk) : await redis.zrangebylex(index, low, high, 'LIMIT', 0, chunk)
    if (ids.length === 0) break
    const hashes = await Promise.all(ids.map((id) => redis.hgetall(docPrefix + id)))
    const gone: string[] = []
    for (let i = 0; i < ids.length && out.length < limit; i++) {
      const h = hashes[i]
      if (Object.keys(h).length === 0) {
        gone.push(ids[i])
        continue
      }
      const doc = decodeDoc(collection, ids[i], h, nowMs)
      if (doc) out.push(doc)
    }
    // Best effort: a failed cleanup is retried by the next listing or the sweep.
    if (gone.length > 0) await redis.eval(DROP_GONE_SCRIPT, 1, index, docPrefix, ...gone).catch(() => {})
    if (out.length >= limit || ids.length < chunk) break
    const last: string = ids[ids.length - 1]
    if (descending) high = `(${last}`
    else low = `(${last}`
    chunk = Math.min(chunk * 2, 1000)
  }
  return out
}
