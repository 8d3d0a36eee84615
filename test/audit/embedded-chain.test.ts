// The embedded store chains audit rows inside its synchronous apply: the head is kept in the state
// (the audit-chain doc), carried by the journal and by snapshots, so a crash or a restart continues
// the chain, and a journal line lost to quarantine shows as a break instead of being re-chained over.
import fs from 'node:fs'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {AUDIT_CHAIN_COLLECTION, AUDIT_HEAD_ID} from '../../src/integrity/audit-chain.js'
import {verifyAuditRows} from '../../src/integrity/audit-verify.js'
import {GENESIS_HASH} from '../../src/integrity/chain.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {MemoryState} from '../../src/store/memory-state.js'
import type {AuditEntry, Store} from '../../src/store/types.js'
import {tempDir} from '../support/daemon.js'

const T0 = Date.UTC(2026, 10, 28, 6, 0, 0)
let n = 0
const writeRow = (tag: string): AuditEntry => ({log_id: `log_${tag}_${++n}`, timestamp_ms: T0 + n, tenant_id: 'acme', operation: 'updateTenant', resource_type: 'tenant', resource_id: 'acme', status: 200, metadata: {actor: 'ops@host', reason: tag}})
const failureRow = (): AuditEntry => ({log_id: `log_fail_${++n}`, timestamp_ms: T0 + n, operation: 'POST:/v1/admin/budgets', status: 403, error_code: 'FORBIDDEN'})

/** Every chained row, in chain order. */
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

const open: EmbeddedStore[] = []
const openStore = async (dir: string) => {
  const s = await EmbeddedStore.open({stateDir: dir, fsyncIntervalMs: 0, now: () => T0 + 10_000})
  open.push(s)
  return s
}
const crash = (dir: string) => fs.rmSync(path.join(dir, 'daemon.lock'))

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined)
})

describe('embedded store: audit chain', () => {
  it('seals write rows in apply, leaves failed-request rows unchained, and keeps the head in the state', async () => {
    const store = await EmbeddedStore.open()
    expect(await headOf(store)).toBeUndefined()
    expect((await store.apply({audit: [writeRow('a'), failureRow(), writeRow('b')]})).ok).toBe(true)
    expect((await store.apply({audit: [writeRow('c')]})).ok).toBe(true)
    const rows = await chainOf(store)
    expect(rows.map((r) => [r.chain_seq, r.metadata?.reason])).toEqual([[1, 'a'], [2, 'b'], [3, 'c']])
    expect(rows[0].prev_hash).toBe(GENESIS_HASH)
    expect(await headOf(store)).toEqual({hash: rows[2].hash, seq: 3})
    const failed = (await store.listAudit({status: 403})).entries
    expect(failed).toHaveLength(1)
    expect(failed[0]).not.toHaveProperty('hash')
    expect(verifyAuditRows(rows, {head: await headOf(store)})).toMatchObject({ok: true, rows: 3})
    await store.close()
  })

  it('a failed transaction seals nothing: the chain has no hole where it was refused', async () => {
    const store = await EmbeddedStore.open()
    await store.apply({audit: [writeRow('a')]})
    const refused = await store.apply({deltas: [{book: 'real', scope: 'tenant:none', unit: 'TOKENS', add: {allocated: 1}}], audit: [writeRow('refused')]})
    expect(refused).toMatchObject({ok: false, failed: 'missing'})
    await store.apply({audit: [writeRow('b')]})
    const rows = await chainOf(store)
    expect(rows.map((r) => r.metadata?.reason)).toEqual(['a', 'b'])
    expect(verifyAuditRows(rows, {head: await headOf(store)}).ok).toBe(true)
    await store.close()
  })

  it('continues the chain across a crash (journal replay) and a clean restart (snapshot)', async () => {
    const dir = tempDir('cycles-audit-chain-')
    const first = await openStore(dir)
    for (const tag of ['a', 'b', 'c']) await first.apply({audit: [writeRow(tag)]})
    await first.flushed()
    // The journal line carries the sealed row, as the state holds it.
    const journal = fs.readFileSync(first.journalPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l.replace(/\s+#[0-9a-f]+$/, '')))
    const journaled = journal.map((l) => l.tx?.audit?.[0]).filter(Boolean)
    const before = await chainOf(first)
    expect(journaled.map((r: AuditEntry) => r.hash)).toEqual(before.map((r) => r.hash))
    crash(dir)
    open.splice(0)

    const second = await openStore(dir)
    expect(second.recovery.journalLines).toBe(3)
    expect(await chainOf(second)).toEqual(before)
    await second.apply({audit: [writeRow('d')]})
    await second.close()
    open.splice(0)

    const third = await openStore(dir)
    expect(third.recovery).toMatchObject({snapshotLoaded: true, journalLines: 0})
    await third.apply({audit: [writeRow('e')]})
    const rows = await chainOf(third)
    expect(rows.map((r) => [r.chain_seq, r.metadata?.reason])).toEqual([[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd'], [5, 'e']])
    expect(rows[3].prev_hash).toBe(before[2].hash) // the first row after the crash links to the last durable one
    expect(verifyAuditRows(rows, {head: await headOf(third)})).toMatchObject({ok: true, rows: 5, head_checked: true})
  })

  it('keeps the head when retention has dropped every row, so the next row still links', () => {
    const state = new MemoryState()
    state.apply({audit: [writeRow('old')]}, T0)
    const sealed = state.audit[0]
    state.prune(T0 + 401 * 86_400_000) // past the writes' 400 days
    expect(state.audit).toHaveLength(0)
    state.apply({audit: [writeRow('new')]}, T0 + 401 * 86_400_000)
    expect(state.audit[0]).toMatchObject({chain_seq: 2, prev_hash: sealed.hash})
  })

  it('a snapshot restore takes the rows as sealed: a row edited in the state directory is a break, not re-chained', () => {
    const state = new MemoryState()
    for (const tag of ['a', 'b', 'c']) state.apply({audit: [writeRow(tag)]}, T0)
    const head = structuredClone(state.snapshotHead())
    ;(head.audit[1].metadata as Record<string, unknown>).reason = 'edited on disk'
    const restored = new MemoryState()
    restored.restoreHead(head)
    expect(restored.audit[1].hash).toBe(state.audit[1].hash)
    expect(verifyAuditRows(restored.audit)).toMatchObject({ok: false, first_break: {index: 1, problem: 'hash_mismatch'}})
  })
})
