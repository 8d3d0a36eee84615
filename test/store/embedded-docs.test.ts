// The embedded store keeps doc collections across restarts: journal replay after a crash, the
// snapshot written on close, and sealed segments folded into the snapshot while running.
import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {listSegments} from '../../src/store/embedded/state-files.js'
import {tempDir} from '../support/daemon.js'

const crash = (dir: string) => fs.rmSync(path.join(dir, 'daemon.lock'))

/** A few docs of every kind of write: created, added to, replaced, deleted, expiring. */
async function writeDocs(store: EmbeddedStore, now: number): Promise<void> {
  await store.apply({docs: [{collection: 'c', id: 'kept', set: {name: 'k', list: [1, {x: []}]}}, {collection: 'c', id: 'gone', set: {}}]})
  await store.apply({docs: [{collection: 'c', id: 'kept', add: {n: 2}}, {collection: 'c', id: 'gone', delete: true}]})
  await store.apply({docs: [{collection: 'c', id: 'kept', add: {n: 3}, expectVersion: 2}, {collection: 'c', id: 'later', set: {v: 1}, expires_at_ms: now + 60_000}]})
  await store.apply({docs: [{collection: 'c', id: 'soon', set: {v: 1}, expires_at_ms: now + 1000}]})
  await store.apply({docs: [{collection: 'c', id: 'replaced', set: {a: 1}}]})
  await store.apply({docs: [{collection: 'c', id: 'replaced', set: {b: 2}}]})
}

const EXPECTED = [
  {collection: 'c', id: 'kept', version: 3, value: {name: 'k', list: [1, {x: []}], n: 5}},
  {collection: 'c', id: 'later', version: 1, value: {v: 1}, expires_at_ms: 0},
  {collection: 'c', id: 'replaced', version: 2, value: {b: 2}},
]
const expected = (now: number) => EXPECTED.map((d) => (d.expires_at_ms === undefined ? d : {...d, expires_at_ms: now + 60_000}))

describe('embedded store: doc collections across restarts', () => {
  it('replays doc writes from the journal after a crash', async () => {
    const dir = tempDir()
    const start = 1_000_000
    let now = start
    const store = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0, now: () => now})
    await writeDocs(store, start)
    await store.flushed()
    crash(dir)
    now = start + 2000 // 'soon' has expired meanwhile
    const recovered = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0, now: () => now})
    expect(recovered.recovery).toMatchObject({journalLines: 6, tornLines: 0})
    expect(await recovered.listDocs('c')).toEqual(expected(start))
    expect(await recovered.getDocs('c', ['gone', 'soon'])).toEqual([undefined, undefined])
    // Versions go on from where they were.
    expect(await recovered.apply({docs: [{collection: 'c', id: 'kept', add: {n: 1}, expectVersion: 3}]})).toMatchObject({ok: true})
    await recovered.close()
    await store.close().catch(() => {})
  })

  it('keeps docs in the snapshot written on close', async () => {
    const dir = tempDir()
    const now = 1_000_000
    const store = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0, now: () => now})
    await writeDocs(store, now)
    await store.close()
    const reopened = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0, now: () => now + 2000})
    expect(reopened.recovery).toMatchObject({snapshotLoaded: true, journalLines: 0})
    expect(await reopened.listDocs('c')).toEqual(expected(now))
    await reopened.close()
  })

  it('keeps docs through compaction while running, then a crash', async () => {
    const dir = tempDir()
    const store = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0, journalSegmentBytes: 8 * 1024})
    for (let i = 0; i < 600; i++) {
      await store.apply({
        docConditions: [{collection: 'quota', id: 'runs', field: 'count', op: 'lt', value: 1000}],
        docs: [{collection: 'quota', id: 'runs', add: {count: 1}}, {collection: 'events', id: `e${String(i).padStart(4, '0')}`, set: {i}}],
      })
      if (i % 100 === 99) await store.flushed()
    }
    await store.flushed()
    const deadline = Date.now() + 20_000
    while (store.journalStats.compactions === 0 || listSegments(dir).length > 2) {
      if (store.journalStats.lastCompactionError) throw new Error(`compaction failed: ${store.journalStats.lastCompactionError}`)
      if (Date.now() > deadline) throw new Error(`journal not compacted within 20 s: ${listSegments(dir).length} segments`)
      await new Promise((r) => setTimeout(r, 20))
    }
    crash(dir)
    const recovered = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0})
    expect(recovered.recovery.journalLines).toBeLessThan(600)
    expect((await recovered.getDocs('quota', ['runs']))[0]).toMatchObject({version: 600, value: {count: 600}})
    const events = await recovered.listDocs('events', {limit: 1000})
    expect(events.map((e) => e.value.i)).toEqual(Array.from({length: 600}, (_, i) => i))
    await recovered.close()
    await store.close().catch(() => {})
  })
})
