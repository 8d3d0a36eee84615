// The operator scenarios, played with the built CLI as a child process against a real
// daemon (runtime + admin plane on real sockets).
import os from 'node:os'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {specErrors} from '../support/spec.js'
import {type CliResult, assertBuilt, cli} from './cli.js'
import {ACME_KEY, ADMIN_KEY, admin, dryRun} from './support.js'

const CONFIG = `
tenants:
  - {id: acme, name: Acme Corp}
  - {id: wayne-corp, name: Wayne Corp}
api_keys:
  - {tenant: acme, secret: ${ACME_KEY}}
  - {tenant: wayne-corp, secret: cyc_test_wayne_0123456789abcdef}
budgets:
  - {scope: tenant:acme, unit: RISK_POINTS, allocated: 10000}
  - {scope: tenant:acme/agent:primary, unit: RISK_POINTS, allocated: 100}
  - {scope: tenant:acme/agent:helper, unit: USD_MICROCENTS, allocated: 100000000}
  - {scope: tenant:wayne-corp, unit: TOKENS, allocated: 100000}
tiers:
  low:    {mode: enforce, match: ["search.*"]}
  medium: {mode: enforce, match: ["llm.*"]}
  high:   {mode: enforce, match: ["email.*", "deploy.*"]}
admin_key: ${ADMIN_KEY}
`
const WAYNE_KEY = 'cyc_test_wayne_0123456789abcdef'
const PRIMARY = {tenant: 'acme', agent: 'primary'}

