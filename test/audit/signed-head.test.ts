// The audit chain's signed head: a daemon signs the head with its log key, so someone who can write
// the store and rewrites a row, re-seals every later row and moves the head (which the chain alone
// cannot see) is caught, and a head re-signed with another key is refused once the key is pinned.
// Real daemon (embedded store), the admin API over a socket, and the built CLI.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AdminClient} from '../../src/client/admin-client.js'
import {HttpClient} from '../../src/client/http.js'
import {verifyAdminAuditChain} from '../../src/integrity/admin-audit-verify.js'
import {AUDIT_CHAIN_COLLECTION, AUDIT_HEAD_ID, sealAuditRows} from '../../src/integrity/audit-chain.js'
import {AUDIT_SIGNED_HEAD_ID, type SignedAuditHead, signAuditHead} from '../../src/integrity/audit-signed-head.js'
import {fetchAuditChain, verifyAuditRows} from '../../src/integrity/audit-verify.js'
import {generateSigningKey} from '../../src/integrity/signing.js'
import type {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {type TestDaemon, startTestDaemon} from '../support/daemon.js'
import {type CliResult, assertBuilt, cli} from '../admin/cli.js'
import {ADMIN_KEY, admin} from '../admin/support.js'

const CONFIG = `
tenants:
  - {id: acme, name: Acme Corp}
admin_key: ${ADMIN_KEY}
`

describe('audit chain: the signed head', () => {
  let d: TestDaemon
  let client: AdminClient
  let run: (args: string[]) => Promise<CliResult>
  let daemonKey: string

  const writeDoc = async (id: string, value: Record<string, unknown>) => {
    const result = await d.daemon.store.apply({docs: [{collection: AUDIT_CHAIN_COLLECTION, id, set: value}]})
    expect(result.ok).toBe(true)
  }
  const signedDoc = async () => (await d.daemon.store.getDocs(AUDIT_CHAIN_COLLECTION, [AUDIT_SIGNED_HEAD_ID]))[0]?.value as unknown as SignedAuditHead

  beforeAll(async () => {
    assertBuilt()
    d = await startTestDaemon(CONFIG, {adminPort: 0})
    client = new AdminClient(new HttpClient({baseUrl: d.daemon.adminUrl, headers: {'X-Admin-API-Key': ADMIN_KEY}, label: 'admin API', urlHint: ''}))
    const env = {CYCLES_ADMIN_URL: d.daemon.adminUrl, CYCLES_ADMIN_API_KEY: ADMIN_KEY}
    run = (args) => cli(args, env)
    daemonKey = d.daemon.logIdentity!.key.publicText
    for (const id of ['globex', 'initech', 'umbrella', 'hooli']) {
      expect((await admin(d.daemon.adminUrl, 'POST', '/v1/admin/tenants', {tenant_id: id, name: id})).status).toBe(201)
    }
  })
  afterAll(async () => d?.stop())

  it('a fresh daemon\'s chain is signed at start: a pinned verify right away is intact, not "unsigned"', async () => {
    const fresh = await startTestDaemon(CONFIG, {adminPort: 0})
    try {
      expect((await admin(fresh.daemon.adminUrl, 'POST', '/v1/admin/tenants', {tenant_id: 'initech', name: 'Initech'})).status).toBe(201)
      const freshClient = new AdminClient(new HttpClient({baseUrl: fresh.daemon.adminUrl, headers: {'X-Admin-API-Key': ADMIN_KEY}, label: 'admin API', urlHint: ''}))
      const report = await verifyAdminAuditChain(freshClient, [fresh.daemon.logIdentity!.key.publicKey])
      expect(report).toMatchObject({intact: true, signed_head: {ok: true, keys_pinned: true}})
    } finally {
      await fresh.stop()
    }
  })

  it('is signed by the daemon at its interval, reported with the rows after it as unsigned', async () => {
    expect(await d.daemon.auditSigner!.signNow()).toBe(true)
    expect(await d.daemon.auditSigner!.signNow()).toBe(false) // nothing moved since
    const {head} = await fetchAuditChain(client)
    const signed = await signedDoc()
    expect(signed).toMatchObject({v: 1, seq: head.seq, hash: head.hash, instance: d.daemon.logIdentity!.instanceId, public_key: daemonKey})
    expect(await verifyAdminAuditChain(client)).toMatchObject({intact: true, signed_head: {ok: true, seq: head.seq, unsigned_rows: 0, keys_pinned: false, row_retained: true}})

    expect((await admin(d.daemon.adminUrl, 'POST', '/v1/admin/tenants', {tenant_id: 'pied-piper', name: 'Pied Piper'})).status).toBe(201)
    const cliIntact = await run(['audit', 'verify', '--public-key', daemonKey])
    expect(cliIntact.code, cliIntact.stderr).toBe(0)
    expect(cliIntact.stdout).toContain(`signed head: seq ${head.seq}`)
    expect(cliIntact.stdout).toContain('1 row(s) after it are not signed yet')
  })

  it('catches rows rewritten and re-sealed up to a moved head, which the chain alone passes', async () => {
    expect(await d.daemon.auditSigner!.signNow()).toBe(true)
    const signed = await signedDoc()
    const state = (d.daemon.store as EmbeddedStore).state
    // The attacker edits row 2's reason, re-seals it and every later row, and moves the head to match.
    const chained = state.audit.filter((r) => r.hash !== undefined).sort((a, b) => a.chain_seq! - b.chain_seq!)
    const from = 1
    const resealed = sealAuditRows(
      chained.slice(from).map((r, i) => (i === 0 ? {...r, metadata: {...r.metadata, reason: 'nothing to see'}} : r)),
      {hash: chained[from - 1].hash!, seq: chained[from - 1].chain_seq!},
    )
    for (const row of resealed.rows) state.audit[state.audit.findIndex((r) => r.log_id === row.log_id)] = row
    await writeDoc(AUDIT_HEAD_ID, {hash: resealed.head.hash, seq: resealed.head.seq})

    const {rows, head} = await fetchAuditChain(client)
    expect(verifyAuditRows(rows, {head})).toMatchObject({ok: true}) // the chain alone: intact
    const report = await verifyAdminAuditChain(client)
    expect(report).toMatchObject({intact: false, signed_head: {ok: false, problem: 'head_mismatch', seq: signed.seq}})
    const cliBroken = await run(['audit', 'verify', '--json'])
    expect(cliBroken.code).toBe(13)
    expect(JSON.parse(cliBroken.stdout)).toMatchObject({intact: false, signed_head: {problem: 'head_mismatch', seq: signed.seq}})

    // Re-signing the forged head with a key of their own passes only while no key is pinned.
    const forger = generateSigningKey()
    await writeDoc(AUDIT_SIGNED_HEAD_ID, signAuditHead(head, {key: forger, instance: 'inst_forged', nowMs: Date.now()}) as unknown as Record<string, unknown>)
    expect(await verifyAdminAuditChain(client)).toMatchObject({intact: true, signed_head: {ok: true, public_key: forger.publicText, keys_pinned: false}})
    const pinned = await run(['audit', 'verify', '--public-key', daemonKey])
    expect(pinned.code).toBe(13)
    expect(pinned.stderr).toContain(`TAMPERED (unpinned_key)`)
    expect(pinned.stderr).toContain(forger.publicText)

    // An edited signed head (the seq moved back to before the rewrite) no longer verifies.
    await writeDoc(AUDIT_SIGNED_HEAD_ID, {...signed, seq: 1, hash: chained[0].hash!})
    expect(await verifyAdminAuditChain(client)).toMatchObject({intact: false, signed_head: {ok: false, problem: 'signature_invalid', seq: 1}})

    // And a removed signed head is refused when a key is pinned.
    const removed = await d.daemon.store.apply({docs: [{collection: AUDIT_CHAIN_COLLECTION, id: AUDIT_SIGNED_HEAD_ID, delete: true}]})
    expect(removed.ok).toBe(true)
    const unsigned = await run(['audit', 'verify', '--public-key', daemonKey, '--json'])
    expect(unsigned.code).toBe(13)
    expect(JSON.parse(unsigned.stdout)).toMatchObject({intact: false, signed_head: {ok: false, problem: 'unsigned'}})
    const badKey = await run(['audit', 'verify', '--public-key', 'not-a-key'])
    expect(badKey.code).toBe(2)
  })
})
