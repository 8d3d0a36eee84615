// Who, what and why, end to end: every runbook command that changes something, run with the built
// CLI against a real daemon, leaves audit rows carrying its actor (--actor, CYCLES_ACTOR, or
// user@host) and its reason; `audit list` shows them and refuses unknown filter values; `audit
// export` writes the chain with its fields; the chain read through the admin API verifies, and an
// edit to a stored row is located.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AdminClient, type AuditEntryWire} from '../../src/client/admin-client.js'
import {HttpClient} from '../../src/client/http.js'
import {auditEntryFromWire, fetchAuditChain, verifyAuditRows} from '../../src/integrity/audit-verify.js'
import type {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {type TestDaemon, startTestDaemon, tempDir} from '../support/daemon.js'
import {type CliResult, assertBuilt, cli} from '../admin/cli.js'
import {ADMIN_KEY, admin} from '../admin/support.js'

const CONFIG = `
tenants:
  - {id: acme, name: Acme Corp}
api_keys:
  - {tenant: acme, secret: cyc_test_acme_0123456789abcdef}
budgets:
  - {scope: tenant:acme, unit: USD_MICROCENTS, allocated: 100000000}
admin_key: ${ADMIN_KEY}
`

describe('audit: who, what and why through the runbook commands', () => {
  let d: TestDaemon
  let env: Record<string, string>
  let client: AdminClient
  const run = (args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> => cli(args, {...env, ...extraEnv})
  /** log_ids present before the commands ran (the config seed). */
  let seeded: Set<string>

  async function allRows(): Promise<AuditEntryWire[]> {
    return client.all((cursor) => client.listAudit({limit: 100, cursor}))
  }

  beforeAll(async () => {
    assertBuilt()
    d = await startTestDaemon(CONFIG, {adminPort: 0})
    env = {CYCLES_ADMIN_URL: d.daemon.adminUrl, CYCLES_BASE_URL: d.url, CYCLES_ADMIN_API_KEY: ADMIN_KEY}
    client = new AdminClient(new HttpClient({baseUrl: d.daemon.adminUrl, headers: {'X-Admin-API-Key': ADMIN_KEY}, label: 'admin API', urlHint: ''}))
    seeded = new Set((await allRows()).map((r) => r.log_id))
  })
  afterAll(async () => d?.stop())

  it('every mutating runbook command records its actor and reason', async () => {
    const actor = 'alice@ops-laptop'
    const scope = 'tenant:globex'
    // [command, the operation(s) its rows carry]; each gets its own reason.
    const steps: Array<[string[], string[]]> = [
      [['tenant', 'create', 'globex', '--name', 'Globex'], ['createTenant']],
      [['budget', 'create', '--scope', scope, '--unit', 'USD_MICROCENTS', '--usd', '5'], ['createBudget']],
      [['budget', 'credit', '--scope', scope, '--unit', 'USD_MICROCENTS', '--usd', '2'], ['fundBudget']],
      [['budget', 'debit', '--scope', scope, '--unit', 'USD_MICROCENTS', '--usd', '1'], ['fundBudget']],
      [['budget', 'reset', '--scope', scope, '--unit', 'USD_MICROCENTS', '--usd', '9'], ['fundBudget']],
      [['budget', 'reset-spent', '--scope', scope, '--unit', 'USD_MICROCENTS', '--usd', '9'], ['fundBudget']],
      [['budget', 'repay-debt', '--scope', scope, '--unit', 'USD_MICROCENTS', '--amount', '1'], ['fundBudget']],
      [['budget', 'freeze', '--scope', scope, '--unit', 'USD_MICROCENTS'], ['freezeBudget']],
      [['budget', 'unfreeze', '--scope', scope, '--unit', 'USD_MICROCENTS'], ['unfreezeBudget']],
      [['api-key', 'create', '--tenant', 'globex', '--name', 'bot'], ['createApiKey']],
      [['tier', 'set', 'low', 'enforce', '--percent', '50'], ['control.tier.set']],
      [['killswitch', 'engage'], ['control.killswitch.engage']],
      [['killswitch', 'release'], ['control.killswitch.release']],
      [['rollout', 'rollback', '--tier', 'low'], ['rollout.rollback']],
      [['tenant', 'suspend', 'globex'], ['updateTenant']],
      [['tenant', 'reactivate', 'globex'], ['updateTenant']],
    ]
    const ran: Array<{reason: string; operations: string[]}> = []
    for (const [i, [args, operations]] of steps.entries()) {
      const reason = `CHG-${i}: ${args.slice(0, 2).join(' ')} — review`
      const r = await run([...args, '--reason', reason, '--actor', actor, '--yes', '--json'])
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0)
      ran.push({reason, operations})
    }
    // The key made above: revoked and rotated, the actor from the environment this time.
    const keyId = (await client.listApiKeys({tenant_id: 'globex'})).items[0].key_id
    const rotate = await run(['api-key', 'rotate', keyId, '--reason', 'CHG-r: rotate', '--yes', '--json'], {CYCLES_ACTOR: 'ci@pipeline'})
    expect(rotate.code, rotate.stderr).toBe(0)
    const newKey = (await client.listApiKeys({tenant_id: 'globex'})).items.find((k) => k.status === 'ACTIVE')!.key_id
    const revoke = await run(['api-key', 'revoke', newKey, '--reason', 'CHG-v: revoke', '--yes', '--json'], {CYCLES_ACTOR: 'ci@pipeline'})
    expect(revoke.code, revoke.stderr).toBe(0)
    // No --actor, no CYCLES_ACTOR: the user and host.
    const close = await run(['tenant', 'close', 'globex', '--confirm', 'globex', '--reason', 'CHG-c: close', '--yes', '--json'])
    expect(close.code, close.stderr).toBe(0)

    const rows = (await allRows()).filter((r) => !seeded.has(r.log_id) && r.status < 400)
    for (const {reason, operations} of ran) {
      const mine = rows.filter((r) => r.metadata?.reason === reason)
      expect(mine.map((r) => r.operation), reason).toEqual(operations)
      for (const r of mine) expect(r.metadata?.actor, reason).toBe(actor)
    }
    const byReason = (reason: string) => rows.filter((r) => r.metadata?.reason === reason)
    expect(byReason('CHG-r: rotate').map((r) => [r.operation, r.metadata?.actor]).sort()).toEqual([['createApiKey', 'ci@pipeline'], ['revokeApiKey', 'ci@pipeline']])
    expect(byReason('CHG-v: revoke').map((r) => [r.operation, r.metadata?.actor])).toEqual([['revokeApiKey', 'ci@pipeline']])
    const closing = byReason('CHG-c: close')
    expect(closing.map((r) => r.operation)).toContain('updateTenant')
    for (const r of closing) expect(r.metadata?.actor).toBe(`${os.userInfo().username}@${os.hostname()}`)
    // Nothing written by these commands lacks who or why.
    expect(rows.filter((r) => !r.metadata?.actor || !r.metadata?.reason)).toEqual([])

    // Funding rows: operation, amount and before/after.
    const credit = byReason(ran[2].reason)[0]
    expect(credit.metadata).toMatchObject({operation: 'CREDIT', amount: 200_000_000, unit: 'USD_MICROCENTS', previous_allocated: 500_000_000, new_allocated: 700_000_000})
    expect(credit.metadata).toHaveProperty('previous_remaining')
    expect(credit.metadata).toHaveProperty('new_debt')

    // The whole chain, read through the admin API, verifies against the head.
    const {rows: chain, head} = await fetchAuditChain(client, 7)
    expect(chain.length).toBe(head.seq)
    expect(verifyAuditRows(chain, {head})).toMatchObject({ok: true, head_checked: true, anchor: {genesis: true}})
  }, 300_000) // twenty CLI processes on a shared 2-core machine

  it('audit list shows actor, operation, resource, amount and reason', async () => {
    await run(['budget', 'credit', '--scope', 'tenant:acme', '--unit', 'USD_MICROCENTS', '--usd', '3', '--reason', 'INC-7 agents blocked', '--actor', 'bob@oncall', '--yes'])
    const table = await run(['audit', 'list', '--operation', 'fundbudget', '--limit', '1'], {CYCLES_TABLE: 'tsv'})
    expect(table.code, table.stderr).toBe(0)
    const [line] = table.stdout.trim().split('\n')
    const [, who, operation, resource, amount, reason, status] = line.split('\t')
    expect({who, operation, resource, amount, reason, status}).toEqual({
      who: 'bob@oncall',
      operation: 'fundBudget CREDIT',
      resource: 'budget:tenant:acme:USD_MICROCENTS',
      amount: '$3.00 ($1.00 → $4.00)',
      reason: 'INC-7 agents blocked',
      status: '200',
    })
  })

  it('audit list refuses an unknown resource type or operation with the valid values (exit 2)', async () => {
    const badType = await run(['audit', 'list', '--resource-type', 'budgte'])
    expect(badType.code).toBe(2)
    expect(badType.stderr).toContain("--resource-type: unknown value 'budgte'")
    expect(badType.stderr).toContain('tenant, budget, api_key')
    expect(badType.stderr).toContain('--resource-type budget') // the suggestion
    const badOp = await run(['audit', 'list', '--operation', 'fundBudget,fundBudgets', '--json'])
    expect(badOp.code).toBe(2)
    expect(badOp.json).toMatchObject({error: {code: 'USAGE'}})
    expect(badOp.json.error.message).toContain("unknown value 'fundBudgets'")
    // Case-insensitive names and failed requests' METHOD:/path are accepted.
    expect((await run(['audit', 'list', '--operation', 'FUNDBUDGET,POST:/v1/admin/budgets', '--resource-type', 'Budget'])).code).toBe(0)
  })

  it('audit export writes the chain as JSON lines and CSV, with its fields, for a time window', async () => {
    const dir = tempDir('cycles-audit-export-')
    const jsonl = path.join(dir, 'audit.jsonl')
    const all = await run(['audit', 'export', '--format', 'jsonl', '--output', jsonl])
    expect(all.code, all.stderr).toBe(0)
    const lines = fs.readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.length).toBeGreaterThan(10)
    expect(lines.map((l) => l.chain_seq)).toEqual(lines.map((_, i) => i + 1))
    expect(Object.keys(lines[0]).slice(-2)).toEqual(['prev_hash', 'hash'])
    expect(all.stderr).toContain(`${lines.length} audit row(s) exported (chain_seq 1–${lines.length})`)
    expect(all.stderr).toContain('the rows chain unbroken')
    expect(verifyAuditRows(lines.map(auditEntryFromWire))).toMatchObject({ok: true, rows: lines.length})

    // A window: rows from the 5th row's time on, to stdout, as CSV.
    const from = lines[4].timestamp
    const csv = await run(['audit', 'export', '--format', 'csv', '--from', from])
    expect(csv.code, csv.stderr).toBe(0)
    const [header, ...records] = csv.stdout.trimEnd().split('\r\n')
    expect(header.split(',')).toEqual(expect.arrayContaining(['chain_seq', 'actor', 'reason', 'amount', 'prev_hash', 'hash']))
    const expected = lines.filter((l) => l.timestamp >= from)
    expect(records).toHaveLength(expected.length)
    const cols = header.split(',')
    const first = records[0].match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.map((f) => f.replace(/,$/, ''))
    expect(first[cols.indexOf('hash')]).toBe(expected[0].hash)
    expect(first[cols.indexOf('chain_seq')]).toBe(String(expected[0].chain_seq))

    const bad = await run(['audit', 'export', '--format', 'xml'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('jsonl, csv')
  })

  it('a stored row edited behind the daemon\'s back is located through the admin API, and by `cycles audit verify --admin-url` (exit 13)', async () => {
    const intact = await run(['audit', 'verify', '--json'])
    expect(intact.code).toBe(0)
    expect(JSON.parse(intact.stdout)).toMatchObject({intact: true, head_checked: true})
    const state = (d.daemon.store as EmbeddedStore).state
    const victim = state.audit[3]
    victim.metadata = {...victim.metadata, reason: 'nothing happened here'}
    const {rows, head} = await fetchAuditChain(client)
    expect(verifyAuditRows(rows, {head})).toMatchObject({ok: false, first_break: {index: 3, log_id: victim.log_id, problem: 'hash_mismatch'}})
    const broken = await run(['audit', 'verify', '--json'])
    expect(broken.code).toBe(13)
    expect(JSON.parse(broken.stdout)).toMatchObject({intact: false, break: {index: 3, log_id: victim.log_id, problem: 'hash_mismatch'}})
    const text = await run(['audit', 'verify'])
    expect(text.code).toBe(13)
    expect(text.stderr).toContain(victim.log_id)
  })

  it('the admin plane stores the actor header even from a plain HTTP client, percent-decoded', async () => {
    const r = await admin(d.daemon.adminUrl, 'POST', '/v1/admin/tenants', {tenant_id: 'initech', name: 'Initech'}, {'X-Cycles-Actor': encodeURIComponent('zoë@büro'), 'X-Cycles-Reason': encodeURIComponent('onboarding — TKT-9')})
    expect(r.status).toBe(201)
    const [row] = (await client.listAudit({resource_id: 'initech', operation: 'createTenant'})).items
    expect(row.metadata).toMatchObject({actor: 'zoë@büro', reason: 'onboarding — TKT-9'})
  })
})
