// The signed audit-chain head, in process: what checkSignedHead accepts and refuses (each problem
// by name), and the signer signing only when the head moved, once across racing instances.
import {describe, expect, it} from 'vitest'

import {AUDIT_CHAIN_COLLECTION, AUDIT_HEAD_ID, sealAuditRows} from '../../src/integrity/audit-chain.js'
import {AUDIT_SIGNED_HEAD_ID, AuditHeadSigner, checkSignedHead, signAuditHead, signedHeadFromDoc} from '../../src/integrity/audit-signed-head.js'
import {generateSigningKey} from '../../src/integrity/signing.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'

const key = generateSigningKey()
const other = generateSigningKey()
const rows = [1, 2, 3, 4, 5].map((seq) => ({chain_seq: seq, hash: `${seq}`.repeat(64).slice(0, 64)}))
const head = {seq: 5, hash: rows[4].hash}
const signedAt = (seq: number, by = key) => signAuditHead({seq, hash: rows[seq - 1].hash}, {key: by, instance: 'inst_a', nowMs: 1_750_000_000_000})

describe('checkSignedHead', () => {
  it('accepts a head signed at a row whose hash it holds, counting the rows after it', () => {
    expect(checkSignedHead(signedAt(3), rows, head)).toEqual({ok: true, seq: 3, ts: '2025-06-15T15:06:40.000Z', instance: 'inst_a', public_key: key.publicText, keys_pinned: false, unsigned_rows: 2, row_retained: true})
    expect(checkSignedHead(signedAt(5), rows, head, [key.publicKey])).toMatchObject({ok: true, keys_pinned: true, unsigned_rows: 0})
    // Its row past retention: nothing to compare, said so.
    expect(checkSignedHead(signedAt(3), rows.slice(3), head)).toMatchObject({ok: true, row_retained: false})
  })

  it('refuses a rewritten row, a head ahead of the chain, an edited signature, a foreign key when keys are pinned', () => {
    const rewritten = rows.map((r) => (r.chain_seq === 3 ? {...r, hash: 'f'.repeat(64)} : r))
    expect(checkSignedHead(signedAt(3), rewritten, head)).toMatchObject({ok: false, problem: 'head_mismatch', seq: 3})
    expect(checkSignedHead(signedAt(5), rows, {seq: 4, hash: rows[3].hash})).toMatchObject({ok: false, problem: 'head_mismatch', seq: 5})
    expect(checkSignedHead({...signedAt(3), seq: 2}, rows, head)).toMatchObject({ok: false, problem: 'signature_invalid', seq: 2})
    expect(checkSignedHead({...signedAt(3), hash: rows[1].hash}, rows, head)).toMatchObject({ok: false, problem: 'signature_invalid'})
    expect(checkSignedHead(signedAt(3, other), rows, head)).toMatchObject({ok: true, public_key: other.publicText})
    expect(checkSignedHead(signedAt(3, other), rows, head, [key.publicKey])).toMatchObject({ok: false, problem: 'unpinned_key', seq: 3})
    expect(checkSignedHead(signedAt(3, other), rows, head, [key.publicKey, other.publicKey])).toMatchObject({ok: true, keys_pinned: true})
  })

  it('takes only the ed25519:<x> form from the stored doc (never a path for the verifier to open)', () => {
    expect(checkSignedHead({...signedAt(3), public_key: '/etc/hostname'}, rows, head)).toMatchObject({ok: false, problem: 'signature_invalid'})
  })

  it('no signed head: nothing to say unless keys are pinned and rows exist', () => {
    expect(checkSignedHead(undefined, rows, head)).toBeUndefined()
    expect(checkSignedHead(undefined, [], {seq: 0, hash: '0'.repeat(64)}, [key.publicKey])).toBeUndefined()
    expect(checkSignedHead(undefined, rows, head, [key.publicKey])).toMatchObject({ok: false, problem: 'unsigned'})
  })

  it('reads a doc back only when it has every field', () => {
    const doc = signedAt(2) as unknown as Record<string, unknown>
    expect(signedHeadFromDoc(doc)).toEqual(doc)
    expect(signedHeadFromDoc(undefined)).toBeUndefined()
    for (const field of ['hash', 'ts', 'instance', 'public_key', 'signature']) expect(signedHeadFromDoc({...doc, [field]: 7})).toBeUndefined()
    expect(signedHeadFromDoc({...doc, seq: 1.5})).toBeUndefined()
    expect(signedHeadFromDoc({...doc, v: 2})).toBeUndefined()
  })
})

