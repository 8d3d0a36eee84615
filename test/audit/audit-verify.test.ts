// The audit chain's encoding and its verifier: every tampering case is detected and located, the
// oldest retained row anchors a chain whose start retention dropped, and the admin API's wire form
// verifies the same as the stored rows.
import {describe, expect, it} from 'vitest'

import {auditWire} from '../../src/admin/wire.js'
import {AUDIT_GENESIS, sealAuditRow, sealAuditRows} from '../../src/integrity/audit-chain.js'
import type {AdminClient, AuditChainPage} from '../../src/client/admin-client.js'
import {auditEntryFromWire, fetchAuditChain, verifyAuditRows} from '../../src/integrity/audit-verify.js'
import {GENESIS_HASH} from '../../src/integrity/chain.js'
import type {AuditEntry} from '../../src/store/types.js'

const T0 = Date.UTC(2026, 10, 28, 6, 0, 0)

function row(i: number, extra: Partial<AuditEntry> = {}): AuditEntry {
  return {
    log_id: `log_${String(i).padStart(4, '0')}`,
    timestamp_ms: T0 + i * 1000,
    tenant_id: 'acme',
    actor_type: 'admin_on_behalf_of',
    operation: 'fundBudget',
    resource_type: 'budget',
    resource_id: 'tenant:acme:USD_MICROCENTS',
    status: 200,
    request_id: `req-${i}`,
    metadata: {actor: 'alice@ops', reason: `top-up ${i}`, operation: 'CREDIT', amount: 1000 * i, unit: 'USD_MICROCENTS'},
    ...extra,
  }
}

function chain(n: number): AuditEntry[] {
  return sealAuditRows(Array.from({length: n}, (_, i) => row(i + 1)), AUDIT_GENESIS).rows
}

const clone = (rows: AuditEntry[]): AuditEntry[] => structuredClone(rows)

