// The embedded store's doc listing keeps its ids in order across creates, deletes, expiry and prune
// (no sort per listing): checked against a plain filter-and-sort over random operations.
import {describe, expect, it} from 'vitest'

import {DocCollections, compareIds} from '../../src/store/doc-collections.js'
import type {DocListOptions, StoredDoc} from '../../src/store/types.js'

/** A small deterministic PRNG (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const PIECES = ['a', 'b', 'ab', 'b\uffff', 'B', '0', 'é', '\u{1F600}', '\uFF5E', '\u{10FFFF}']

/** The order Redis lists in: the ids' UTF-8 bytes. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

function reference(docs: Map<string, StoredDoc>, options: DocListOptions, nowMs: number): string[] {
  const {prefix = '', after, descending = false, limit = 100} = options
  const ids = [...docs.values()]
    .filter((d) => d.expires_at_ms === undefined || d.expires_at_ms > nowMs)
    .map((d) => d.id)
    .filter((id) => id.startsWith(prefix) && (after === undefined || (descending ? byBytes(id, after) < 0 : byBytes(id, after) > 0)))
    .sort(byBytes)
  if (descending) ids.reverse()
  return ids.slice(0, Math.max(0, limit))
}

describe('DocCollections listing', () => {
  it('compares ids in the byte order of their UTF-8', () => {
    const ids = ['a', '', 'a\uFF5E', 'a\u{1F600}', 'a\uD7FF', 'a\uE000', 'ab', 'a\u{10FFFF}', 'é', 'B']
    expect([...ids].sort(compareIds)).toEqual([...ids].sort(byBytes))
    expect(compareIds('a\u{1F600}', 'a\uFF5E')).toBeGreaterThan(0)
    expect(compareIds('a', 'a')).toBe(0)
    expect(compareIds('a', 'ab')).toBeLessThan(0)
  })

  it('matches a filter-and-sort after every step of 2,000 random writes, deletes, prunes and listings', () => {
    const next = random(17)
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]
    const id = () => Array.from({length: 1 + Math.floor(next() * 3)}, () => pick(PIECES)).join('')
    const docs = new DocCollections()
    const model = new Map<string, StoredDoc>()
    let now = 1000
    for (let step = 0; step < 2000; step++) {
      const roll = next()
      const target = id()
      if (roll < 0.45) {
        const expires = next() < 0.3 ? now + Math.floor(next() * 50) : undefined
        docs.apply([{collection: 'c', id: target, set: {step}, ...(expires === undefined ? {} : {expires_at_ms: expires})}], now)
        const current = model.get(target)
        const live = current && (current.expires_at_ms === undefined || current.expires_at_ms > now)
        // An omitted expiry keeps the live doc's.
        const kept = expires ?? (live ? current.expires_at_ms : undefined)
        model.set(target, {collection: 'c', id: target, version: live ? current.version + 1 : 1, value: {step}, ...(kept === undefined ? {} : {expires_at_ms: kept})})
      } else if (roll < 0.6) {
        docs.apply([{collection: 'c', id: target, delete: true}], now)
        model.delete(target)
      } else if (roll < 0.65) {
        docs.prune(now)
        for (const [k, d] of model) if (d.expires_at_ms !== undefined && d.expires_at_ms <= now) model.delete(k)
      } else {
        const options: DocListOptions = {
          ...(next() < 0.5 ? {prefix: pick(PIECES)} : {}),
          ...(next() < 0.5 ? {after: id()} : {}),
          ...(next() < 0.5 ? {descending: true} : {}),
          ...(next() < 0.5 ? {limit: Math.floor(next() * 6)} : {}),
        }
        expect(docs.list('c', options, now).map((d) => d.id), JSON.stringify({step, options})).toEqual(reference(model, options, now))
      }
      now += Math.floor(next() * 5)
    }
  })

  it('restores from a snapshot and lists in order, other collections apart', () => {
    const docs = new DocCollections()
    docs.restore([
      {collection: 'c', id: 'b', version: 1, value: {}},
      {collection: 'd', id: 'a', version: 1, value: {}},
      {collection: 'c', id: 'a', version: 2, value: {}},
    ])
    expect(docs.list('c', {}, 0).map((d) => d.id)).toEqual(['a', 'b'])
    docs.apply([{collection: 'c', id: '0', set: {}}, {collection: 'c', id: 'c', set: {}}], 0)
    expect(docs.list('c', {descending: true}, 0).map((d) => d.id)).toEqual(['c', 'b', 'a', '0'])
    expect(docs.list('c', {limit: 0}, 0)).toEqual([])
    expect(docs.list('d', {}, 0).map((d) => `${d.collection}/${d.id}`)).toEqual(['d/a'])
  })
})