describe('AuditHeadSigner', () => {
  it('signs when the head moved past the signed one, not otherwise; of two racing instances one writes', async () => {
    const store = await EmbeddedStore.open()
    try {
      let now = 1_750_000_000_000
      const signer = (instance: string) => new AuditHeadSigner({store, key, instance, now: () => now, intervalMs: 60_000})
      const a = signer('inst_a')
      const read = async () => signedHeadFromDoc((await store.getDocs(AUDIT_CHAIN_COLLECTION, [AUDIT_SIGNED_HEAD_ID]))[0]?.value)
      expect(await a.tick()).toBe(true) // the empty chain is signed too: a signed head exists from the first row on
      expect(await read()).toMatchObject({seq: 0, hash: '0'.repeat(64)})
      expect(checkSignedHead(await read(), [], {seq: 0, hash: '0'.repeat(64)}, [key.publicKey])).toMatchObject({ok: true, row_retained: true, unsigned_rows: 0})
      const setHead = async (seq: number) => expect((await store.apply({docs: [{collection: AUDIT_CHAIN_COLLECTION, id: AUDIT_HEAD_ID, set: {seq, hash: rows[seq - 1].hash}}]})).ok).toBe(true)
      await setHead(2)
      expect(await a.tick()).toBe(false) // moved, but signed less than an interval ago
      now += 60_000
      expect(await a.tick()).toBe(true)
      expect(await a.tick()).toBe(false)
      expect(await read()).toMatchObject({seq: 2, hash: rows[1].hash, instance: 'inst_a', ts: new Date(now).toISOString()})
      now += 1000
      await setHead(3)
      expect(await a.tick()).toBe(false) // moved, but signed less than an interval ago
      expect(await read()).toMatchObject({seq: 2})
      now += 58_999
      expect(await a.tick()).toBe(false)
      now += 1
      await setHead(4)
      const results = await Promise.all([signer('inst_b').tick(), signer('inst_c').tick()])
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await read()).toMatchObject({seq: 4, hash: rows[3].hash, ts: new Date(now).toISOString()})
      expect(checkSignedHead(await read(), rows, {seq: 4, hash: rows[3].hash}, [key.publicKey])).toMatchObject({ok: true, unsigned_rows: 0})
      // stop() signs what moved since, interval or not.
      await setHead(5)
      await a.stop()
      expect(await read()).toMatchObject({seq: 5})
    } finally {
      await store.close()
    }
  })

  it('start() signs a chain that has no signed head at once, without waiting for the interval', async () => {
    const store = await EmbeddedStore.open()
    const signer = new AuditHeadSigner({store, key, instance: 'inst_a', now: () => 1_750_000_000_000, intervalMs: 3_600_000, pollMs: 3_600_000})
    try {
      expect((await store.apply({docs: [{collection: AUDIT_CHAIN_COLLECTION, id: AUDIT_HEAD_ID, set: {seq: 3, hash: rows[2].hash}}]})).ok).toBe(true)
      await signer.start()
      await signer.stop() // nothing left to sign after the start's signature
      const [doc] = await store.getDocs(AUDIT_CHAIN_COLLECTION, [AUDIT_SIGNED_HEAD_ID])
      expect(doc?.version).toBe(1)
      expect(signedHeadFromDoc(doc?.value)).toMatchObject({seq: 3})
    } finally {
      await store.close()
    }
  })
})

