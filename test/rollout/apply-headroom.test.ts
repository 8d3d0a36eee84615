// A calibrated limit below what a budget already spent would exhaust it at once (RESET keeps spent):
// the limits step is refused with the figures, against a real daemon whose low tier enforces.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, expect, it} from 'vitest'

import {AdminClient} from '../../src/client/admin-client.js'
import {HttpClient} from '../../src/client/http.js'
import {RolloutClient} from '../../src/client/rollout-client.js'
import {CliError, EXIT} from '../../src/cli/errors.js'
import {runRolloutApply} from '../../src/rollout/apply-run.js'
import {runRolloutPlan} from '../../src/rollout/plan-run.js'
import type {TestDaemon} from '../support/daemon.js'
import {ADMIN, admin, rolloutConfig, search, startRolloutDaemon} from './helpers.js'

let d: TestDaemon
beforeAll(async () => {
  d = await startRolloutDaemon(rolloutConfig({low: 'enforce', lowAllocated: 100_000}))
})
afterAll(async () => {
  await d?.stop()
  if (d) fs.rmSync(d.dir, {recursive: true, force: true})
})

it('refuses a limits step whose new allocation is at or below what was spent, and applies nothing', async () => {
  for (let i = 0; i < 10; i++) expect((await search(d, 1000, 950)).status).toBe(200)
  const spent = (await admin(d, 'GET', '/v1/admin/budgets/lookup?scope=tenant:acme/workspace:search&unit=USD_MICROCENTS')).body.spent.amount
  expect(spent).toBe(9500)
  const calFile = path.join(d.dir, 'calib.json')
  const budget = (to: number) => ({scope: 'tenant:acme/workspace:search', unit: 'USD_MICROCENTS', tiers: ['low'], requests: 900, current_allocated: 100_000, suggested_allocated: to, suggested_denial_rate: 0.02, status: 'calibrated', verdict: 'loose'})
  fs.writeFileSync(calFile, JSON.stringify({window: {from: null, to: null, days: 1}, target: 0.02, band: [0.01, 0.03], budgets: [budget(9500)]}))
  const planFile = path.join(d.dir, 'plan.yaml')
  fs.writeFileSync(planFile, runRolloutPlan({calibration: calFile, tiers: 'low'}).yaml)
  const http = new HttpClient({baseUrl: d.daemon.adminUrl, headers: {'X-Admin-API-Key': ADMIN}, timeoutMs: 10_000, label: 'admin API', urlHint: '--admin-url'})
  const deps = {admin: new AdminClient(http), rollout: new RolloutClient(http)}
  const error = (await runRolloutApply({planFile, dryRun: false, force: false}, deps).catch((e: unknown) => e)) as CliError
  expect(error).toBeInstanceOf(CliError)
  expect(error.exit).toBe(EXIT.GATE_FAILED)
  expect(error.message).toBe('step 1 (calibrated limits of 1 budget(s) for tier low) refused: headroom: tenant:acme/workspace:search USD_MICROCENTS: new allocation 9,500 ≤ 9,500 already spent or held, needs new allocation > spent + reserved + debt (RESET keeps spent; reset spent at a period start first)')
  const after = (await admin(d, 'GET', '/v1/admin/budgets/lookup?scope=tenant:acme/workspace:search&unit=USD_MICROCENTS')).body
  expect(after.allocated.amount).toBe(100_000)
  expect((await admin(d, 'GET', '/v1/admin/rollout')).body.applied_steps).toEqual([])
  // One unit more than what is held is enough.
  fs.writeFileSync(calFile, JSON.stringify({window: {from: null, to: null, days: 1}, target: 0.02, band: [0.01, 0.03], budgets: [budget(9501)]}))
  fs.writeFileSync(planFile, runRolloutPlan({calibration: calFile, tiers: 'low'}).yaml)
  const ok = await runRolloutApply({planFile, dryRun: false, force: false}, deps)
  expect(ok.fundings![0]).toMatchObject({previous_allocated: 100_000, new_allocated: 9501})
})
