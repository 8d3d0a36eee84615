// The runbook views of both books, with the built CLI against a real daemon: a tenant budget shared by
// an enforced tier (search.*) and a shadowed one (llm.*). The shadowed spend shows in `budget show`,
// `--book shadow|both` shows the counterfactual, and `cycles overview` shows would-be denials next to
// the real ones (the overview body still validates against the spec's AdminOverviewResponse).
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {specErrors} from '../support/spec.js'
import {type CliResult, assertBuilt, cli} from './cli.js'
import {ACME_KEY, ADMIN_KEY} from './support.js'

const CONFIG = `
tenants: [{id: acme, name: Acme Corp}]
api_keys: [{tenant: acme, secret: ${ACME_KEY}}]
budgets:
  - {scope: tenant:acme, unit: TOKENS, allocated: 1000}
tiers:
  low:    {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high:   {mode: enforce, match: ["email.*"]}
admin_key: ${ADMIN_KEY}
`
const auth = {'X-Cycles-API-Key': ACME_KEY}

describe('budget list | show --book and overview with a shadowed tier', () => {
  let d: TestDaemon
  let env: Record<string, string>
  let n = 0
  const run = (...args: string[]): Promise<CliResult> => cli(args, env)
  const spend = async (kind: string, amount: number) => {
    const r = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: `k-${++n}`, subject: {tenant: 'acme'}, action: {kind, name: 'x'}, estimate: {unit: 'TOKENS', amount}}, auth)
    if (r.status !== 200) return r
    return call(d.url, 'POST', `/v1/reservations/${r.body.reservation_id}/commit`, {idempotency_key: `c-${++n}`, actual: {unit: 'TOKENS', amount}}, auth)
  }

  beforeAll(async () => {
    assertBuilt()
    d = await startTestDaemon(CONFIG, {adminPort: 0})
    env = {CYCLES_ADMIN_URL: d.daemon.adminUrl, CYCLES_BASE_URL: d.url, CYCLES_ADMIN_API_KEY: ADMIN_KEY}
    // Shadowed llm traffic: 700, then 600 more (full enforcement would have denied the second).
    expect((await spend('llm.chat', 700)).status).toBe(200)
    expect((await spend('llm.chat', 600)).status).toBe(200)
    // The enforced search tier is denied: the shared spend exhausted the tenant budget (300 of debt,
    // past the zero overdraft limit, so the budget is over limit).
    const denied = await spend('search.web', 10)
    expect(denied.status).toBe(409)
    expect(denied.body.error).toBe('OVERDRAFT_LIMIT_EXCEEDED')
  })
  afterAll(async () => d?.stop())

  it('budget show: the real book carries the shadowed spend; --book both puts the shadow book beside it', async () => {
    const real = await run('budget', 'show', '--scope', 'tenant:acme', '--unit', 'TOKENS', '--json')
    expect(real.code, real.stderr).toBe(0)
    expect(real.json).toMatchObject({spent: {amount: 1000}, debt: {amount: 300}, remaining: {amount: -300}, is_over_limit: true})
    const both = await run('budget', 'show', '--scope', 'tenant:acme', '--unit', 'TOKENS', '--book', 'both', '--json')
    expect(both.json).toMatchObject({book: 'real', spent: {amount: 1000}, shadow: {book: 'shadow', spent: {amount: 700}, debt: {amount: 0}, remaining: {amount: 300}}})
    const human = await run('budget', 'show', '--scope', 'tenant:acme', '--unit', 'TOKENS', '--book', 'both')
    expect(human.stdout).toMatch(/real book\s*│\s*shadow book/)
    expect(human.stdout).toMatch(/spent\s*│\s*1000 TOKENS[^│]*│\s*700 TOKENS/)
    const shadow = await run('budget', 'show', '--scope', 'tenant:acme', '--unit', 'TOKENS', '--book', 'shadow')
    expect(shadow.stdout).toContain('shadow book (as if every tier were enforced)')
    expect(shadow.stdout).toMatch(/spent\s+700 TOKENS/)
  })

  it('budget list --book both lists real and shadow use side by side', async () => {
    const json = await run('budget', 'list', '--tenant', 'acme', '--book', 'both', '--json')
    expect(json.code, json.stderr).toBe(0)
    expect(json.json.ledgers.map((l: any) => [l.scope, l.spent.amount, l.shadow.spent.amount])).toEqual([['tenant:acme', 1000, 700]])
    // Piped: one tab-separated row per budget, no header (the gh convention).
    const piped = await run('budget', 'list', '--tenant', 'acme', '--book', 'both')
    expect(piped.stdout.trim().split('\n').map((l) => l.split('\t'))).toEqual([['tenant:acme', 'TOKENS', 'ACTIVE', '1,000 tokens', '130.0%', '300 tokens', '70.0%', '0']])
    const boxed = await cli(['budget', 'list', '--tenant', 'acme', '--book', 'both'], {...env, CYCLES_TABLE: 'box'})
    expect(boxed.stdout).toContain('shadow used')
    expect(boxed.stdout).toMatch(/130\.0%.*70\.0%/)
  })

  it('overview shows the real denial and the would-be denial of shadowed traffic', async () => {
    const json = await run('overview', '--json')
    expect(json.code, json.stderr).toBe(0)
    expect(specErrors('admin', 'AdminOverviewResponse', json.json.overview)).toBeUndefined()
    expect(json.json.overview.recent_denials.map((e: any) => e.data.reason_code)).toEqual(['OVERDRAFT_LIMIT_EXCEEDED'])
    // The second llm reservation (its commit repeats the same would-be denial and is not counted twice).
    expect(json.json.overview.would_denials).toMatchObject({total_recent: 1, by_tier: {medium: 1}, by_reason: {BUDGET_EXCEEDED: 1}})
    expect(json.json.overview.would_denials.recent[0]).toMatchObject({event_type: 'reservation.observed_denied', tenant_id: 'acme'})
    const human = await run('overview')
    expect(human.stdout).toContain('Recent denials (last hour): 1 real; 1 would-be')
    expect(human.stdout).toContain('Would-be denials by tier: medium 1')
  })
})
