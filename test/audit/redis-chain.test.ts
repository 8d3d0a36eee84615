// The Redis store seals audit rows in TypeScript (its apply script has no SHA-256) with a
// compare-and-set on the chain head doc: two store instances writing audited changes at once —
// many per turn of the event loop, so group commit batches them — still leave one unbroken chain.
import {randomUUID} from 'node:crypto'

import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {AUDIT_CHAIN_COLLECTION, AUDIT_HEAD_ID} from '../../src/integrity/audit-chain.js'
import {verifyAuditRows} from '../../src/integrity/audit-verify.js'
import {GENESIS_HASH} from '../../src/integrity/chain.js'
import {RedisStore} from '../../src/store/redis/redis-store.js'
import type {AuditEntry, Store} from '../../src/store/types.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {ledger} from '../store/contract.js'

let redis: RedisServer | undefined
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await destroyRedis(redis)
})

let n = 0
const writeRow = (who: string): AuditEntry => ({log_id: `log_${who}_${++n}`, timestamp_ms: Date.now(), tenant_id: 'acme', operation: 'fundBudget', resource_type: 'budget', resource_id: 'tenant:acme:TOKENS', status: 200, metadata: {actor: who, reason: `r${n}`}})

async function chainOf(store: Store): Promise<AuditEntry[]> {
  const rows: AuditEntry[] = []
  let cursor: string | undefined
  do {
    const page = await store.listAudit({limit: 500, ...(cursor ? {cursor} : {})})
    rows.push(...page.entries)
    cursor = page.next_cursor
  } while (cursor)
  return rows.filter((r) => r.hash !== undefined).sort((a, b) => a.chain_seq! - b.chain_seq!)
}

async function headOf(store: Store) {
  const [doc] = await store.getDocs(AUDIT_CHAIN_COLLECTION, [AUDIT_HEAD_ID])
  return doc && {hash: doc.value.hash as string, seq: doc.value.seq as number}
}

describe('redis store: audit chain', () => {
  let a: RedisStore
  let b: RedisStore
  beforeEach(async () => {
    const prefix = `au${randomUUID().slice(0, 8)}:`
    a = await RedisStore.open({url: redis!.url, prefix})
    b = await RedisStore.open({url: redis!.url, prefix})
  })
  afterEach(async () => {
    await a.close()
    await b.close()
  })

  it('seals rows in order from the genesis and moves the head doc with them', async () => {
    expect((await a.apply({audit: [writeRow('a'), {...writeRow('a'), status: 401, error_code: 'UNAUTHORIZED'}, writeRow('a')]})).ok).toBe(true)
    const rows = await chainOf(a)
    expect(rows.map((r) => r.chain_seq)).toEqual([1, 2])
    expect(rows[0].prev_hash).toBe(GENESIS_HASH)
    expect(await headOf(b)).toEqual({hash: rows[1].hash, seq: 2})
    const failed = (await a.listAudit({status: 401})).entries
    expect(failed).toHaveLength(1)
    expect(failed[0]).not.toHaveProperty('hash')
  })

  it('two instances writing audited changes concurrently leave one unbroken chain, each row once', async () => {
    await a.apply({createLedgers: [{...ledger('tenant:acme', 1_000_000, {unit: 'TOKENS'}), book: 'real'}]})
    const PER = 40
    const fund = (store: RedisStore, who: string) => store.apply({deltas: [{book: 'real', scope: 'tenant:acme', unit: 'TOKENS', add: {allocated: 1}}], audit: [writeRow(who)]})
    // All submitted in one turn per instance: each instance's group commit would batch them.
    const results = await Promise.all([...Array.from({length: PER}, () => fund(a, 'a')), ...Array.from({length: PER}, () => fund(b, 'b'))])
    expect(results.every((r) => r.ok)).toBe(true)
    const rows = await chainOf(a)
    expect(rows).toHaveLength(2 * PER)
    expect(rows.map((r) => r.chain_seq)).toEqual(Array.from({length: 2 * PER}, (_, i) => i + 1))
    expect(new Set(rows.map((r) => r.log_id)).size).toBe(2 * PER)
    expect(new Set(rows.map((r) => r.metadata?.actor))).toEqual(new Set(['a', 'b']))
    expect(verifyAuditRows(rows, {head: await headOf(b)})).toMatchObject({ok: true, rows: 2 * PER, head_checked: true})
    // Every write applied exactly once: a retried seal never applies its change twice.
    const [l] = await a.getLedgers('real', ['tenant:acme'], 'TOKENS')
    expect(l?.allocated).toBe(1_000_000 + 2 * PER)
  })

  it('a burst of audited transactions on one instance all apply (one in flight per instance, not 150 racing one head)', async () => {
    const BURST = 150
    const results = await Promise.all(Array.from({length: BURST}, () => a.apply({audit: [writeRow('a')]})))
    expect(results.filter((r) => !r.ok)).toEqual([])
    const rows = await chainOf(b)
    expect(rows.map((r) => r.chain_seq)).toEqual(Array.from({length: BURST}, (_, i) => i + 1))
    expect(verifyAuditRows(rows, {head: await headOf(a)}).ok).toBe(true)
  })

  it('a transaction refused for its own reasons is not retried and seals nothing', async () => {
    await a.apply({audit: [writeRow('a')]})
    const refused = await b.apply({deltas: [{book: 'real', scope: 'tenant:none', unit: 'TOKENS', add: {allocated: 1}}], audit: [writeRow('b')]})
    expect(refused).toMatchObject({ok: false, failed: 'missing'})
    await b.apply({audit: [writeRow('b')]})
    const rows = await chainOf(a)
    expect(rows.map((r) => r.chain_seq)).toEqual([1, 2])
    expect(verifyAuditRows(rows, {head: await headOf(a)}).ok).toBe(true)
  })

  it('a row edited in Redis is located by the verifier', async () => {
    for (let i = 0; i < 4; i++) await a.apply({audit: [writeRow('a')]})
    const key = `${(a as unknown as {keys: {audit(): string}}).keys.audit()}`
    const raw = await (a as unknown as {redis: {lindex(k: string, i: number): Promise<string>; lset(k: string, i: number, v: string): Promise<unknown>}}).redis.lindex(key, 2)
    const edited = JSON.parse(raw)
    edited.metadata.reason = 'rewritten'
    await (a as unknown as {redis: {lset(k: string, i: number, v: string): Promise<unknown>}}).redis.lset(key, 2, JSON.stringify(edited))
    expect(verifyAuditRows(await chainOf(a))).toMatchObject({ok: false, first_break: {index: 2, log_id: edited.log_id, problem: 'hash_mismatch'}})
  })
})
