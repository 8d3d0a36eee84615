// The doc-collection part of the store contract (contract.ts calls it for every store): writes,
// optimistic versions, doc conditions, expiry on the store's clock, listing, and concurrent guarded
// counters. Every failing transaction here also carries ledger and doc writes that must not happen.
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {Store, StoredDoc, Tx} from '../../src/store/types.js'

/** A store on the given clock (doc expiry and reads use it). */
export type ClockedStoreFactory = (options: {now: () => number}) => Promise<Store>

const U = 'USD_MICROCENTS' as const
const SCOPE = 'tenant:docs'
const HOUR = 3_600_000

export function describeDocContract(name: string, factory: ClockedStoreFactory): void {
  describe(`doc collections: ${name}`, () => {
    let store: Store
    /**
     * The store's clock, starting at the real time and moved by hours: Redis' own expiry of a doc
     * (on the server's clock) never fires during a test, so what is tested is the store's rule.
     */
    let now = 0
    beforeEach(async () => {
      now = Date.now()
      store = await factory({now: () => now})
    })
    afterEach(async () => {
      await store.close()
    })

    const doc = async (collection: string, id: string) => (await store.getDocs(collection, [id]))[0]
    const spent = async () => (await store.getLedgers('real', [SCOPE], U))[0]?.spent
    const seedLedger = async () => {
      const r = await store.apply({
        createLedgers: [{book: 'real', scope: SCOPE, unit: U, allocated: 1000, remaining: 1000, reserved: 0, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE'}],
      })
      expect(r.ok).toBe(true)
    }
    /** Ledger and doc writes that ride along with a transaction expected to fail. */
    const sideEffects = (): Pick<Tx, 'deltas' | 'docs' | 'idempotency' | 'audit'> => ({
      deltas: [{book: 'real', scope: SCOPE, unit: U, add: {spent: 5}}],
      docs: [{collection: 'side', id: 'x', set: {touched: true}}],
      idempotency: {key: 'docs:side:k1', record: {hash: 'h', status: 200, body: '{}'}, ttl_ms: 60_000},
      audit: [{log_id: 'side-audit', timestamp_ms: now, operation: 'docs.side', status: 200}],
    })
    const expectNothingApplied = async () => {
      expect(await spent()).toBe(0)
      expect(await doc('side', 'x')).toBeUndefined()
      expect(await store.getIdempotency('docs:side:k1')).toBeUndefined()
      expect((await store.listAudit({operation: 'docs.side'})).entries).toEqual([])
    }

    it('creates, replaces, adds to and deletes docs, bumping the version on every write', async () => {
      expect(await store.apply({docs: [{collection: 'c', id: 'a', set: {name: 'first', n: 2}}]})).toMatchObject({ok: true})
      expect(await doc('c', 'a')).toEqual({collection: 'c', id: 'a', version: 1, value: {name: 'first', n: 2}})
      await store.apply({docs: [{collection: 'c', id: 'a', add: {n: 3, fresh: -1}}]})
      expect(await doc('c', 'a')).toEqual({collection: 'c', id: 'a', version: 2, value: {name: 'first', n: 5, fresh: -1}})
      // `set` replaces the whole value (n and fresh go); `add` applies after it.
      await store.apply({docs: [{collection: 'c', id: 'a', set: {other: 'x', n: 1}, add: {n: 10}}]})
      expect(await doc('c', 'a')).toEqual({collection: 'c', id: 'a', version: 3, value: {other: 'x', n: 11}})
      // `add` to a non-numeric field counts it 0; on a missing doc it creates {}.
      await store.apply({docs: [{collection: 'c', id: 'a', add: {other: 4}}, {collection: 'c', id: 'new', add: {hits: 1}}]})
      expect((await doc('c', 'a'))?.value).toEqual({other: 4, n: 11})
      expect(await doc('c', 'new')).toEqual({collection: 'c', id: 'new', version: 1, value: {hits: 1}})
      // Several writes to one doc in one transaction apply in order.
      await store.apply({docs: [{collection: 'c', id: 'new', add: {hits: 1}}, {collection: 'c', id: 'new', add: {hits: 1}}]})
      expect(await doc('c', 'new')).toMatchObject({version: 3, value: {hits: 3}})
      await store.apply({docs: [{collection: 'c', id: 'a', delete: true}]})
      expect(await store.getDocs('c', ['a', 'new', 'never'])).toEqual([undefined, expect.objectContaining({id: 'new'}), undefined])
      // Created again after a delete: a new doc, version 1.
      await store.apply({docs: [{collection: 'c', id: 'a', set: {again: true}}]})
      expect(await doc('c', 'a')).toEqual({collection: 'c', id: 'a', version: 1, value: {again: true}})
      // Collections are separate namespaces, also when names and ids contain the separator.
      await store.apply({docs: [{collection: 'x:y', id: 'z', set: {k: 1}}, {collection: 'x', id: 'y:z', set: {k: 2}}]})
      expect((await doc('x:y', 'z'))?.value).toEqual({k: 1})
      expect((await doc('x', 'y:z'))?.value).toEqual({k: 2})
      expect(await doc('c', 'y:z')).toBeUndefined()
    })

    it('keeps any JSON value exactly (nested objects, arrays, empty ones, null, big integers, fractions, unicode)', async () => {
      const value = {
        nested: {list: [1, 'two', {three: [3]}], empty: {}, none: []},
        nothing: null,
        flag: false,
        big: Number.MAX_SAFE_INTEGER,
        small: -123_456_789_012_345,
        fraction: 0.1 + 0.2,
        text: 'é "quoted" \\ \u2028 日本',
      }
      await store.apply({docs: [{collection: 'json', id: 'v', set: value}]})
      expect((await doc('json', 'v'))?.value).toEqual(value)
      await store.apply({docs: [{collection: 'json', id: 'v', add: {fraction: 0.1, big: -1, small: 0.5}}]})
      expect((await doc('json', 'v'))?.value).toEqual({
        ...value,
        fraction: 0.1 + 0.2 + 0.1,
        big: Number.MAX_SAFE_INTEGER - 1,
        small: -123_456_789_012_345 + 0.5,
      })
    })

    it('expectVersion: 0 means absent; a mismatch fails with `doc` and applies nothing of the transaction', async () => {
      await seedLedger()
      expect(await store.apply({docs: [{collection: 'p', id: 'a', set: {v: 1}, expectVersion: 0}]})).toMatchObject({ok: true})
      expect(await store.apply({docs: [{collection: 'p', id: 'a', set: {v: 2}, expectVersion: 1}]})).toMatchObject({ok: true})
      const stale = await store.apply({...sideEffects(), docs: [...sideEffects().docs!, {collection: 'p', id: 'a', set: {v: 3}, expectVersion: 1}]})
      expect(stale).toEqual({ok: false, failed: 'doc', detail: 'p/a'})
      const taken = await store.apply({...sideEffects(), docs: [{collection: 'p', id: 'a', set: {v: 3}, expectVersion: 0}, ...sideEffects().docs!]})
      expect(taken).toEqual({ok: false, failed: 'doc', detail: 'p/a'})
      const absent = await store.apply({...sideEffects(), docs: [...sideEffects().docs!, {collection: 'p', id: 'none', delete: true, expectVersion: 1}]})
      expect(absent).toEqual({ok: false, failed: 'doc', detail: 'p/none'})
      await expectNothingApplied()
      expect(await doc('p', 'a')).toEqual({collection: 'p', id: 'a', version: 2, value: {v: 2}})
      // A guarded delete with the right version goes through.
      expect(await store.apply({docs: [{collection: 'p', id: 'a', delete: true, expectVersion: 2}]})).toMatchObject({ok: true})
      expect(await doc('p', 'a')).toBeUndefined()
    })

    it('refuses a doc part with a NaN or infinite number or an unknown op, writing nothing', async () => {
      await seedLedger()
      const bad: Tx[] = [
        {docs: [{collection: 'n', id: 'a', add: {count: Number.NaN}}]},
        {docs: [{collection: 'n', id: 'a', add: {count: Number.POSITIVE_INFINITY}}]},
        {docs: [{collection: 'n', id: 'a', set: {}, expires_at_ms: Number.NaN}]},
        {docs: [{collection: 'n', id: 'a', set: {}, expectVersion: 0.5}]},
        {docConditions: [{collection: 'n', id: 'a', field: 'count', op: 'gt' as never, value: 1}]},
        {docConditions: [{collection: 'n', id: 'a', field: 'count', op: 'lt', value: Number.NaN}]},
      ]
      for (const tx of bad) await expect(store.apply({...sideEffects(), ...tx, docs: [...sideEffects().docs!, ...(tx.docs ?? [])]})).rejects.toThrow(TypeError)
      await expectNothingApplied()
      expect(await doc('n', 'a')).toBeUndefined()
    })

    it('docConditions: gte, lt, lte and eq on numeric fields, a missing doc or field counting 0', async () => {
      await seedLedger()
      await store.apply({docs: [{collection: 'q', id: 'count', set: {n: 3, label: 'three'}}]})
      const holds = [
        {collection: 'q', id: 'count', field: 'n', op: 'gte' as const, value: 3},
        {collection: 'q', id: 'count', field: 'n', op: 'lt' as const, value: 4},
        {collection: 'q', id: 'count', field: 'n', op: 'lte' as const, value: 3},
        {collection: 'q', id: 'count', field: 'n', op: 'eq' as const, value: 3},
        {collection: 'q', id: 'count', field: 'absent', op: 'eq' as const, value: 0},
        {collection: 'q', id: 'count', field: 'label', op: 'lt' as const, value: 1},
        {collection: 'q', id: 'missing', field: 'n', op: 'eq' as const, value: 0},
        {collection: 'q', id: 'missing', field: 'n', op: 'lt' as const, value: 1},
      ]
      expect(await store.apply({docConditions: holds, docs: [{collection: 'q', id: 'count', add: {n: 1}}]})).toMatchObject({ok: true})
      expect((await doc('q', 'count'))?.value).toEqual({n: 4, label: 'three'})
      const failing = [
        {collection: 'q', id: 'count', field: 'n', op: 'lt' as const, value: 4, detail: 'doc:q/count n lt 4'},
        {collection: 'q', id: 'count', field: 'n', op: 'lte' as const, value: 3, detail: 'doc:q/count n lte 3'},
        {collection: 'q', id: 'count', field: 'n', op: 'eq' as const, value: 3, detail: 'doc:q/count n eq 3'},
        {collection: 'q', id: 'count', field: 'n', op: 'gte' as const, value: 5, detail: 'doc:q/count n gte 5'},
        {collection: 'q', id: 'missing', field: 'n', op: 'gte' as const, value: 1, detail: 'doc:q/missing n gte 1'},
      ]
      for (const {detail, ...c} of failing) {
        // The failing condition comes after one that holds, and the transaction writes a ledger and docs.
        const r = await store.apply({...sideEffects(), docConditions: [holds[0], c], docs: [...sideEffects().docs!, {collection: 'q', id: 'count', add: {n: 100}}]})
        expect(r).toEqual({ok: false, failed: 'condition', detail})
      }
      await expectNothingApplied()
      expect(await doc('q', 'count')).toMatchObject({version: 2, value: {n: 4}})
    })

    it('a doc past its expires_at_ms is gone for reads, conditions, versions and writes', async () => {
      const start = now
      await store.apply({docs: [{collection: 'e', id: 'a', set: {n: 5}, expires_at_ms: start + HOUR}, {collection: 'e', id: 'b', set: {n: 1}}]})
      // A write without expires_at_ms keeps the expiry.
      await store.apply({docs: [{collection: 'e', id: 'a', add: {n: 1}}]})
      now = start + HOUR - 1
      expect(await doc('e', 'a')).toEqual({collection: 'e', id: 'a', version: 2, value: {n: 6}, expires_at_ms: start + HOUR})
      expect((await store.listDocs('e')).map((d) => d.id)).toEqual(['a', 'b'])
      now = start + HOUR
      expect(await doc('e', 'a')).toBeUndefined()
      expect((await store.listDocs('e')).map((d) => d.id)).toEqual(['b'])
      // Counts 0 in a condition, is version 0, and a write starts a new doc.
      const r = await store.apply({
        docConditions: [{collection: 'e', id: 'a', field: 'n', op: 'eq', value: 0}],
        docs: [{collection: 'e', id: 'a', add: {m: 1}, expectVersion: 0}],
      })
      expect(r).toMatchObject({ok: true})
      expect(await doc('e', 'a')).toEqual({collection: 'e', id: 'a', version: 1, value: {m: 1}})
      // A new expiry replaces the old one; reads before it still see the doc.
      await store.apply({docs: [{collection: 'e', id: 'b', add: {n: 1}, expires_at_ms: start + 5 * HOUR}]})
      now = start + 5 * HOUR - 1
      expect(await doc('e', 'b')).toMatchObject({version: 2, value: {n: 2}, expires_at_ms: start + 5 * HOUR})
      await store.apply({docs: [{collection: 'e', id: 'b', add: {n: 1}, expires_at_ms: start + 9 * HOUR}]})
      now = start + 9 * HOUR - 1
      expect(await doc('e', 'b')).toMatchObject({version: 3, value: {n: 3}, expires_at_ms: start + 9 * HOUR})
      now = start + 9 * HOUR
      expect(await store.listDocs('e')).toEqual([{collection: 'e', id: 'a', version: 1, value: {m: 1}}])
    })

    it('lists in byte order of ids with prefix, after, descending and limit, leaving out deleted and expired docs', async () => {
      const ids = ['b2', 'a', 'c', 'b10', 'b1', 'B', 'ba', 'b']
      await store.apply({docs: ids.map((id) => ({collection: 'l', id, set: {id}}))})
      await store.apply({docs: [{collection: 'l', id: 'gone', set: {}}, {collection: 'l-other', id: 'a', set: {}}]})
      await store.apply({docs: [{collection: 'l', id: 'gone', delete: true}, {collection: 'l', id: 'b1', add: {}, expires_at_ms: now + HOUR}]})
      const list = async (options?: Parameters<Store['listDocs']>[1]) => (await store.listDocs('l', options)).map((d) => d.id)
      expect(await list()).toEqual(['B', 'a', 'b', 'b1', 'b10', 'b2', 'ba', 'c'])
      expect((await store.listDocs('l', {limit: 1}))[0]).toEqual({collection: 'l', id: 'B', version: 1, value: {id: 'B'}})
      now += HOUR
      expect(await list()).toEqual(['B', 'a', 'b', 'b10', 'b2', 'ba', 'c'])
      expect(await list({prefix: 'b'})).toEqual(['b', 'b10', 'b2', 'ba'])
      expect(await list({prefix: 'b', descending: true})).toEqual(['ba', 'b2', 'b10', 'b'])
      expect(await list({prefix: 'b', after: 'b'})).toEqual(['b10', 'b2', 'ba'])
      expect(await list({prefix: 'b', after: 'b10', descending: true})).toEqual(['b'])
      expect(await list({prefix: 'b', after: 'a'})).toEqual(['b', 'b10', 'b2', 'ba'])
      expect(await list({prefix: 'b', after: 'c', descending: true})).toEqual(['ba', 'b2', 'b10', 'b'])
      expect(await list({prefix: 'b', after: 'c'})).toEqual([])
      expect(await list({after: 'b1'})).toEqual(['b10', 'b2', 'ba', 'c'])
      expect(await list({after: 'b1', descending: true})).toEqual(['b', 'a', 'B'])
      // The expired b1 is not counted against the limit.
      expect(await list({after: 'a', limit: 3})).toEqual(['b', 'b10', 'b2'])
      expect(await list({descending: true, limit: 2})).toEqual(['c', 'ba'])
      expect(await list({prefix: 'z'})).toEqual([])
      expect(await list({limit: 0})).toEqual([])
      expect(await store.listDocs('never')).toEqual([])
    })

    it('orders ids by their UTF-8 bytes, also where UTF-16 order differs (astral characters)', async () => {
      const smile = 'a\u{1F600}'
      const wide = 'a\uFF5E'
      await store.apply({docs: [smile, wide, 'a', 'a\u00E9'].map((id) => ({collection: 'u', id, set: {}}))})
      expect((await store.listDocs('u')).map((d) => d.id)).toEqual(['a', 'a\u00E9', wide, smile])
      expect((await store.listDocs('u', {descending: true})).map((d) => d.id)).toEqual([smile, wide, 'a\u00E9', 'a'])
      expect((await store.listDocs('u', {after: wide})).map((d) => d.id)).toEqual([smile])
      expect((await store.listDocs('u', {after: smile, descending: true, limit: 1})).map((d) => d.id)).toEqual([wide])
    })

    it('lists 100 docs by default and pages through more with `after`', async () => {
      const ids = Array.from({length: 130}, (_, i) => `id${String(i).padStart(3, '0')}`)
      await store.apply({docs: ids.map((id) => ({collection: 'page', id, set: {}}))})
      const first = await store.listDocs('page')
      expect(first.map((d) => d.id)).toEqual(ids.slice(0, 100))
      const rest = await store.listDocs('page', {after: first[99].id, limit: 1000})
      expect(rest.map((d) => d.id)).toEqual(ids.slice(100))
    })

    it('admits exactly 20 of 50 concurrent counter adds guarded by `lt 20`', async () => {
      const results = await Promise.all(
        Array.from({length: 50}, () =>
          store.apply({
            docConditions: [{collection: 'quota', id: 'runs', field: 'count', op: 'lt', value: 20}],
            docs: [{collection: 'quota', id: 'runs', add: {count: 1}}],
          }),
        ),
      )
      expect(results.filter((r) => r.ok)).toHaveLength(20)
      expect(results.filter((r) => !r.ok)).toEqual(Array.from({length: 30}, () => ({ok: false, failed: 'condition', detail: 'doc:quota/runs count lt 20'})))
      const counter = (await store.getDocs('quota', ['runs']))[0] as StoredDoc
      expect(counter).toMatchObject({version: 20, value: {count: 20}})
    })
  })
}