describe('AuditHeadSigner refuses a chain that does not extend the head it signed', () => {
  const audit = (i: number) => ({log_id: `log_${i}`, timestamp_ms: 1_750_000_000_000 + i, tenant_id: 'acme', operation: 'createTenant', resource_type: 'tenant', resource_id: `t${i}`, status: 201})

  it('rows rewritten and re-sealed up to a moved head, or its signed head deleted to get that head signed: no signature, one log line', async () => {
    const store = await EmbeddedStore.open()
    const lines: string[] = []
    const signer = new AuditHeadSigner({store, key, instance: 'inst_a', now: () => 1_750_000_000_000, intervalMs: 60_000, log: (l) => lines.push(l)})
    try {
      for (let i = 1; i <= 4; i++) expect((await store.apply({audit: [audit(i)]})).ok).toBe(true)
      expect(await signer.signNow()).toBe(true)
      const honest = (await store.getDocs(AUDIT_CHAIN_COLLECTION, [AUDIT_SIGNED_HEAD_ID]))[0]!.value
      expect(honest).toMatchObject({seq: 4})
      for (let i = 5; i <= 6; i++) expect((await store.apply({audit: [audit(i)]})).ok).toBe(true)
      expect(await signer.signNow()).toBe(true) // the honest extension is signed
      expect(signer.refusal).toBeUndefined()
      expect((await store.apply({audit: [audit(7)]})).ok).toBe(true)

      // Someone with the store: row 2 edited, rows 2..7 re-sealed, the head moved, the signed head deleted.
      const state = store.state
      const chained = state.audit.filter((r) => r.hash !== undefined).sort((x, y) => x.chain_seq! - y.chain_seq!)
      const resealed = sealAuditRows(chained.slice(1).map((r, i) => (i === 0 ? {...r, resource_id: 'forged'} : r)), {hash: chained[0].hash!, seq: 1})
      for (const row of resealed.rows) state.audit[state.audit.findIndex((r) => r.log_id === row.log_id)] = row
      expect((await store.apply({docs: [{collection: AUDIT_CHAIN_COLLECTION, id: AUDIT_HEAD_ID, set: {...resealed.head}}, {collection: AUDIT_CHAIN_COLLECTION, id: AUDIT_SIGNED_HEAD_ID, delete: true}]})).ok).toBe(true)

      expect(await signer.signNow()).toBe(false)
      expect(await signer.tick()).toBe(false)
      expect((await store.getDocs(AUDIT_CHAIN_COLLECTION, [AUDIT_SIGNED_HEAD_ID]))[0]).toBeUndefined()
      expect(signer.refusal).toBe('row 6 no longer has the hash this daemon signed (rows were rewritten)')
      expect(lines.filter((l) => l.includes('NOT signing'))).toHaveLength(1)
      // What a verifier pinning the key then sees: no signed head.
      expect(checkSignedHead(undefined, state.audit, resealed.head, [key.publicKey])).toMatchObject({ok: false, problem: 'unsigned'})

      // A new signer (a restart) with the forged chain: its own signature is gone, so it trusts what it finds.
      const restarted = new AuditHeadSigner({store, key, instance: 'inst_a', now: () => 1_750_000_000_000, intervalMs: 60_000})
      expect(await restarted.signNow()).toBe(true)
    } finally {
      await store.close()
    }
  })

  it('after a restart its own signature in the store is the anchor', async () => {
    const store = await EmbeddedStore.open()
    try {
      for (let i = 1; i <= 3; i++) expect((await store.apply({audit: [audit(i)]})).ok).toBe(true)
      expect(await new AuditHeadSigner({store, key, instance: 'inst_a', now: () => 1_750_000_000_000, intervalMs: 60_000}).signNow()).toBe(true)
      // Row 3 rewritten and the head moved to match, then a restarted signer looks.
      const state = store.state
      const chained = state.audit.filter((r) => r.hash !== undefined).sort((x, y) => x.chain_seq! - y.chain_seq!)
      const resealed = sealAuditRows([{...chained[2], resource_id: 'forged'}], {hash: chained[1].hash!, seq: 2})
      state.audit[state.audit.findIndex((r) => r.log_id === chained[2].log_id)] = resealed.rows[0]
      expect((await store.apply({audit: [audit(4)]})).ok).toBe(true) // sealed on the moved head
      const restarted = new AuditHeadSigner({store, key, instance: 'inst_b', now: () => 1_750_000_000_000, intervalMs: 60_000})
      expect(await restarted.signNow()).toBe(false)
      expect(restarted.refusal).toBe('row 3 no longer has the hash this daemon signed (rows were rewritten)')
      // Signed by another key, the stored head is no anchor: a restarted signer with a different key trusts what it finds.
      expect(await new AuditHeadSigner({store, key: other, instance: 'inst_c', now: () => 1_750_000_000_000, intervalMs: 60_000}).signNow()).toBe(true)
    } finally {
      await store.close()
    }
  })
})
