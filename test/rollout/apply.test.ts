// `cycles rollout apply` against a real daemon (embedded store, admin plane on a socket): limits as
// funding RESET, modes as rollout steps, gates on live figures, refusal with exit 8, --force, re-runs
// that change nothing, and a rollback that stops the ramp. The daemon runs on a clock the test moves.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AdminClient} from '../../src/client/admin-client.js'
import {HttpClient} from '../../src/client/http.js'
import {RolloutClient} from '../../src/client/rollout-client.js'
import {CliError, EXIT} from '../../src/cli/errors.js'
import {type ApplyInput, fundingKey, runRolloutApply} from '../../src/rollout/apply-run.js'
import {runRolloutPlan} from '../../src/rollout/plan-run.js'
import type {TestDaemon} from '../support/daemon.js'
import {ADMIN, admin, rolloutConfig, search, startRolloutDaemon} from './helpers.js'

const HOUR = 3_600_000
let clock = Date.now()
let d: TestDaemon
let planFile: string
let planId: string
let deps: {admin: AdminClient; rollout: RolloutClient}

const apply = (o: Partial<ApplyInput> = {}) => runRolloutApply({planFile, dryRun: false, force: false, ...o}, deps)
const refusal = async (o: Partial<ApplyInput> = {}): Promise<CliError> => {
  const error = await apply(o).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(CliError)
  return error as CliError
}
const control = async () => (await admin(d, 'GET', '/v1/admin/control')).body
const allocated = async (workspace: string) => (await admin(d, 'GET', `/v1/admin/budgets/lookup?scope=tenant:acme/workspace:${workspace}&unit=USD_MICROCENTS`)).body.allocated.amount

