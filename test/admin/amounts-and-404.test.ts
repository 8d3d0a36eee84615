// Issue 12 §2, played with the built CLI against a real daemon: amounts refused before any call, a
// sub-cent USD credit asks first, an idempotent funding replay says so, and a missing budget leads
// somewhere (nearest budgets, how to create it, freezing a runaway agent's budgeted ancestor).
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, startTestDaemon} from '../support/daemon.js'
import {type CliResult, assertBuilt, cli} from './cli.js'
import {ACME_KEY, ADMIN_KEY, admin, dryRun} from './support.js'

const CONFIG = `
tenants:
  - {id: acme, name: Acme Corp}
api_keys:
  - {tenant: acme, secret: ${ACME_KEY}}
budgets:
  - {scope: tenant:acme, unit: RISK_POINTS, allocated: 10000}
  - {scope: tenant:acme/workspace:prod, unit: RISK_POINTS, allocated: 5000}
  - {scope: tenant:acme/agent:helper, unit: USD_MICROCENTS, allocated: 100000000}
tiers:
  low:    {mode: enforce, match: ["search.*"]}
  medium: {mode: enforce, match: ["llm.*"]}
  high:   {mode: enforce, match: ["email.*", "deploy.*"]}
admin_key: ${ADMIN_KEY}
`
const lookup = async (url: string, scope: string, unit: string) => (await admin(url, 'GET', `/v1/admin/budgets/lookup?scope=${encodeURIComponent(scope)}&unit=${unit}`)).body

