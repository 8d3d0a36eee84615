// `cycles demo` end to end (runShadowDemo, what `npm run demo` runs): the shadow half (simulate, live
// burst, ingest, report, calibrate) and the rollout half — a plan from the calibration, its first
// enforce step applied through the real gate on a daemon with the admin plane, and the daemon's guard
// putting the tier back in shadow after a planted regression. The rollout state is then read back
// from the store by a fresh daemon, so the test does not rest on the demo's own account of it.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config/load.js'
import {Daemon} from '../../src/daemon/daemon.js'
import {DEMO_ROLLOUT} from '../../src/demo/rollout-demo.js'
import {type DemoResult, demoText, runShadowDemo} from '../../src/demo/shadow-demo.js'
import {readPlan} from '../../src/rollout/apply-run.js'
import {parseDuration} from '../../src/runbook/duration.js'
import {call, tempDir} from '../support/daemon.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
let dir: string
let result: DemoResult
const lines: string[] = []
const firstPercent = Number(DEMO_ROLLOUT.ramp.split(',')[0])

beforeAll(async () => {
  dir = tempDir('cycles-demo-test-')
  result = await runShadowDemo({scenario: path.join(ROOT, 'fixtures/scenarios/demo-fleet.yaml'), dir, log: (l) => lines.push(l)})
}, 300_000)
afterAll(() => {
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
})

