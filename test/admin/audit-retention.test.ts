// Audit retention in both stores (issue 9 §4, store side): failed-request rows and successful-write
// rows are kept apart, each bounded by count and by age, so a flood of failures can never evict a
// write's row. Small caps here; the defaults are in filters.ts AUDIT_RETENTION (README "Audit").
import {randomUUID} from 'node:crypto'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import type {AuditRetention} from '../../src/store/filters.js'
import {RedisStore} from '../../src/store/redis/redis-store.js'
import type {AuditEntry, Store} from '../../src/store/types.js'
import {tempDir} from '../support/daemon.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'

const DAY = 86_400_000
const RETENTION: AuditRetention = {writes: {maxAgeMs: 400 * DAY, maxRows: 1_000}, failures: {maxAgeMs: 30 * DAY, maxRows: 500}}
const NOW = Date.UTC(2026, 10, 27)
const FLOOD = 60_000

const writeRow = (id: string, ts: number): AuditEntry => ({log_id: id, timestamp_ms: ts, tenant_id: 'acme', operation: 'createApiKey', resource_type: 'api_key', resource_id: id, status: 201})
const failureRow = (i: number, ts: number): AuditEntry => ({log_id: `f${i}`, timestamp_ms: ts, tenant_id: '__unauth__', operation: 'GET:/v1/admin/tenants', status: 401, error_code: 'UNAUTHORIZED'})

async function countAll(store: Store, filter: {status?: number; tenant_id?: string} = {}): Promise<number> {
  let n = 0
  let cursor: string | undefined
  do {
    const page = await store.listAudit({...filter, limit: 1000, ...(cursor ? {cursor} : {})})
    n += page.entries.length
    cursor = page.next_cursor
  } while (cursor)
  return n
}

interface Harness {
  open(): Promise<Store>
  /** Run the store's age-based prune at `nowMs` (what its timer does). */
  prune(store: Store, nowMs: number): Promise<void>
}

let redis: RedisServer | undefined
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => destroyRedis(redis))

const embeddedDir = tempDir('cycles-audit-retention-')
const harnesses: Record<string, Harness> = {
  embedded: {
    open: () => EmbeddedStore.open({stateDir: path.join(embeddedDir, randomUUID()), now: () => NOW, limits: {audit: RETENTION}}),
    prune: async (store, nowMs) => (store as EmbeddedStore).state.prune(nowMs),
  },
  redis: {
    open: () => RedisStore.open({url: redis!.url, prefix: `ar${randomUUID().slice(0, 8)}:`, audit: RETENTION}),
    prune: async (store, nowMs) => void (await (store as RedisStore).pruneAudit(nowMs)),
  },
}

for (const [name, h] of Object.entries(harnesses)) {
  describe(`audit retention (${name})`, () => {
    it(`a flood of ${FLOOD} failure rows keeps the write row and at most the failure cap`, async () => {
      const store = await h.open()
      try {
        expect((await store.apply({audit: [writeRow('survivor', NOW - 1000)]})).ok).toBe(true)
        for (let i = 0; i < FLOOD; i += 1000) {
          const batch = Array.from({length: 1000}, (_, j) => failureRow(i + j, NOW - 500 + ((i + j) % 400)))
          expect((await store.apply({audit: batch})).ok).toBe(true)
        }
        await store.flushed()
        const survivor = await store.listAudit({resource_id: 'survivor'})
        // The write row is chained (integrity/audit-chain.ts); the failure rows are not.
        expect(survivor.entries.map(({chain_seq, prev_hash, hash, ...row}) => ({row, chain_seq, linked: /^[0-9a-f]{64}$/.test(hash ?? '') && prev_hash !== undefined}))).toEqual([
          {row: writeRow('survivor', NOW - 1000), chain_seq: 1, linked: true},
        ])
        const failures = await countAll(store, {status: 401})
        // the cap, trimmed in 10 % steps by the embedded store
        expect(failures).toBeGreaterThanOrEqual(RETENTION.failures.maxRows)
        expect(failures).toBeLessThanOrEqual(RETENTION.failures.maxRows * 1.1)
        // newest first across both classes: the newest failure rows lead, the older write row follows them
        const first = await store.listAudit({limit: 3})
        expect(first.entries.every((e) => e.status === 401)).toBe(true)
      } finally {
        await store.close()
      }
    })

    it('writes are capped by their own count, never by failures', async () => {
      const store = await h.open()
      try {
        const writes = Array.from({length: 1_500}, (_, i) => writeRow(`w${i}`, NOW - 10_000 + i))
        for (let i = 0; i < writes.length; i += 500) await store.apply({audit: writes.slice(i, i + 500)})
        await store.apply({audit: Array.from({length: 2_000}, (_, i) => failureRow(i, NOW))})
        await store.flushed()
        const kept = await countAll(store, {tenant_id: 'acme'})
        expect(kept).toBeGreaterThanOrEqual(RETENTION.writes.maxRows)
        expect(kept).toBeLessThanOrEqual(RETENTION.writes.maxRows * 1.1)
        expect((await store.listAudit({resource_id: 'w1499'})).entries).toHaveLength(1) // the newest write is kept
        expect((await store.listAudit({resource_id: 'w0'})).entries).toHaveLength(0) // the oldest went first
      } finally {
        await store.close()
      }
    })

    it('drops rows by age per class: failures after 30 days, writes after 400', async () => {
      const store = await h.open()
      try {
        await store.apply({
          audit: [
            writeRow('write-399d', NOW - 399 * DAY),
            writeRow('write-401d', NOW - 401 * DAY),
            failureRow(1, NOW - 31 * DAY),
            failureRow(2, NOW - 29 * DAY),
          ].sort((a, b) => a.timestamp_ms - b.timestamp_ms),
        })
        await store.flushed()
        await h.prune(store, NOW)
        const left = (await store.listAudit({limit: 100})).entries.map((e) => e.log_id).sort()
        expect(left).toEqual(['f2', 'write-399d'])
      } finally {
        await store.close()
      }
    })
  })
}

describe('audit retention across an embedded restart', () => {
  it('the journal replays into the same two classes', async () => {
    const dir = path.join(embeddedDir, 'restart')
    const first = await EmbeddedStore.open({stateDir: dir, now: () => NOW, limits: {audit: RETENTION}})
    await first.apply({audit: [writeRow('kept', NOW - 5)]})
    for (let i = 0; i < 5_000; i += 1000) await first.apply({audit: Array.from({length: 1000}, (_, j) => failureRow(i + j, NOW))})
    await first.flushed()
    await first.close()
    const second = await EmbeddedStore.open({stateDir: dir, now: () => NOW, limits: {audit: RETENTION}})
    try {
      expect((await second.listAudit({resource_id: 'kept'})).entries).toHaveLength(1)
      expect(await countAll(second, {status: 401})).toBeLessThanOrEqual(RETENTION.failures.maxRows * 1.1)
    } finally {
      await second.close()
    }
  })
})