describe('runbook commands against a real daemon (built CLI as a child process)', () => {
  let d: TestDaemon
  let env: Record<string, string>
  const run = (...args: string[]): Promise<CliResult> => cli(args, env)

  beforeAll(async () => {
    assertBuilt()
    d = await startTestDaemon(CONFIG, {adminPort: 0})
    env = {CYCLES_ADMIN_URL: d.daemon.adminUrl, CYCLES_BASE_URL: d.url, CYCLES_ADMIN_API_KEY: ADMIN_KEY}
    // The agent burns 95 of its 100 risk points (enforced live reserve + commit).
    const live = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: 'burn', subject: PRIMARY, action: {kind: 'deploy.prod', name: 'ship'}, estimate: {unit: 'RISK_POINTS', amount: 95}}, {'X-Cycles-API-Key': ACME_KEY})
    expect(live.status).toBe(200)
    const commit = await call(d.url, 'POST', `/v1/reservations/${live.body.reservation_id}/commit`, {idempotency_key: 'burn-c', actual: {unit: 'RISK_POINTS', amount: 95}}, {'X-Cycles-API-Key': ACME_KEY})
    expect(commit.status).toBe(200)
  })
  afterAll(async () => d?.stop())

  it('scenario 1: overview shows the nearly spent budget; credit tops it up → ALLOW; freeze → DENY BUDGET_FROZEN; unfreeze restores', async () => {
    const before = await dryRun(d.url, ACME_KEY, PRIMARY, 'RISK_POINTS', 20)
    expect(before.body).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_EXCEEDED'})

    const overview = await run('overview', '--json')
    expect(overview.code).toBe(0)
    expect(overview.json.high_utilization.map((l: {scope: string}) => l.scope)).toContain('tenant:acme/agent:primary')
    expect(specErrors('admin', 'AdminOverviewResponse', overview.json.overview)).toBeUndefined()
    expect(overview.json.overview.recent_denials[0].data.reason_code).toBe('BUDGET_EXCEEDED')
    const human = await run('overview')
    expect(human.stdout).toContain('tenant:acme/agent:primary')
    expect(human.stdout).toMatch(/95\.0%/)

    const credit = await run('budget', 'credit', '--scope', 'tenant:acme/agent:primary', '--unit', 'RISK_POINTS', '--amount', '100', '--reason', 'incident 7: agent blocked', '--json')
    expect(credit.code).toBe(0)
    expect(credit.json.result).toMatchObject({operation: 'CREDIT', previous_allocated: {amount: 100}, new_allocated: {amount: 200}, new_remaining: {amount: 105}})
    expect(specErrors('admin', 'BudgetFundingResponse', credit.json.result)).toBeUndefined()
    const key = credit.json.idempotency_key as string
    expect(key).toMatch(/^cli-credit-/)
    expect(credit.stderr).toContain(`idempotency key: ${key}`)
    // A retried command with the printed key cannot credit twice.
    const retry = await run('budget', 'credit', '--scope', 'tenant:acme/agent:primary', '--unit', 'RISK_POINTS', '--amount', '100', '--reason', 'incident 7: agent blocked', '--idempotency-key', key, '--json')
    expect(retry.json.result.new_allocated.amount).toBe(200)
    expect((await admin(d.daemon.adminUrl, 'GET', '/v1/admin/budgets/lookup?scope=tenant:acme/agent:primary&unit=RISK_POINTS')).body.allocated.amount).toBe(200)
    const [shadow] = await d.daemon.store.getLedgers('shadow', ['tenant:acme/agent:primary'], 'RISK_POINTS')
    expect(shadow?.allocated).toBe(200)

    expect((await dryRun(d.url, ACME_KEY, PRIMARY, 'RISK_POINTS', 20)).body.decision).toBe('ALLOW')
    const creditRows = (await admin(d.daemon.adminUrl, 'GET', '/v1/admin/audit/logs?operation=fundBudget&resource_id=tenant:acme/agent:primary:RISK_POINTS')).body.logs
    expect(creditRows.map((r: {metadata: Record<string, unknown>}) => [r.metadata.actor, r.metadata.reason, r.metadata.operation, r.metadata.amount])).toEqual([
      [`${os.userInfo().username}@${os.hostname()}`, 'incident 7: agent blocked', 'CREDIT', 100],
    ])

    const freeze = await run('budget', 'freeze', '--scope', 'tenant:acme/agent:primary', '--unit', 'RISK_POINTS', '--reason', 'runaway', '--yes')
    expect(freeze.code).toBe(0)
    expect(freeze.stdout).toContain('FROZEN')
    expect((await dryRun(d.url, ACME_KEY, PRIMARY, 'RISK_POINTS', 20)).body).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_FROZEN'})
    const frozenView = await run('overview', '--json')
    expect(frozenView.json.frozen.map((l: {scope: string}) => l.scope)).toEqual(['tenant:acme/agent:primary'])

    const unfreeze = await run('budget', 'unfreeze', '--scope', 'tenant:acme/agent:primary', '--unit', 'RISK_POINTS', '--json')
    expect(unfreeze.code).toBe(0)
    expect(unfreeze.json.status).toBe('ACTIVE')
    expect((await dryRun(d.url, ACME_KEY, PRIMARY, 'RISK_POINTS', 20)).body.decision).toBe('ALLOW')
  })

  it('scenario 2: a key leaks — audit shows its history, revoke makes the very next request 401, a replacement secret is printed once', async () => {
    const created = await run('api-key', 'create', '--tenant', 'acme', '--name', 'ci-bot', '--permissions', 'reservations:create,balances:read', '--json')
    expect(created.code).toBe(0)
    expect(specErrors('admin', 'ApiKeyCreateResponse', created.json)).toBeUndefined()
    const leaked = created.json.key_secret as string
    expect(created.stderr).toContain('will not be shown again')
    expect((await dryRun(d.url, leaked, {tenant: 'acme'}, 'RISK_POINTS', 1)).status).toBe(200)

    const history = await run('audit', 'list', '--resource-type', 'api_key', '--since', '1h', '--json')
    expect(history.code).toBe(0)
    expect(specErrors('admin', 'AuditLogListResponse', {...history.json, has_more: false})).toBeUndefined()
    const rows = history.json.logs.filter((l: {resource_id: string}) => l.resource_id === created.json.key_id)
    expect(rows.map((l: {operation: string}) => l.operation)).toEqual(['createApiKey'])
    expect(history.stdout).not.toContain(leaked)

    const revoke = await run('api-key', 'revoke', created.json.key_id, '--reason', 'leaked in CI logs', '--yes', '--json')
    expect(revoke.code).toBe(0)
    expect(revoke.json).toMatchObject({status: 'REVOKED', revoked_reason: 'leaked in CI logs'})
    expect((await dryRun(d.url, leaked, {tenant: 'acme'}, 'RISK_POINTS', 1)).status).toBe(401)
    const after = await run('audit', 'list', '--resource-type', 'api_key', '--resource-id', created.json.key_id, '--since', '1h')
    expect(after.stdout).toContain('revokeApiKey')
    expect(after.stdout).toContain('createApiKey')
    // Who and why: the runbook sends its actor (no --actor, no CYCLES_ACTOR here: user@host) and the reason.
    const revokeRow = (await admin(d.daemon.adminUrl, 'GET', `/v1/admin/audit/logs?operation=revokeApiKey&resource_id=${created.json.key_id}`)).body.logs[0]
    expect(revokeRow.metadata).toMatchObject({actor: `${os.userInfo().username}@${os.hostname()}`, reason: 'leaked in CI logs'})
    expect(after.stdout).toContain('leaked in CI logs')

    const replacement = await run('api-key', 'create', '--tenant', 'acme', '--name', 'ci-bot-2')
    expect(replacement.code).toBe(0)
    const secret = /key_secret: (\S+)/.exec(replacement.stdout)![1]
    expect(replacement.stdout.split(secret).length - 1).toBe(1)
    expect(replacement.stderr).not.toContain(secret)
    expect(replacement.stderr).toContain('will not be shown again')
    expect((await dryRun(d.url, secret, {tenant: 'acme'}, 'RISK_POINTS', 1)).status).toBe(200)
    const audit = await admin(d.daemon.adminUrl, 'GET', '/v1/admin/audit/logs?limit=100')
    expect(audit.text).not.toContain(secret)
    expect(audit.text).not.toContain(leaked)
  })

  it('scenario 3: tenant close — a wrong --confirm changes nothing; the right one closes it; runtime answers as for a closed tenant', async () => {
    const wrong = await run('tenant', 'close', 'wayne-corp', '--confirm', 'wayne')
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toContain('does not match')
    expect((await admin(d.daemon.adminUrl, 'GET', '/v1/admin/tenants/wayne-corp')).body.status).toBe('ACTIVE')
    expect((await dryRun(d.url, WAYNE_KEY, {tenant: 'wayne-corp'}, 'TOKENS', 1, 'llm.chat')).body.decision).toBe('ALLOW')
    const missing = await run('tenant', 'close', 'wayne-corp')
    expect(missing.code).toBe(2)

    // An open reservation, to see the cascade release it.
    const live = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: 'w-1', subject: {tenant: 'wayne-corp'}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'TOKENS', amount: 500}}, {'X-Cycles-API-Key': WAYNE_KEY})
    expect(live.status).toBe(200)

    const close = await run('tenant', 'close', 'wayne-corp', '--confirm', 'wayne-corp', '--json')
    expect(close.code).toBe(0)
    expect(close.json.tenant.status).toBe('CLOSED')
    expect(specErrors('admin', 'Tenant', close.json.tenant)).toBeUndefined()
    expect(close.json.blast_radius).toEqual({active_budgets: 1, frozen_budgets: 0, active_api_keys: 1, active_reservations: 1})

    // The cascade revoked the tenant's keys: the runtime answers 401, as the reference does for a closed tenant.
    const dry = await dryRun(d.url, WAYNE_KEY, {tenant: 'wayne-corp'}, 'TOKENS', 1, 'llm.chat')
    expect(dry.status).toBe(401)
    const shown = await run('reservation', 'show', live.body.reservation_id, '--json')
    expect(shown.code).toBe(0)
    expect(shown.json.status).toBe('RELEASED')
    const budget = await run('budget', 'show', '--scope', 'tenant:wayne-corp', '--unit', 'TOKENS', '--json')
    expect(budget.json).toMatchObject({status: 'CLOSED', remaining: {amount: 100000}})
    const credit = await run('budget', 'credit', '--scope', 'tenant:wayne-corp', '--unit', 'TOKENS', '--amount', '1')
    expect(credit.code).toBe(6)
    expect(credit.stderr).toContain('TENANT_CLOSED')
    expect(credit.stderr).toMatch(/trace_id [0-9a-f]{32}/)
  })

  it('every destructive command refuses in a non-TTY without --yes, and nothing changes', async () => {
    const budget = ['--scope', 'tenant:acme/agent:helper', '--unit', 'USD_MICROCENTS']
    const key = (await admin(d.daemon.adminUrl, 'POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: 'victim'})).body.key_id as string
    const live = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: 'h-1', subject: {tenant: 'acme', agent: 'helper'}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 1000}}, {'X-Cycles-API-Key': ACME_KEY})
    expect(live.status).toBe(200)
    const cases: string[][] = [
      ['budget', 'debit', ...budget, '--usd', '0.10'],
      ['budget', 'reset', ...budget, '--usd', '5'],
      ['budget', 'reset-spent', ...budget, '--usd', '5'],
      ['budget', 'freeze', ...budget],
      ['tenant', 'suspend', 'acme'],
      ['api-key', 'revoke', key],
      ['api-key', 'rotate', key],
      ['reservation', 'release', live.body.reservation_id, '--reason', 'test'],
    ]
    for (const args of cases) {
      const res = await run(...args, '--json')
      expect(res.code, args.join(' ')).toBe(2)
      expect(res.json.error.code, args.join(' ')).toBe('CONFIRMATION_REQUIRED')
      expect(res.json.error.suggestions.join(' ')).toContain('--yes')
    }
    const ledger = (await admin(d.daemon.adminUrl, 'GET', '/v1/admin/budgets/lookup?scope=tenant:acme/agent:helper&unit=USD_MICROCENTS')).body
    expect(ledger).toMatchObject({status: 'ACTIVE', allocated: {amount: 100000000}})
    expect((await admin(d.daemon.adminUrl, 'GET', '/v1/admin/tenants/acme')).body.status).toBe('ACTIVE')
    const keys = (await admin(d.daemon.adminUrl, 'GET', '/v1/admin/api-keys?tenant_id=acme&status=ACTIVE')).body.keys
    expect(keys.some((k: {key_id: string}) => k.key_id === key)).toBe(true)
    expect(keys.filter((k: {name: string}) => k.name.includes('rotated'))).toHaveLength(0)
    const r = await call(d.url, 'GET', `/v1/reservations/${live.body.reservation_id}`, undefined, {'X-Cycles-API-Key': ACME_KEY})
    expect(r.body.status).toBe('ACTIVE')

    // With --yes it goes through; --usd converts exactly (1 USD = 100,000,000 USD_MICROCENTS).
    const debit = await run('budget', 'debit', ...budget, '--usd', '0.10', '--yes', '--json')
    expect(debit.code).toBe(0)
    expect(debit.json.result.new_allocated.amount).toBe(100000000 - 10000000)
    const rotate = await run('api-key', 'rotate', key, '--yes', '--json')
    expect(rotate.code).toBe(0)
    expect(rotate.json).toMatchObject({replaced_key_id: key, old_key_revoked: true, tenant_id: 'acme'})
    expect((await dryRun(d.url, rotate.json.key_secret, {tenant: 'acme'}, 'RISK_POINTS', 1)).status).toBe(200)
  })

  it('api-key rotate keeps the old key\'s permissions and scope filter, and the new key is held to them', async () => {
    const permissions = ['reservations:create', 'balances:read']
    const scope_filter = ['agent:helper']
    const old = await admin(d.daemon.adminUrl, 'POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: 'narrow', permissions, scope_filter})
    expect(old.status).toBe(201)
    const rotate = await run('api-key', 'rotate', old.body.key_id, '--yes', '--json')
    expect(rotate.code, rotate.stderr).toBe(0)
    expect(rotate.json).toMatchObject({replaced_key_id: old.body.key_id, old_key_revoked: true, permissions})
    const listed = (await admin(d.daemon.adminUrl, 'GET', '/v1/admin/api-keys?tenant_id=acme&status=ACTIVE&limit=100')).body.keys
    const fresh = listed.find((k: {key_id: string}) => k.key_id === rotate.json.key_id)
    expect(fresh.permissions).toEqual(permissions)
    expect(fresh.scope_filter).toEqual(scope_filter)
    // held to them on the runtime plane: no commit permission, and only agent:helper scopes
    const inside = await dryRun(d.url, rotate.json.key_secret, {tenant: 'acme', agent: 'helper'}, 'USD_MICROCENTS', 1, 'llm.chat')
    expect(inside.status).toBe(200)
    const outside = await dryRun(d.url, rotate.json.key_secret, {tenant: 'acme', agent: 'primary'}, 'RISK_POINTS', 1)
    expect(outside.status).toBe(403)
    const events = await call(d.url, 'POST', '/v1/events', {idempotency_key: 'rot-ev', subject: {tenant: 'acme', agent: 'helper'}, action: {kind: 'llm.chat', name: 'x'}, actual: {unit: 'USD_MICROCENTS', amount: 1}}, {'X-Cycles-API-Key': rotate.json.key_secret})
    expect(events.status).toBe(403)
    expect(events.body.error).toBe('FORBIDDEN')
  })

  it('checks scope, unit and amount before calling, and maps server errors to exit codes', async () => {
    const t0 = new Date().toISOString()
    const typo = await run('budget', 'credit', '--scope', 'tenant:acme/agents:primary', '--unit', 'RISK_POINTS', '--amount', '1')
    expect(typo.code).toBe(2)
    expect(typo.stderr).toContain("did you mean 'agent:'")
    const unit = await run('budget', 'show', '--scope', 'tenant:acme', '--unit', 'USD')
    expect(unit.code).toBe(2)
    expect(unit.stderr).toContain('USD_MICROCENTS')
    const usd = await run('budget', 'credit', '--scope', 'tenant:acme', '--unit', 'RISK_POINTS', '--usd', '1')
    expect(usd.code).toBe(2)
    // Nothing reached the server for those three.
    const since = await admin(d.daemon.adminUrl, 'GET', `/v1/admin/audit/logs?from=${encodeURIComponent(t0)}`)
    expect(since.body.logs).toHaveLength(0)

    const notFound = await run('budget', 'show', '--scope', 'tenant:acme/agent:ghost', '--unit', 'TOKENS', '--json')
    expect(notFound.code).toBe(5)
    expect(notFound.json.error.code).toBe('BUDGET_NOT_FOUND')
    expect(notFound.json.error.details.trace_id).toMatch(/^[0-9a-f]{32}$/)
    const badKey = await cli(['tenant', 'list'], {...env, CYCLES_ADMIN_API_KEY: 'wrong-wrong-wrong-wrong'})
    expect(badKey.code).toBe(4)
    const down = await cli(['tenant', 'list'], {...env, CYCLES_ADMIN_URL: 'http://127.0.0.1:1'})
    expect(down.code).toBe(7)
    expect(down.stderr).toContain('unreachable')
    const noKey = await cli(['tenant', 'list'], {CYCLES_ADMIN_URL: env.CYCLES_ADMIN_URL})
    expect(noKey.code).toBe(4)
  })

  it('lists, shows and tails', async () => {
    const tenants = await run('tenant', 'list', '--json')
    expect(tenants.json.tenants.map((t: {tenant_id: string}) => t.tenant_id)).toEqual(['acme', 'wayne-corp'])
    const budgets = await run('budget', 'list', '--tenant', 'acme', '--unit', 'RISK_POINTS', '--json')
    expect(budgets.json.ledgers.map((l: {scope: string}) => l.scope).sort()).toEqual(['tenant:acme', 'tenant:acme/agent:primary'])
    const reservations = await run('reservation', 'list', '--tenant', 'acme', '--status', 'ACTIVE', '--json')
    expect(reservations.code).toBe(0)
    expect(Array.isArray(reservations.json.reservations)).toBe(true)
    const created = await run('tenant', 'create', 'tail-test', '--name', 'Tail', '--json')
    expect(created.code).toBe(0)
    const tail = await run('audit', 'tail', '--since', '1m', '--duration', '1', '--interval', '1', '--json')
    expect(tail.code).toBe(0)
    const lines = tail.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.some((l: {operation: string; resource_id: string}) => l.operation === 'createTenant' && l.resource_id === 'tail-test')).toBe(true)
  })
})