describe('the demo', () => {
  it('runs the shadow half: offline fortnight, live burst, ingest, report, calibration', () => {
    expect(result.offline.records).toBeGreaterThan(10_000)
    expect(result.live.calls).toBeGreaterThan(0)
    expect(result.ingest.ingested).toBe(result.offline.records + result.live.calls)
    expect(result.calibration.result.budgets.length).toBe(result.offline.budgets)
    expect(fs.existsSync(result.calibration.json)).toBe(true)
    expect(Object.keys(result.step_seconds)).toEqual(['simulate', 'live', 'ingest', 'report', 'calibrate', 'plan', 'enforce', 'guard'])
  })

  it('writes the two HTML reports (self-contained pages with charts) and prints their paths', () => {
    for (const page of [result.html.report, result.html.calibration]) {
      const html = fs.readFileSync(page, 'utf8')
      expect(html).toMatch(/^<!doctype html>/i)
      expect(html).toContain('<svg')
      expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="https?:/i)
    }
    expect(demoText(result, false)).toContain(`HTML reports (open in a browser; self-contained, no network): ${result.html.report} and ${result.html.calibration}`)
    // The planted loop of the fortnight and the live burst are on the shadow page's loop timeline.
    expect(fs.readFileSync(result.html.report, 'utf8')).toContain('tenant-02')
  })

  it('suggests action quotas that stop both planted loops of the fortnight and deny no normal run (by replay)', () => {
    const q = result.calibration.result.action_quotas!
    // demo-fleet.yaml plants a retry loop (47 calls in 90 s, each released: per_run cannot see it, the
    // per-minute quota stops it) and a committing loop (30 calls in 5 minutes: the per_run quota stops it).
    expect(q.flagged_loops.map((l) => [l.scope.split('/')[0], l.count, l.attempts, l.released, l.committed, l.per_run_level])).toEqual([
      ['tenant:tenant-02', 47, 47, 47, 0, 1],
      ['tenant:tenant-06', 30, 30, 0, 30, 30],
    ])
    const [release, commit] = q.flagged_loops
    expect(release.stopped_by.map((s) => s.window)).toEqual(['per_minute_tumbling'])
    expect(release.why).toContain('not by per_run: it released every attempt')
    expect(commit.stopped_by.map((s) => s.window)).toEqual(['per_run'])
    expect(commit.stopped_by[0].level).toBeGreaterThan(commit.stopped_by[0].max_calls)
    expect(q.totals).toMatchObject({loops: 2, loops_stopped: 2, loops_stopped_per_run: 1, normal_runs_denied: 0})
    expect(q.totals.normal_runs).toBeGreaterThan(4000)
    const printed = lines.join('\n')
    expect(printed).toContain('the suggested quotas stop 2 of 2 flagged loop(s) (1 by a per_run quota) and deny 0 of')
    for (const l of q.flagged_loops) expect(printed).toContain(`loop ${l.run_id} (${l.count} calls, ${l.scope}): ${l.why}`)
  })

  it('plans the rollout of the ready tiers from the calibration; the plan file is the one `rollout apply` reads', () => {
    const r = result.rollout!
    const ready = r.plan.readiness.filter((t) => t.ready).map((t) => t.tier)
    expect(ready.length).toBeGreaterThan(0)
    expect(r.tier).toBe(ready[0])
    expect(r.plan.tiers).toEqual(ready)
    expect(r.plan.steps).toBeGreaterThan(1)
    const plan = readPlan(r.plan.file)
    expect(plan.plan_id).toBe(r.plan.plan_id)
    expect(plan.steps).toHaveLength(r.plan.steps)
    expect(plan.dwell_ms).toBe(parseDuration(DEMO_ROLLOUT.dwell))
    // Tiers that are not ready are named with their blockers, not planned.
    for (const t of r.plan.readiness.filter((x) => !x.ready)) expect(lines.join('\n')).toContain(`${t.tier} NOT ready — ${t.blockers.length} budget(s) not ready`)
  })

  it('applies the plan up to its first enforce step, every gate passed and nothing forced', () => {
    const r = result.rollout!
    expect(r.steps.length).toBeGreaterThan(0)
    expect(r.steps.map((s) => s.step.step)).toEqual(r.steps.map((_, i) => i + 1))
    for (const s of r.steps) {
      expect(s.status).toBe('applied')
      expect(s.gate.passed).toBe(true)
      expect(s.gate.checks.every((c) => c.passed)).toBe(true)
    }
    const enforce = r.enforced!
    expect(enforce.step).toMatchObject({kind: 'enforce', tier: r.tier, enforce_percent: firstPercent})
    expect(r.steps.at(-1)).toBe(enforce)
    // The live gates were measured on the daemon's figures, not skipped.
    const checks = Object.fromEntries(enforce.gate.checks.map((c) => [c.gate, c]))
    expect(Object.keys(checks)).toEqual(expect.arrayContaining(['budgets_ready', 'dwell', 'min_requests', 'denial_rate', 'reserve_commit_ratio', 'overage']))
    expect(Number(/^(\d+) request/.exec(checks.min_requests.actual)![1])).toBeGreaterThanOrEqual(DEMO_ROLLOUT.minRequests)
    const limits = r.steps.find((s) => s.step.kind === 'limits')
    if (limits) for (const f of limits.fundings!) expect(f.new_allocated).toBe(f.to)
  })

  it('the guard puts the tier back in shadow by itself after its budgets are cut to a tenth', () => {
    const g = result.rollout!.guard!
    expect(g.healthy_window.requests).toBeGreaterThanOrEqual(DEMO_ROLLOUT.guard.min_requests)
    expect(g.healthy_window.denials).toBe(0)
    expect(g.cut.length).toBeGreaterThan(0)
    for (const c of g.cut) expect(c.to).toBe(Math.floor(c.from / 10))
    expect(g.tripped).toBe(true)
    expect(g.tier).toMatchObject({tier: result.rollout!.tier, mode: 'shadow', guard: {state: 'tripped', last_trip: {kind: 'denial_rate'}}})
    const trip = g.tier!.guard.last_trip!
    expect(trip.denial_rate).toBeGreaterThanOrEqual(trip.threshold!)
    expect(trip.requests).toBeGreaterThanOrEqual(DEMO_ROLLOUT.guard.min_requests)
    expect(g.daemon_log.some((l) => l.startsWith(`rollout guard: tier ${result.rollout!.tier} back to shadow (denial_rate)`))).toBe(true)
    const text = demoText(result, false)
    expect(text).toContain(`step ${result.rollout!.enforced!.step.step}: tier ${result.rollout!.tier} enforced at ${firstPercent} % with its gate passed`)
    expect(text).toContain('rollout status')
  })

  it('leaves the rollout state in the store: a fresh daemon sees the steps, the trip and its audit row', async () => {
    const r = result.rollout!
    const config = loadConfig(r.config)
    const d = await Daemon.start({config, port: 0, adminPort: 0, logDir: path.join(dir, 'reopen-log'), stateDir: r.state_dir, log: () => {}})
    try {
      expect(d.control.tiers[r.tier!]).toBe('shadow')
      expect(d.control.rollout?.applied_steps?.map((s) => s.step)).toEqual(r.steps.map((s) => s.step.step))
      expect(d.control.rollout?.applied_steps?.every((s) => s.plan_id === r.plan.plan_id && !s.forced)).toBe(true)
      expect(d.control.rollout?.guard_trips?.[r.tier!]).toMatchObject({kind: 'denial_rate'})
      const audit = await call(d.adminUrl, 'GET', '/v1/admin/audit/logs?operation=rollout.guard.rollback', undefined, {'X-Admin-API-Key': config.admin_key!})
      expect(audit.status).toBe(200)
      expect(audit.body.logs).toHaveLength(1)
      expect(audit.body.logs[0]).toMatchObject({resource_id: `tier:${r.tier}`, metadata: {actor: 'cycles-guard', kind: 'denial_rate'}})
    } finally {
      await d.stop()
    }
  })
})
