// The rollout and rail commands against a real daemon through the built CLI: `rollout status` and
// `rollout rollback`; `tier set … enforce` needs --reason, previews the last hour and needs --yes off
// a TTY; `killswitch` keeps the first reason, shows who/when/why, and release warns and asks before
// turning on enforcement set while it was engaged.
import {execFile} from 'node:child_process'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {TestDaemon} from '../support/daemon.js'
import {ROOT, requireBuild} from '../cluster/helpers.js'
import {ADMIN, admin, rolloutConfig, search, startRolloutDaemon} from './helpers.js'

interface Run {
  code: number
  stdout: string
  stderr: string
  json: any
}

let d: TestDaemon
/** Each CLI run starts node and oclif: seconds apiece on a loaded machine. */
const SLOW = 180_000
const cli = (...args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/run.js'), ...args, '--admin-url', d.daemon.adminUrl], {env: {...process.env, CYCLES_ADMIN_API_KEY: ADMIN, NO_COLOR: '1'}}, (error, stdout, stderr) => {
      let json: unknown
      try {
        json = JSON.parse(stdout)
      } catch {
        json = undefined
      }
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr, json})
    })
  })

beforeAll(async () => {
  requireBuild()
  d = await startRolloutDaemon(rolloutConfig({lowAllocated: 3000}))
  // 5 live reservations of 1000 against 3000 in shadow: 2 would have been denied.
  for (let i = 0; i < 5; i++) expect((await search(d, 1000)).status).toBe(200)
})
afterAll(async () => {
  await d?.stop()
})

describe('cycles tier set … enforce', () => {
  it('needs --reason', async () => {
    const r = await cli('tier', 'set', 'low', 'enforce', '--json')
    expect(r.code).toBe(2)
    expect(r.json.error.code).toBe('REASON_REQUIRED')
    expect(d.daemon.control.tiers.low).toBe('shadow')
  }, SLOW)

  it('shows what it would have denied in the last hour and refuses off a TTY without --yes', async () => {
    const r = await cli('tier', 'set', 'low', 'enforce', '--reason', 'calibrated')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('enforcing tier low would have denied 2 of 5 live requests (40.00 %)')
    expect(r.stderr).toContain('CONFIRMATION_REQUIRED')
    expect(d.daemon.control.tiers.low).toBe('shadow')
  }, SLOW)

  it('with --yes and --percent: enforces that share, with the preview in the JSON and the reason in the audit log', async () => {
    const r = await cli('tier', 'set', 'low', 'enforce', '--reason', 'ramp to 10', '--percent', '10', '--actor', 'ci', '--yes', '--json')
    expect(r.code).toBe(0)
    expect(r.json).toMatchObject({tiers: {low: 'enforce'}, enforce_percent: {low: 10}, preview: {tier: 'low', requests: 5, would_denials: 2, enforce_percent: 10}})
    expect(d.daemon.control.enforce_percent?.low).toBe(10)
    const rows = (await admin(d, 'GET', '/v1/admin/audit/logs?operation=control.tier.set')).body.logs
    expect(rows[0].metadata).toMatchObject({tier: 'low', mode: 'enforce', enforce_percent: 10, reason: 'ramp to 10', actor: 'ci', baseline: {denial_rate: 0.4}})
  }, SLOW)
})

describe('cycles rollout status | rollback', () => {
  it('status --json: per tier mode, percent, since, rates against the baseline, guard state; next step left to the plan', async () => {
    const r = await cli('rollout', 'status', '--json', '--since', '1h')
    expect(r.code).toBe(0)
    const low = r.json.tiers.find((t: any) => t.tier === 'low')
    expect(low).toMatchObject({mode: 'enforce', effective_mode: 'enforce', enforce_percent: 10, baseline: 0.4, would_denial_rate: 0.4, guard: {state: 'armed'}})
    expect(low.since_ms).toBeGreaterThan(0)
    expect(low.guard_threshold).toBeCloseTo(1.2, 10)
    expect(r.json.next_step).toBeNull()
    expect(r.json.tiers.map((t: any) => t.tier)).toEqual(['low', 'medium', 'high'])
    const text = await cli('rollout', 'status')
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/low .*enforce .*10 %/)
    expect(text.stdout).toContain('guard: trips at 3 × baseline')
  }, SLOW)

  it('rollback needs --reason; --tier low puts it back in shadow, audited', async () => {
    expect((await cli('rollout', 'rollback', '--tier', 'low', '--json')).code).toBe(2)
    const r = await cli('rollout', 'rollback', '--tier', 'low', '--reason', 'cli drill', '--actor', 'oncall', '--json')
    expect(r.code).toBe(0)
    expect(r.json).toMatchObject({tiers: ['low'], changed: ['low']})
    expect(d.daemon.control.tiers.low).toBe('shadow')
    const rows = (await admin(d, 'GET', '/v1/admin/audit/logs?operation=rollout.rollback')).body.logs
    expect(rows[0].metadata).toMatchObject({reason: 'cli drill', actor: 'oncall', tiers: ['low']})
  }, SLOW)
})

describe('cycles killswitch rails', () => {
  it('engaging twice keeps the first reason and adds the second; status shows who, when and why', async () => {
    expect((await cli('killswitch', 'engage', '--reason', 'first: runaway loop', '--actor', 'alice', '--json')).code).toBe(0)
    const again = await cli('killswitch', 'engage', '--reason', 'second: still bad', '--actor', 'bob', '--json')
    expect(again.json.killswitch).toMatchObject({engaged: true, reason: 'first: runaway loop', actor: 'alice'})
    expect(again.json.killswitch.engagements.map((e: any) => e.reason)).toEqual(['first: runaway loop', 'second: still bad'])
    const status = await cli('killswitch', 'status')
    expect(status.stdout).toMatch(/kill switch: ENGAGED .* at \d{4}-\d\d-\d\dT.* by alice — first: runaway loop/)
    expect(status.stdout).toMatch(/engaged again at .* by bob — second: still bad/)
  }, SLOW)

  it('release warns and asks when it would turn on enforcement set while engaged', async () => {
    expect((await cli('tier', 'set', 'medium', 'enforce', '--reason', 'set during the incident', '--yes', '--json')).code).toBe(0)
    const refused = await cli('killswitch', 'release', '--reason', 'over')
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('warning: releasing turns on enforcement of tier medium (100 % of runs)')
    expect(d.daemon.control.killswitch.engaged).toBe(true)
    const released = await cli('killswitch', 'release', '--reason', 'over', '--yes', '--json')
    expect(released.code).toBe(0)
    expect(released.json.killswitch.engaged).toBe(false)
    expect(released.json.enforcement_turned_on.map((t: any) => t.tier)).toEqual(['medium'])
    // Nothing set while engaged: no warning, no question.
    expect((await cli('killswitch', 'engage', '--reason', 'drill', '--json')).code).toBe(0)
    const quiet = await cli('killswitch', 'release', '--json')
    expect(quiet.code).toBe(0)
    expect(quiet.stderr).not.toContain('warning')
    expect(quiet.json.enforcement_turned_on).toEqual([])
  }, SLOW)
})
