// Issue 11 acceptance, end to end, one real daemon (embedded store, admin plane on a socket):
// shadow traffic → ingest → calibrate → plan → `rollout apply` step by step (low, medium, high at
// 10 % then 100 %) with every gate passed by real traffic; at 10 % a run is enforced or shadowed
// as a whole, by the documented hash; a planted regression trips the guard within window_seconds
// + 1 s; the kill switch overrides every tier; a restart on the same state dir keeps it all.
// The daemon's clock is real time plus a skew the test moves (dwell), so the guard's real timers
// judge real windows.
import {createHash, randomUUID} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {AdminClient} from '../../src/client/admin-client.js'
import {HttpClient} from '../../src/client/http.js'
import {RolloutClient} from '../../src/client/rollout-client.js'
import {runCalibrate} from '../../src/calibration/run.js'
import {CliError, EXIT} from '../../src/cli/errors.js'
import {rampBucket} from '../../src/evaluator/tiers.js'
import type {Tier} from '../../src/protocol/types.js'
import type {StepGateResult} from '../../src/rollout/apply-gates.js'
import {type ApplyOutcome, runRolloutApply} from '../../src/rollout/apply-run.js'
import {describeNextStep, fetchRolloutStatus} from '../../src/rollout/status.js'
import {runRolloutPlan} from '../../src/rollout/plan-run.js'
import {type TestDaemon, call, tempDir} from '../support/daemon.js'
import {ADMIN, KEY, admin, rolloutConfig, startRolloutDaemon, traffic, until} from './helpers.js'

const HOUR = 3_600_000
const W = 2 // guard window_seconds
const ESTIMATE = 1_000_000
const ACTUAL = 950_000 // R:C 1.05, no overage
const MIN_REQUESTS = 40
const WORKSPACE: Record<Tier, {workspace: string; kind: string}> = {
  low: {workspace: 'search', kind: 'search.web'},
  medium: {workspace: 'gen', kind: 'llm.chat'},
  high: {workspace: 'mail', kind: 'email.send'},
}
const CONFIG = rolloutConfig({
  guard: `{ ratio: 3, min_denial_rate: 0.01, min_requests: 10, window_seconds: ${W} }`,
  extraBudgets: '  - scope: tenant:acme/workspace:mail\n    unit: USD_MICROCENTS\n    allocated: 1000000000\n',
})

let skew = 0
const now = () => Date.now() + skew
let dir: string
let d: TestDaemon
let planFile: string
let planId: string
let deps: {admin: AdminClient; rollout: RolloutClient}

function connect(t: TestDaemon) {
  const http = new HttpClient({baseUrl: t.daemon.adminUrl, headers: {'X-Admin-API-Key': ADMIN}, timeoutMs: 10_000, label: 'admin API', urlHint: '--admin-url'})
  deps = {admin: new AdminClient(http), rollout: new RolloutClient(http)}
}
const apply = (): Promise<ApplyOutcome> => runRolloutApply({planFile, dryRun: false, force: false}, deps)
/** What `cycles rollout status --plan` shows. */
const statusWithNext = () => fetchRolloutStatus(deps.rollout, undefined, () => runRolloutApply({planFile, dryRun: true, force: false}, deps))
const control = async () => (await admin(d, 'GET', '/v1/admin/control')).body

/** One request of a run in a tier: reserve, and commit ACTUAL when admitted. */
async function request(tier: Tier, runId: string): Promise<number> {
  const {workspace, kind} = WORKSPACE[tier]
  const res = await call(
    d.url,
    'POST',
    '/v1/reservations',
    {idempotency_key: randomUUID(), subject: {tenant: 'acme', workspace, dimensions: {run_id: runId}}, action: {kind, name: 'q'}, estimate: {unit: 'USD_MICROCENTS', amount: ESTIMATE}},
    {'X-Cycles-API-Key': KEY},
  )
  if (res.status === 200 && res.body?.decision !== 'DENY') {
    const c = await call(d.url, 'POST', `/v1/reservations/${res.body.reservation_id}/commit`, {idempotency_key: randomUUID(), actual: {unit: 'USD_MICROCENTS', amount: ACTUAL}}, {'X-Cycles-API-Key': KEY})
    if (c.status !== 200) throw new Error(`commit failed: ${c.status} ${c.text}`)
  }
  return res.status
}

