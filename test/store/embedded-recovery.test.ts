// The embedded store's journal: what a crash (no clean close) leaves behind is replayed exactly.
import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {listSegments} from '../../src/store/embedded/state-files.js'
import {DEFAULT_LIMITS, MemoryState} from '../../src/store/memory-state.js'
import {tempDir} from '../support/daemon.js'

const LEDGER = {book: 'real' as const, scope: 'tenant:a', unit: 'TOKENS' as const, allocated: 100, remaining: 100, reserved: 0, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE' as const}

describe('embedded store recovery', () => {
  it('replays idempotency bodies byte for byte, ledger deltas exactly, and skips a torn last line', async () => {
    const dir = tempDir()
    const store = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0})
    await store.apply({createLedgers: [LEDGER]})
    const body = JSON.stringify({decision: 'ALLOW', note: 'é "quoted" \\ \u2028', nested: {list: [1, {x: -5}], empty: {}}})
    await store.apply({
      deltas: [{book: 'real', scope: 'tenant:a', unit: 'TOKENS', add: {spent: 7}}],
      idempotency: {key: 'a:reserve:k1', record: {hash: 'h', status: 200, body}, ttl_ms: 60_000},
    })
    await store.flushed()
    // crash: no close(); then a half-written line from a write that was never acknowledged
    fs.appendFileSync(store.journalPath, '{"t":1,"tx":{"deltas":[{"book":"re')
    fs.rmSync(path.join(dir, 'daemon.lock'))

    const recovered = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0})
    expect(recovered.recovery).toEqual({snapshotLoaded: true, journalLines: 2, tornLines: 1})
    expect((await recovered.getIdempotency('a:reserve:k1'))?.body).toBe(body)
    const [ledger] = await recovered.getLedgers('real', ['tenant:a'], 'TOKENS')
    expect(ledger).toMatchObject({spent: 7, remaining: 93})
    await recovered.close()
    await store.close().catch(() => {})
  })
})

describe('embedded store recovery of overage settlements', () => {
  // Tx.overage (a commit above its estimate, settled at the write) is journaled like any effect; a
  // recovery that did not know the field refused every state directory holding one as damaged.
  it('replays a crash-left journal with an over-estimate commit exactly', async () => {
    const dir = tempDir()
    const store = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0})
    await store.apply({createLedgers: [LEDGER]})
    await store.apply({deltas: [{book: 'real', scope: 'tenant:a', unit: 'TOKENS', add: {reserved: 30}}]})
    const result = await store.apply({overage: [{book: 'real', unit: 'TOKENS', ledgers: [{scope: 'tenant:a', debt: false}], estimate: 30, over: 20, onLimit: 'fail'}]})
    expect(result.ok).toBe(true)
    await store.flushed()
    fs.rmSync(path.join(dir, 'daemon.lock')) // crash: no close()

    const recovered = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0})
    expect(recovered.recovery).toMatchObject({snapshotLoaded: true, journalLines: 3, tornLines: 0})
    const [ledger] = await recovered.getLedgers('real', ['tenant:a'], 'TOKENS')
    expect(ledger).toMatchObject({reserved: 0, spent: 50, remaining: 50, debt: 0})
    await recovered.close()
    await store.close().catch(() => {})
  })
})