beforeAll(async () => {
  d = await startRolloutDaemon(rolloutConfig(), undefined, {now: () => clock})
  const http = new HttpClient({baseUrl: d.daemon.adminUrl, headers: {'X-Admin-API-Key': ADMIN}, timeoutMs: 10_000, label: 'admin API', urlHint: '--admin-url'})
  deps = {admin: new AdminClient(http), rollout: new RolloutClient(http)}
  // The calibration: low's budget comes down to 500 000 000, medium's goes up; both land in the band.
  const calibration = {
    window: {from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z', days: 7},
    target: 0.02,
    band: [0.01, 0.03],
    budgets: [
      {scope: 'tenant:acme/workspace:search', unit: 'USD_MICROCENTS', tiers: ['low'], requests: 900, current_allocated: 1_000_000_000, suggested_allocated: 500_000_000, suggested_denial_rate: 0.02, status: 'calibrated', verdict: 'decorative'},
      {scope: 'tenant:acme/workspace:gen', unit: 'USD_MICROCENTS', tiers: ['medium'], requests: 900, current_allocated: 1_000_000_000, suggested_allocated: 1_200_000_000, suggested_denial_rate: 0.02, status: 'calibrated', verdict: 'too_tight'},
    ],
  }
  const calFile = path.join(d.dir, 'calib.json')
  fs.writeFileSync(calFile, JSON.stringify(calibration))
  const {plan, yaml} = runRolloutPlan({calibration: calFile, tiers: 'low,medium', ramp: '50,100', dwell: '1h', minRequests: 20})
  planFile = path.join(d.dir, 'plan.yaml')
  fs.writeFileSync(planFile, yaml)
  planId = plan.plan_id
}, 30_000)
afterAll(async () => {
  await d?.stop()
  if (d) fs.rmSync(d.dir, {recursive: true, force: true})
})

describe('rollout apply with a real daemon', () => {
  it('step 1 sets the calibrated limit with a RESET keyed by plan and step; re-running changes nothing', async () => {
    const out = await apply()
    expect(out.status).toBe('applied')
    expect(out.step).toMatchObject({step: 1, kind: 'limits', tier: 'low'})
    expect(out.fundings).toEqual([
      {scope: 'tenant:acme/workspace:search', unit: 'USD_MICROCENTS', to: 500_000_000, idempotency_key: fundingKey(planId, 1, 'tenant:acme/workspace:search', 'USD_MICROCENTS'), previous_allocated: 1_000_000_000, new_allocated: 500_000_000},
    ])
    expect(await allocated('search')).toBe(500_000_000)
    expect(await allocated('gen')).toBe(1_000_000_000) // medium's limit waits for medium
    const c = await control()
    expect(c.tiers.low).toBe('shadow')
    expect(c.rollout.applied_steps.map((s: {plan_id: string; step: number}) => `${s.plan_id}#${s.step}`)).toEqual([`${planId}#1`])
    const again = await apply({step: 1})
    expect(again.status).toBe('already_applied')
    expect((await control()).version).toBe(c.version)
    const audit = await admin(d, 'GET', '/v1/admin/audit/logs?operation=fundBudget')
    expect(audit.body.logs).toHaveLength(1)
    expect(audit.body.logs[0].metadata).toMatchObject({operation: 'RESET', amount: 500_000_000, idempotency_key: out.fundings![0].idempotency_key, reason: `cycles rollout apply ${planId} step 1: calibrated limits of 1 budget(s) for tier low`})
  })

  it('step 2 is refused with exit 8 and the figures while the dwell and the sample are short; the tier stays in shadow', async () => {
    const error = await refusal()
    expect(error.exit).toBe(EXIT.GATE_FAILED)
    expect(error.code).toBe('GATE_FAILED')
    const gate = error.details!.gate as {step: number; checks: Array<{gate: string; passed: boolean; actual: string}>}
    expect(gate.step).toBe(2)
    expect(gate.checks.filter((c) => !c.passed).map((c) => c.gate)).toEqual(['dwell', 'min_requests', 'reserve_commit_ratio', 'overage'])
    expect(gate.checks.find((c) => c.gate === 'min_requests')!.actual).toBe('0 request(s)')
    expect(error.message).toMatch(/^step 2 \(tier low enforce 50 %\) refused: dwell: 0s since step 1, needs ≥ 1h; min_requests: 0 request\(s\)/)
    expect((await control()).tiers.low).toBe('shadow')
  })

  it('after an hour of healthy traffic the gate passes and low enforces 50 % of runs; a dry run first changes nothing', async () => {
    for (let i = 0; i < 25; i++) expect((await search(d, 1000, 950)).status).toBe(200)
    clock += HOUR
    const dry = await apply({dryRun: true})
    expect(dry.status).toBe('dry_run')
    expect(dry.gate!.passed).toBe(true)
    expect(dry.gate!.checks.find((c) => c.gate === 'min_requests')!.actual).toBe('25 request(s)')
    expect(dry.gate!.checks.find((c) => c.gate === 'reserve_commit_ratio')!.actual).toBe('1.05 over 25 commit(s)')
    expect((await control()).tiers.low).toBe('shadow')
    const out = await apply()
    expect(out.status).toBe('applied')
    expect(out.tiers!.low).toMatchObject({mode: 'enforce', enforce_percent: 50})
    const c = await control()
    expect([c.tiers.low, c.enforce_percent.low]).toEqual(['enforce', 50])
    expect(c.rollout.applied_steps.at(-1)).toMatchObject({plan_id: planId, step: 2, tier: 'low', mode: 'enforce', enforce_percent: 50})
  })

  it('--force --reason applies a step whose gate fails, recorded as forced; --force without a reason is refused', async () => {
    expect((await refusal({force: true})).exit).toBe(EXIT.USAGE)
    const out = await apply({force: true, reason: 'INC-7: full enforcement on low now'})
    expect(out.status).toBe('forced')
    expect(out.gate!.passed).toBe(false)
    const c = await control()
    expect([c.tiers.low, c.enforce_percent.low]).toEqual(['enforce', 100])
    expect(c.rollout.applied_steps.at(-1)).toMatchObject({step: 3, forced: true, reason: 'INC-7: full enforcement on low now'})
  })

  it('after a rollback of low the next step is refused (tier_state), even with every other figure fine', async () => {
    const rb = await admin(d, 'POST', '/v1/admin/rollout/rollback', {tier: 'low', reason: 'test rollback'})
    expect(rb.status).toBe(200)
    const error = await refusal()
    expect(error.exit).toBe(EXIT.GATE_FAILED)
    const gate = error.details!.gate as {step: number; checks: Array<{gate: string; passed: boolean; actual: string}>}
    expect(gate.step).toBe(4)
    expect(gate.checks.filter((c) => !c.passed).map((c) => c.gate)).toEqual(['tier_state'])
    expect(gate.checks[1].actual).toBe('low is shadow, step 3 set enforce 100 % (rolled back?)')
    expect(await allocated('gen')).toBe(1_000_000_000)
  })

  it('an edited plan is refused before anything is called', async () => {
    const edited = path.join(d.dir, 'edited.yaml')
    fs.writeFileSync(edited, fs.readFileSync(planFile, 'utf8').replace('min_requests: 20', 'min_requests: 2'))
    const error = await runRolloutApply({planFile: edited, dryRun: false, force: false}, deps).then(
      () => undefined,
      (e: unknown) => e as CliError,
    )
    expect(error).toMatchObject({code: 'PLAN_EDITED', exit: EXIT.USAGE})
  })
})