/** `runs` runs of `perRun` sequential requests each, 4 runs at a time; returns the run ids and the answers by status. */
async function drive(tier: Tier, prefix: string, runs: number, perRun = 2) {
  const ids = Array.from({length: runs}, (_, i) => `${prefix}-${tier}-${i}`)
  const queue = [...ids]
  const statuses: Record<number, number> = {}
  const worker = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      for (let i = 0; i < perRun; i++) {
        const s = await request(tier, id)
        statuses[s] = (statuses[s] ?? 0) + 1
      }
    }
  }
  await Promise.all(Array.from({length: 4}, worker))
  return {ids, statuses}
}

/** The decision records (reserve endpoint) of the given runs, by run id. */
function reserveRecordsOf(ids: string[]): Map<string, Array<Record<string, unknown>>> {
  const wanted = new Set(ids)
  const out = new Map<string, Array<Record<string, unknown>>>()
  for (const r of d.records()) {
    if (typeof r.run_id !== 'string' || !wanted.has(r.run_id) || r.endpoint !== 'reserve') continue
    out.set(r.run_id, [...(out.get(r.run_id) ?? []), r])
  }
  return out
}

/**
 * An hour later (the dwell), apply the next step. Tier figures are kept in minute buckets and a gate
 * counts the whole minute of the previous step: with the hour between, that minute holds no traffic
 * from before the step, so a gate sees exactly the traffic sent since.
 */
async function nextStep(expected: {kind: 'limits' | 'enforce'; tier: Tier; percent?: number}): Promise<ApplyOutcome> {
  skew += HOUR
  const out = await apply()
  expect(out.status).toBe('applied')
  expect(out.gate!.passed).toBe(true)
  expect(out.step).toMatchObject({kind: expected.kind, tier: expected.tier, ...(expected.percent ? {enforce_percent: expected.percent} : {})})
  return out
}

beforeAll(async () => {
  dir = tempDir('cycles-rollout-e2e-')
  d = await startRolloutDaemon(CONFIG, dir, {now})
  connect(d)
  const configFile = path.join(dir, 'cycles.yaml')
  fs.writeFileSync(configFile, CONFIG)

  // Phase 1, every tier in shadow: the traffic calibration learns from.
  for (const tier of ['low', 'medium', 'high'] as Tier[]) expect((await drive(tier, 'shadow', 100)).statuses).toEqual({200: 200})
  const dbFile = path.join(dir, 'shadow.duckdb')
  const db = await openShadowDb(dbFile, {create: true, threads: 1, memoryLimit: '256MB'})
  await ingest(db, [d.logDir])
  db.close()
  const calFile = path.join(dir, 'calibration.json')
  await runCalibrate({db: dbFile, config: configFile, filter: {}, options: {}, format: 'json', output: calFile})
  const {plan, yaml} = runRolloutPlan({calibration: calFile, ramp: '10,100', dwell: '1h', minRequests: MIN_REQUESTS})
  planFile = path.join(dir, 'plan.yaml')
  fs.writeFileSync(planFile, yaml)
  planId = plan.plan_id

  // A new budget period starts with the rollout: spent back to 0 (RESET keeps spent; the headroom gate says so).
  for (const {workspace} of Object.values(WORKSPACE)) {
    const r = await admin(d, 'POST', `/v1/admin/budgets/fund?tenant_id=acme&scope=tenant:acme/workspace:${workspace}&unit=USD_MICROCENTS`, {
      operation: 'RESET_SPENT',
      amount: {unit: 'USD_MICROCENTS', amount: 1_000_000_000},
      spent: {unit: 'USD_MICROCENTS', amount: 0},
      reason: 'period start before the rollout',
    })
    expect(r.status, r.text).toBe(200)
  }
}, 120_000)

afterAll(async () => {
  await d?.stop()
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
})