describe('verifyAuditRows', () => {
  it('accepts an intact chain from the genesis and numbers it 1..n', () => {
    const rows = chain(6)
    expect(rows.map((r) => r.chain_seq)).toEqual([1, 2, 3, 4, 5, 6])
    expect(rows[0].prev_hash).toBe(GENESIS_HASH)
    for (let i = 1; i < rows.length; i++) expect(rows[i].prev_hash).toBe(rows[i - 1].hash)
    expect(verifyAuditRows(rows, {head: {hash: rows[5].hash!, seq: 6}})).toEqual({
      ok: true,
      rows: 6,
      anchor: {prev_hash: GENESIS_HASH, genesis: true, first_log_id: 'log_0001', first_seq: 1, unchained_before: 0},
      head_checked: true,
    })
  })

  it('an edited field: hash_mismatch at that row', () => {
    const rows = clone(chain(6))
    ;(rows[3].metadata as Record<string, unknown>).reason = 'nothing to see'
    const result = verifyAuditRows(rows)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.first_break).toMatchObject({index: 3, log_id: 'log_0004', problem: 'hash_mismatch'})
  })

  it('an edited top-level field (the status, the actor type) is caught as well', () => {
    for (const edit of [(r: AuditEntry) => (r.status = 201), (r: AuditEntry) => (r.actor_type = 'admin'), (r: AuditEntry) => (r.timestamp_ms += 1)]) {
      const rows = clone(chain(4))
      edit(rows[1])
      const result = verifyAuditRows(rows)
      expect(result.ok ? undefined : result.first_break).toMatchObject({index: 1, problem: 'hash_mismatch'})
    }
  })

  it('a deleted row: prev_mismatch at its successor, with the gap in chain_seq named', () => {
    const rows = chain(6)
    const cut = [...rows.slice(0, 2), ...rows.slice(3)]
    const result = verifyAuditRows(cut)
    expect(result.ok ? undefined : result.first_break).toMatchObject({index: 2, log_id: 'log_0004', problem: 'prev_mismatch'})
    expect(result.ok ? '' : result.first_break.detail).toContain('chain_seq jumps from 2 to 4: 1 row(s) missing')
  })

  it('an inserted row sealed by someone without the chain head: prev_mismatch at the insertion', () => {
    const rows = chain(5)
    const forged = sealAuditRow(row(99), {hash: 'f'.repeat(64), seq: 2}).row
    const result = verifyAuditRows([...rows.slice(0, 2), forged, ...rows.slice(2)])
    expect(result.ok ? undefined : result.first_break).toMatchObject({index: 2, log_id: 'log_0099', problem: 'prev_mismatch'})
  })

  it('two rows swapped: prev_mismatch at the first of them', () => {
    const rows = chain(5)
    const swapped = [rows[0], rows[2], rows[1], rows[3], rows[4]]
    expect(verifyAuditRows(swapped)).toMatchObject({ok: false, first_break: {index: 1, log_id: 'log_0003', problem: 'prev_mismatch'}})
  })

  it('a row stripped of its chain fields in the middle: unchained', () => {
    const rows = clone(chain(4))
    delete rows[2].hash
    delete rows[2].prev_hash
    expect(verifyAuditRows(rows)).toMatchObject({ok: false, first_break: {index: 2, problem: 'unchained'}})
  })

  it('a renumbered row that still links: seq_gap', () => {
    // Re-sealing a row against the right predecessor with a wrong position links, but the numbering tells.
    const rows = chain(3)
    const renumbered = sealAuditRow(row(3), {hash: rows[1].hash!, seq: 7}).row
    expect(verifyAuditRows([rows[0], rows[1], renumbered])).toMatchObject({ok: false, first_break: {index: 2, problem: 'seq_gap'}})
  })

  it('a truncated tail: caught against the chain head, invisible without it', () => {
    const rows = chain(6)
    const head = {hash: rows[5].hash!, seq: 6}
    const truncated = rows.slice(0, 4)
    expect(verifyAuditRows(truncated).ok).toBe(true)
    const result = verifyAuditRows(truncated, {head})
    expect(result).toMatchObject({ok: false, first_break: {index: 4, problem: 'truncated_tail'}})
    expect(result.ok ? '' : result.first_break.detail).toContain('chain_seq 6')
  })

  it('rows sealed after the head was read are not held against it', () => {
    const rows = chain(6)
    expect(verifyAuditRows(rows, {head: {hash: rows[3].hash!, seq: 4}})).toMatchObject({ok: true, head_checked: true})
  })

  it('retention dropped the oldest rows: the oldest retained prev_hash is the anchor, and the report says so', () => {
    const rows = chain(8)
    const retained = rows.slice(3)
    expect(verifyAuditRows(retained)).toEqual({
      ok: true,
      rows: 5,
      anchor: {prev_hash: rows[2].hash, genesis: false, first_log_id: 'log_0004', first_seq: 4, unchained_before: 0},
      head_checked: false,
    })
  })

  it('rows written before chaining existed may lead; they are counted, not verified', () => {
    const legacy = [row(1), row(2)]
    const sealed = sealAuditRows([row(3), row(4)], AUDIT_GENESIS).rows
    expect(verifyAuditRows([...legacy, ...sealed])).toMatchObject({ok: true, rows: 4, anchor: {unchained_before: 2, first_log_id: 'log_0003', genesis: true}})
  })

  it('failed-request rows are not sealed (their class is not chained)', () => {
    const failed = row(5, {status: 403, error_code: 'FORBIDDEN'})
    const {rows, head} = sealAuditRows([row(1), failed, row(2)], AUDIT_GENESIS)
    expect(rows[1]).toEqual(failed)
    expect(head.seq).toBe(2)
    expect(rows[2].prev_hash).toBe(rows[0].hash)
  })

  it('verifies the same through the admin API wire form (actor_type folded into metadata, ISO time)', () => {
    const rows = chain(4)
    const wire = rows.map((r) => auditWire(r))
    expect(wire[0]).toMatchObject({chain_seq: 1, prev_hash: GENESIS_HASH, metadata: {actor: 'alice@ops', actor_type: 'admin_on_behalf_of'}})
    const back = JSON.parse(JSON.stringify(wire)).map(auditEntryFromWire)
    expect(verifyAuditRows(back)).toMatchObject({ok: true, rows: 4})
    back[2].metadata.amount = 1
    expect(verifyAuditRows(back)).toMatchObject({ok: false, first_break: {index: 2, problem: 'hash_mismatch'}})
  })
})

describe('fetchAuditChain', () => {
  /** An admin client serving `rows` as the daemon's order=chain listing does, with `head` as its chain head. */
  function serving(rows: AuditEntry[], head: {hash: string; seq: number}, calls: number[] = []): AdminClient {
    return {
      http: {baseUrl: 'http://127.0.0.1:7979'},
      async listAuditChain(after: number, limit: number): Promise<AuditChainPage> {
        calls.push(after)
        const rest = rows.filter((r) => r.chain_seq! > after)
        return {logs: rest.slice(0, limit).map((r) => auditWire(r) as never), chain_head: head, has_more: rest.length > limit}
      },
    } as unknown as AdminClient
  }

  it('pages the chain oldest first and stops at the head it read first', async () => {
    const rows = chain(8)
    const calls: number[] = []
    const fetched = await fetchAuditChain(serving(rows, {hash: rows[5].hash!, seq: 6}, calls), 3)
    expect(calls).toEqual([0, 3])
    expect(fetched.head).toEqual({hash: rows[5].hash, seq: 6})
    expect(fetched.rows.map((r) => r.log_id)).toEqual(rows.map((r) => r.log_id).slice(0, 6))
    expect(verifyAuditRows(fetched.rows, {head: fetched.head})).toMatchObject({ok: true, rows: 6})
  })

  it('says so when the admin API does not serve the chain (a reference server)', async () => {
    const reference = {http: {baseUrl: 'http://ref:7979'}, listAuditChain: async () => ({logs: [], has_more: false})} as unknown as AdminClient
    await expect(fetchAuditChain(reference)).rejects.toMatchObject({code: 'AUDIT_CHAIN_UNSUPPORTED', exit: 1})
  })
})