describe('amounts, replays and 404s (built CLI against a real daemon)', () => {
  let d: TestDaemon
  let env: Record<string, string>
  const run = (...args: string[]): Promise<CliResult> => cli(args, env)

  beforeAll(async () => {
    assertBuilt()
    d = await startTestDaemon(CONFIG, {adminPort: 0})
    env = {CYCLES_ADMIN_URL: d.daemon.adminUrl, CYCLES_BASE_URL: d.url, CYCLES_ADMIN_API_KEY: ADMIN_KEY}
  })
  afterAll(async () => d?.stop())

  it('--amount 1,000 and a zero credit are usage errors (exit 2) and change nothing', async () => {
    const before = await lookup(d.daemon.adminUrl, 'tenant:acme', 'RISK_POINTS')
    const comma = await run('budget', 'credit', '--scope', 'tenant:acme', '--unit', 'RISK_POINTS', '--amount', '1,000', '--json')
    expect(comma.code).toBe(2)
    expect(comma.json.error.code).toBe('USAGE')
    expect(comma.json.error.message).toMatch(/without separators/)
    expect(comma.json.error.suggestions).toContain('write it as 1000')
    const zero = await run('budget', 'credit', '--scope', 'tenant:acme', '--unit', 'RISK_POINTS', '--amount', '0', '--json')
    expect(zero.code).toBe(2)
    expect(zero.json.error.message).toMatch(/CREDIT of 0 would change nothing/)
    expect((await lookup(d.daemon.adminUrl, 'tenant:acme', 'RISK_POINTS')).allocated.amount).toBe(before.allocated.amount)
  })

  it('a credit under one cent of a USD budget asks first: refused without --yes in a script, applied with it', async () => {
    const scope = 'tenant:acme/agent:helper'
    const refused = await run('budget', 'credit', '--scope', scope, '--unit', 'USD_MICROCENTS', '--amount', '5', '--json')
    expect(refused.code).toBe(2)
    expect(refused.json.error.code).toBe('CONFIRMATION_REQUIRED')
    expect(refused.json.error.message).toMatch(/less than one cent/)
    expect((await lookup(d.daemon.adminUrl, scope, 'USD_MICROCENTS')).allocated.amount).toBe(100_000_000)
    const applied = await run('budget', 'credit', '--scope', scope, '--unit', 'USD_MICROCENTS', '--amount', '5', '--yes', '--json')
    expect(applied.code).toBe(0)
    expect(applied.json.result.new_allocated.amount).toBe(100_000_005)
    // A cent or more does not ask.
    const cent = await run('budget', 'credit', '--scope', scope, '--unit', 'USD_MICROCENTS', '--usd', '0.01', '--json')
    expect(cent.code).toBe(0)
  })

  it('an idempotent replay of a credit says "already applied at <time>, nothing changed"; the admin response says replayed: true', async () => {
    const args = ['budget', 'credit', '--scope', 'tenant:acme', '--unit', 'RISK_POINTS', '--amount', '7', '--idempotency-key', 'replay-me']
    const first = await run(...args)
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/CREDIT applied/)
    const allocated = (await lookup(d.daemon.adminUrl, 'tenant:acme', 'RISK_POINTS')).allocated.amount
    const again = await run(...args)
    expect(again.code).toBe(0)
    expect(again.stdout).not.toMatch(/CREDIT applied/)
    const json = await run(...args, '--json')
    expect(json.json.result.replayed).toBe(true)
    expect(again.stdout).toContain(`CREDIT already applied at ${json.json.result.timestamp}, nothing changed`)
    expect((await lookup(d.daemon.adminUrl, 'tenant:acme', 'RISK_POINTS')).allocated.amount).toBe(allocated)
    // The first answer is not marked.
    const fresh = await run('budget', 'credit', '--scope', 'tenant:acme', '--unit', 'RISK_POINTS', '--amount', '1', '--json')
    expect(fresh.json.result.replayed).toBeUndefined()
  })

  it('budget show on a missing budget names the nearest existing one and how to create it; no audit-trail hint for a read', async () => {
    const r = await run('budget', 'show', '--scope', 'tenant:acme/workspace:prd', '--unit', 'RISK_POINTS', '--json')
    expect(r.code).toBe(5)
    expect(r.json.error.code).toBe('BUDGET_NOT_FOUND')
    expect(r.json.error.suggestions[0]).toBe('did you mean: --scope tenant:acme/workspace:prod --unit RISK_POINTS?')
    expect(r.json.error.suggestions).toContain('to create it: cycles budget create --scope tenant:acme/workspace:prd --unit RISK_POINTS --amount <integer RISK_POINTS>')
    expect(r.json.error.suggestions.join('\n')).not.toMatch(/audit/)
  })

  it('freezing a runaway agent without a budget: refused with the ancestor offer and the key-revocation way; --ancestor --yes freezes the nearest budgeted ancestor', async () => {
    const agent = 'tenant:acme/workspace:prod/agent:runaway'
    const offer = await run('budget', 'freeze', '--scope', agent, '--unit', 'RISK_POINTS', '--yes', '--json')
    expect(offer.code).toBe(5)
    expect(offer.json.error.code).toBe('BUDGET_NOT_FOUND')
    const hints = offer.json.error.suggestions.join('\n')
    expect(hints).toContain('freeze its nearest budgeted ancestor tenant:acme/workspace:prod')
    expect(hints).toContain('add --ancestor')
    expect(hints).toMatch(/revoke its key \(cycles api-key list --tenant acme/)
    expect((await lookup(d.daemon.adminUrl, 'tenant:acme/workspace:prod', 'RISK_POINTS')).status).toBe('ACTIVE')

    const subject = {tenant: 'acme', workspace: 'prod', agent: 'runaway'}
    expect((await dryRun(d.url, ACME_KEY, subject, 'RISK_POINTS', 1)).body.decision).toBe('ALLOW')
    const frozen = await run('budget', 'freeze', '--scope', agent, '--unit', 'RISK_POINTS', '--ancestor', '--yes', '--json')
    expect(frozen.code).toBe(0)
    expect(frozen.json.scope).toBe('tenant:acme/workspace:prod')
    expect(frozen.json.status).toBe('FROZEN')
    expect((await dryRun(d.url, ACME_KEY, subject, 'RISK_POINTS', 1)).body).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_FROZEN'})
    // The tenant-level budget (the farther ancestor) is untouched.
    expect((await lookup(d.daemon.adminUrl, 'tenant:acme', 'RISK_POINTS')).status).toBe('ACTIVE')
  })
})