describe('issue 11 acceptance: calibrate → plan → apply through a real daemon', () => {
  it('calibration of the shadow log gives a limit per tier budget, each ready; the plan is limits, 10 %, 100 % per tier', () => {
    const cal = JSON.parse(fs.readFileSync(path.join(dir, 'calibration.json'), 'utf8'))
    expect(cal.budgets).toHaveLength(3)
    for (const b of cal.budgets) {
      expect(b.requests, b.scope).toBe(200)
      expect(b.status, b.scope).toBe('calibrated')
      expect(b.current_allocated).toBe(1_000_000_000)
      // 200 requests of 1 000 000: a 2 % target admits about 196 of them.
      expect(b.suggested_allocated).toBeLessThan(200 * ESTIMATE)
      expect(b.suggested_allocated).toBeGreaterThan(150 * ESTIMATE)
      expect(b.suggested_denial_rate).toBeGreaterThanOrEqual(0.01)
      expect(b.suggested_denial_rate).toBeLessThanOrEqual(0.03)
    }
    const plan = fs.readFileSync(planFile, 'utf8')
    expect(plan).toContain(planId)
    const steps = runRolloutPlan({calibration: path.join(dir, 'calibration.json'), ramp: '10,100', dwell: '1h', minRequests: MIN_REQUESTS}).plan
    expect(steps.readiness.map((r) => [r.tier, r.ready])).toEqual([
      ['low', true],
      ['medium', true],
      ['high', true],
    ])
    expect(steps.steps.map((s) => `${s.tier}:${s.kind === 'limits' ? 'limits' : s.enforce_percent}`)).toEqual(['low:limits', 'low:10', 'low:100', 'medium:limits', 'medium:10', 'medium:100', 'high:limits', 'high:10', 'high:100'])
  })

  it('low: limits, then 10 % where each run is enforced or shadowed as a whole by the hash, then 100 %', async () => {
    const limits = await nextStep({kind: 'limits', tier: 'low'})
    const lowLimit = limits.fundings![0].to
    expect(limits.fundings![0]).toMatchObject({scope: 'tenant:acme/workspace:search', previous_allocated: 1_000_000_000, new_allocated: lowLimit})

    expect((await drive('low', 'warm', MIN_REQUESTS / 2)).statuses).toEqual({200: MIN_REQUESTS})
    const ten = await nextStep({kind: 'enforce', tier: 'low', percent: 10})
    expect(ten.gate!.checks.find((c) => c.gate === 'min_requests')!.actual).toBe(`${MIN_REQUESTS} request(s)`)
    expect(ten.tiers!.low).toMatchObject({mode: 'enforce', enforce_percent: 10})

    const ramp = await drive('low', 'ramp10', 40, 3)
    expect(ramp.statuses).toEqual({200: 120})
    const byRun = reserveRecordsOf(ramp.ids)
    expect(byRun.size).toBe(40)
    const enforced: string[] = []
    for (const [run, records] of byRun) {
      expect(records, run).toHaveLength(3)
      const modes = new Set(records.map((r) => r.mode))
      expect([...modes], run).toHaveLength(1) // the whole run, one mode
      expect(records.every((r) => r.tier === 'low' && r.enforce_percent === 10)).toBe(true)
      if (modes.has('enforce')) enforced.push(run)
    }
    // The documented ramp hash (tiers.ts, README): SHA-256 of "<tenant>\n<run_id>", first 4 bytes big-endian, mod 100.
    const documented = (run: string) => createHash('sha256').update(`acme\n${run}`).digest().readUInt32BE(0) % 100
    for (const id of ramp.ids) expect(rampBucket({tenant: 'acme', run_id: id, scope_path: ''}), id).toBe(documented(id))
    const byHash = ramp.ids.filter((id) => documented(id) < 10)
    expect(enforced.sort()).toEqual(byHash.sort())
    expect(enforced.length).toBeGreaterThan(0)
    expect(enforced.length).toBeLessThan(40)

    const full = await nextStep({kind: 'enforce', tier: 'low', percent: 100})
    expect(full.gate!.checks.find((c) => c.gate === 'denial_rate')!.actual).toBe('0.00 % enforced denials')
    expect(full.tiers!.low).toMatchObject({mode: 'enforce', enforce_percent: 100})
  })

  it('medium and high follow the same way, each gate passed by its own tier\'s traffic', async () => {
    for (const tier of ['medium', 'high'] as Tier[]) {
      await nextStep({kind: 'limits', tier})
      // An hour on but before the tier's own traffic, its 10 % step is refused: other tiers' requests do not count.
      skew += HOUR
      const refused = (await apply().then(
        () => undefined,
        (e: unknown) => e,
      )) as CliError
      expect(refused).toBeInstanceOf(CliError)
      expect(refused.exit).toBe(EXIT.GATE_FAILED)
      const checks = (refused.details!.gate as StepGateResult).checks
      expect(checks.filter((c) => !c.passed).map((c) => c.gate)).toEqual(['min_requests', 'reserve_commit_ratio', 'overage'])
      expect(checks.find((c) => c.gate === 'min_requests')!.actual).toBe('0 request(s)')
      // `rollout status --plan` shows the same next step and the same failing gates, and changes nothing.
      const before = await statusWithNext()
      expect(before.next_step).toMatchObject({complete: false, tier, kind: 'enforce', gate_passed: false, action: `tier ${tier} enforce 10 %`})
      expect((before.next_step as {failing: Array<{gate: string}>}).failing.map((f) => f.gate)).toEqual(['min_requests', 'reserve_commit_ratio', 'overage'])
      expect(describeNextStep(before.next_step)[0]).toMatch(new RegExp(`^next step \\d+: tier ${tier} enforce 10 % — gate FAILS:$`))
      expect((await drive(tier, 'warm', MIN_REQUESTS / 2)).statuses).toEqual({200: MIN_REQUESTS})
      const ready = await statusWithNext()
      expect(ready.next_step).toMatchObject({complete: false, tier, gate_passed: true, failing: []})
      expect(ready.tiers.find((t) => t.tier === tier)!.mode).toBe('shadow')
      await nextStep({kind: 'enforce', tier, percent: 10})
      expect((await drive(tier, 'ramp10', MIN_REQUESTS / 2)).statuses).toEqual({200: MIN_REQUESTS})
      await nextStep({kind: 'enforce', tier, percent: 100})
    }
    const c = await control()
    expect(c.tiers).toEqual({low: 'enforce', medium: 'enforce', high: 'enforce'})
    expect(c.enforce_percent).toEqual({low: 100, medium: 100, high: 100})
    expect(c.rollout.applied_steps.map((s: {plan_id: string; step: number}) => `${s.plan_id}#${s.step}`)).toEqual(Array.from({length: 9}, (_, i) => `${planId}#${i + 1}`))
    expect((await apply()).status).toBe('complete')
    expect((await statusWithNext()).next_step).toEqual({plan_id: planId, complete: true})
  })

  it('a planted regression (low\'s limit cut to a tenth) trips the guard: low is back in shadow within window_seconds + 1 s', async () => {
    const before = (await admin(d, 'GET', '/v1/admin/budgets/lookup?scope=tenant:acme/workspace:search&unit=USD_MICROCENTS')).body.allocated.amount
    // The ramp above spent nearly all of low's limit: a new period (spent 0, same limit) gives the healthy window
    // its headroom, and one paced client (at most 20 requests/s, 150+ requests of headroom) keeps it healthy for
    // seconds on any host, so the denials that follow are the cut's.
    const period = await admin(d, 'POST', '/v1/admin/budgets/fund?tenant_id=acme&scope=tenant:acme/workspace:search&unit=USD_MICROCENTS', {
      operation: 'RESET_SPENT',
      amount: {unit: 'USD_MICROCENTS', amount: before},
      spent: {unit: 'USD_MICROCENTS', amount: 0},
      reason: 'period start before the planted regression',
    })
    expect(period.status, period.text).toBe(200)
    const load = traffic(d, ESTIMATE, ACTUAL, 'search', 1, 50)
    let cutAt = 0
    try {
      await until('a healthy guard window on low', 30_000, () => (d.daemon.guard.window('low')?.requests ?? 0) >= 10)
      expect(d.daemon.guard.window('low')!.denials).toBe(0)
      cutAt = Date.now()
      const cut = await admin(d, 'POST', '/v1/admin/budgets/fund?tenant_id=acme&scope=tenant:acme/workspace:search&unit=USD_MICROCENTS', {
        operation: 'RESET',
        amount: {unit: 'USD_MICROCENTS', amount: Math.floor(before / 10)},
        reason: 'planted regression',
      })
      expect(cut.status).toBe(200)
      await until('the guard to send low back to shadow', (W + 1) * 1000, () => d.daemon.control.tiers.low === 'shadow')
    } finally {
      await load.stop()
    }
    expect(load.statuses[409]).toBeGreaterThan(0)
    const trip = d.daemon.control.rollout?.guard_trips?.low
    expect(trip).toMatchObject({kind: 'denial_rate', baseline: 0, threshold: 0.01, window_seconds: W})
    expect(trip!.at_ms - skew - cutAt).toBeLessThanOrEqual((W + 1) * 1000)
    const c = await control()
    expect(c.tiers).toEqual({low: 'shadow', medium: 'enforce', high: 'enforce'})
    // The ramp stops: the plan sees low where it did not leave it.
    expect((await deps.rollout.status()).tiers.low.mode).toBe('shadow')
  })

  it('the kill switch makes every tier shadow, whatever the rollout says; released, each tier is back as before', async () => {
    const modesOf = async (prefix: string) => {
      const out: Record<string, string[]> = {}
      for (const tier of ['low', 'medium', 'high'] as Tier[]) {
        const {ids} = await drive(tier, prefix, 2)
        out[tier] = [...reserveRecordsOf(ids).values()].flat().map((r) => String(r.mode))
      }
      return out
    }
    expect((await admin(d, 'POST', '/v1/admin/killswitch/engage', {reason: 'e2e: stop everything'})).status).toBe(200)
    // The rollout state is untouched: medium and high still say enforce 100 %, yet nothing is enforced.
    const engaged = await control()
    expect([engaged.killswitch.engaged, engaged.tiers, engaged.enforce_percent]).toEqual([true, {low: 'shadow', medium: 'enforce', high: 'enforce'}, {low: 100, medium: 100, high: 100}])
    expect(await modesOf('killed')).toEqual({low: Array(4).fill('shadow'), medium: Array(4).fill('shadow'), high: Array(4).fill('shadow')})
    expect((await admin(d, 'POST', '/v1/admin/killswitch/release', {reason: 'e2e: resume'})).status).toBe(200)
    expect(await modesOf('released')).toEqual({low: Array(4).fill('shadow'), medium: Array(4).fill('enforce'), high: Array(4).fill('enforce')})
    const c = await control()
    expect(c.tiers).toEqual({low: 'shadow', medium: 'enforce', high: 'enforce'})
  })

  it('a restart on the same state dir keeps applied steps, tier modes and percents, and the guard trip', async () => {
    const before = await control()
    await d.stop()
    d = await startRolloutDaemon(CONFIG, dir, {now})
    connect(d)
    const after = await control()
    expect(after.tiers).toEqual({low: 'shadow', medium: 'enforce', high: 'enforce'})
    expect(after.enforce_percent).toEqual(before.enforce_percent)
    expect(after.killswitch.engaged).toBe(false)
    expect(after.rollout.applied_steps).toEqual(before.rollout.applied_steps)
    expect(after.rollout.applied_steps).toHaveLength(9)
    expect(after.rollout.guard_trips).toEqual(before.rollout.guard_trips)
    expect(after.rollout.guard_trips.low.kind).toBe('denial_rate')
    expect((await apply()).status).toBe('complete')
    expect((await admin(d, 'GET', '/v1/admin/rollout')).body.tiers.low.guard.state).toBe('tripped')
    // And it acts on it: medium still enforces every run, low shadows.
    const {ids} = await drive('medium', 'restarted', 2)
    expect([...reserveRecordsOf(ids).values()].flat().map((r) => r.mode)).toEqual(Array(4).fill('enforce'))
    const low = await drive('low', 'restarted', 1)
    expect([...reserveRecordsOf(low.ids).values()].flat().map((r) => r.mode)).toEqual(['shadow', 'shadow'])
  })
})