describe('embedded store journal compaction', () => {
  const spend = (store: EmbeddedStore, i: number) =>
    store.apply({
      deltas: [{book: 'real', scope: 'tenant:a', unit: 'TOKENS', add: {spent: 1}}],
      idempotency: {key: `a:decide:k${i}`, record: {hash: 'h', status: 200, body: JSON.stringify({decision: 'ALLOW', i})}, ttl_ms: 60_000},
    })
  const crash = (dir: string) => fs.rmSync(path.join(dir, 'daemon.lock'))

  async function untilCompacted(store: EmbeddedStore, dir: string): Promise<void> {
    const deadline = Date.now() + 20_000
    while (store.journalStats.compactions === 0 || listSegments(dir).length > 2) {
      if (store.journalStats.lastCompactionError) throw new Error(`compaction failed: ${store.journalStats.lastCompactionError}`)
      if (Date.now() > deadline) throw new Error(`journal not compacted within 20 s: ${listSegments(dir).length} segments`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  it('folds sealed segments into the snapshot while running, and a crash then loses nothing', async () => {
    const dir = tempDir()
    const store = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0, journalSegmentBytes: 8 * 1024})
    await store.apply({createLedgers: [{...LEDGER, allocated: 1_000_000, remaining: 1_000_000}]})
    for (let i = 0; i < 3000; i++) {
      await spend(store, i)
      if (i % 100 === 99) await store.flushed()
    }
    await store.flushed()
    await untilCompacted(store, dir)
    // ~3000 lines of ~150 bytes went to segments of 8 KiB: all but the last one or two are folded in
    expect(listSegments(dir).length).toBeLessThanOrEqual(2)
    crash(dir)
    const recovered = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0})
    expect(recovered.recovery.journalLines).toBeLessThan(3000)
    const [ledger] = await recovered.getLedgers('real', ['tenant:a'], 'TOKENS')
    expect(ledger).toMatchObject({spent: 3000, remaining: 997_000})
    expect(recovered.state.idempotency.size).toBe(3000)
    expect((await recovered.getIdempotency('a:decide:k2999'))?.body).toBe('{"decision":"ALLOW","i":2999}')
    await recovered.close()
  })

  it('a failed compaction keeps its segments and waits for the next seal instead of retrying at once', async () => {
    const dir = tempDir()
    const store = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0, journalSegmentBytes: 8 * 1024})
    await store.apply({createLedgers: [{...LEDGER, allocated: 1_000_000, remaining: 1_000_000}]})
    fs.writeFileSync(path.join(dir, 'snapshot.jsonl'), 'not a snapshot\n') // the worker cannot read it
    for (let i = 0; i < 80; i++) {
      await spend(store, i)
      if (i % 10 === 9) await store.flushed() // ~12 KiB in batches: the first 8 KiB segment is sealed
    }
    const deadline = Date.now() + 20_000
    while (store.journalStats.failedCompactions === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    await new Promise((r) => setTimeout(r, 300))
    expect(store.journalStats).toMatchObject({compactions: 0, failedCompactions: 1})
    expect(store.journalStats.lastCompactionError).toMatch(/JSON/)
    expect(listSegments(dir).length).toBeGreaterThanOrEqual(2) // nothing was removed
    await store.close() // a clean close still writes a whole snapshot from memory
    const reopened = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0})
    const [ledger] = await reopened.getLedgers('real', ['tenant:a'], 'TOKENS')
    expect(ledger).toMatchObject({spent: 80})
    await reopened.close()
  })

  it('never replays a segment the snapshot already holds (crash between snapshot and segment removal)', async () => {
    const dir = tempDir()
    const store = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0})
    await store.apply({createLedgers: [LEDGER]})
    for (let i = 0; i < 10; i++) await spend(store, i)
    await store.flushed()
    const leftover = fs.readFileSync(store.journalPath)
    const leftoverPath = store.journalPath
    crash(dir)
    const recovered = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0}) // snapshot now holds that segment
    expect(recovered.recovery.journalLines).toBe(11)
    crash(dir)
    fs.writeFileSync(leftoverPath, leftover) // as if the removal had not happened
    const again = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0})
    expect(again.recovery.journalLines).toBe(0)
    const [ledger] = await again.getLedgers('real', ['tenant:a'], 'TOKENS')
    expect(ledger).toMatchObject({spent: 10, remaining: 90})
    await again.close()
  })
})

describe('embedded store memory bounds', () => {
  it('evicts the oldest idempotency records past the byte budget, and replays the rest', () => {
    const state = new MemoryState({...DEFAULT_LIMITS, maxIdempotencyBytes: 1000})
    const body = 'x'.repeat(300)
    for (let i = 0; i < 5; i++) state.apply({idempotency: {key: `k${i}`, record: {hash: 'h', status: 200, body}, ttl_ms: 60_000}}, 0)
    expect([...state.idempotency.keys()]).toEqual(['k2', 'k3', 'k4'])
    expect(state.getIdempotency('k0', 1)).toBeUndefined()
    expect(state.getIdempotency('k4', 1)?.body).toBe(body)
    // expired records are pruned and their bytes returned to the budget
    state.prune(120_000)
    expect(state.idempotency.size).toBe(0)
    for (let i = 5; i < 8; i++) state.apply({idempotency: {key: `k${i}`, record: {hash: 'h', status: 200, body}, ttl_ms: 60_000}}, 120_000)
    expect([...state.idempotency.keys()]).toEqual(['k5', 'k6', 'k7'])
  })

  it('keeps the newest records by count through many evictions, including a key stored again', () => {
    const state = new MemoryState({...DEFAULT_LIMITS, maxIdempotency: 1000})
    const put = (key: string, now: number) => state.apply({idempotency: {key, record: {hash: 'h', status: 200, body: key}, ttl_ms: 10}}, now)
    put('again', 0)
    for (let i = 0; i < 50_000; i++) put(`k${i}`, 0)
    expect(state.idempotency.size).toBe(1000)
    expect(state.getIdempotency('k48999', 1)).toBeUndefined()
    expect(state.getIdempotency('k49000', 1)?.body).toBe('k49000')
    // 'again' expired and is stored anew: its old place in the eviction order must not evict the new record
    state.prune(100)
    expect(state.idempotency.size).toBe(0)
    put('again', 100)
    for (let i = 0; i < 999; i++) put(`n${i}`, 100)
    expect(state.getIdempotency('again', 101)?.body).toBe('again')
    put('n999', 100)
    expect(state.getIdempotency('again', 101)).toBeUndefined()
    expect(state.idempotency.size).toBe(1000)
  })

  it('does not evict a record stored again under a key whose older record was queued first', () => {
    const state = new MemoryState({...DEFAULT_LIMITS, maxIdempotency: 3})
    const put = (key: string, now: number) => state.apply({idempotency: {key, record: {hash: 'h', status: 200, body: `${key}@${now}`}, ttl_ms: 10}}, now)
    for (const k of ['a', 'b', 'c']) put(k, 0)
    put('a', 100) // a's first record expired: stored again, no prune in between
    put('d', 100) // over the cap by one: the oldest live record is b
    expect(state.getIdempotency('a', 101)?.body).toBe('a@100')
    expect(state.getIdempotency('b', 101)).toBeUndefined()
    expect([...state.idempotency.keys()].sort()).toEqual(['a', 'c', 'd'])
  })

  it('keeps at most maxTerminalReservations finished reservations, oldest finished first, never an active one', () => {
    const state = new MemoryState({...DEFAULT_LIMITS, maxTerminalReservations: 3})
    const reservation = (id: string, status: 'ACTIVE' | 'COMMITTED') =>
      ({reservation_id: id, tenant: 'a', status, subject: {tenant: 'a'}, action: {kind: 'llm.x', name: 'x'}, reserved: {unit: 'TOKENS', amount: 1}, created_at_ms: 0, expires_at_ms: 60_000}) as never
    for (let i = 0; i < 6; i++) state.putReservation(reservation(`r${i}`, 'ACTIVE'))
    for (const i of [4, 0, 5, 1, 2]) state.putReservation(reservation(`r${i}`, 'COMMITTED'))
    // finished in the order 4, 0, 5, 1, 2: the first two finished are gone; r3 is still active
    expect([...state.reservations.keys()].sort()).toEqual(['r1', 'r2', 'r3', 'r5'])
    expect(state.reservations.get('r3')?.status).toBe('ACTIVE')
  })
})
