import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type ShadowDb, openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {Rng} from '../../src/simulate/prng.js'
import {makeRecord, writeJsonl} from '../../src/simulate/synthetic.js'
import {tempDir} from '../support/daemon.js'
import {evaluateGates, parseGates} from '../../src/analytics/gates.js'
import {type Report, buildReport} from '../../src/analytics/report.js'
import {VERDICT_SEVERITY} from '../../src/calibration/verdict.js'
import {PLANTED, T0, plantedDb} from './helpers.js'

let db: ShadowDb
let report: Report

beforeAll(async () => {
  ;({db} = await plantedDb())
  report = await buildReport(db, {})
})
afterAll(() => db?.close())

const scope = (r: Report, path: string) => r.scopes.find((s) => s.scope === path)!

describe('shadow report on a log with planted truth', () => {
  it('finds every planted denial rate and its band', () => {
    const expected: Record<string, {requests: number; denials: number; band: string}> = {
      'tenant:acme/workspace:prod/workflow:support/agent:triage': {requests: 200, denials: 16, band: 'too_tight'},
      'tenant:acme/workspace:prod/workflow:billing': {requests: 100, denials: 4, band: 'warm'},
      'tenant:globex/workspace:lab': {requests: 150, denials: 3, band: 'goldilocks'},
      'tenant:globex/workspace:prod': {requests: 400, denials: 2, band: 'loose'},
      'tenant:initech': {requests: 60, denials: 0, band: 'decorative'},
      'tenant:initech/agent:rare': {requests: 12, denials: 5, band: 'insufficient_data'},
    }
    for (const [path, e] of Object.entries(expected)) {
      const s = scope(report, path)
      expect(s, path).toBeDefined()
      expect([s.requests, s.would_denials, s.band], path).toEqual([e.requests, e.denials, e.band])
      expect(s.denial_rate).toBeCloseTo(e.denials / e.requests, 10)
    }
    // the planted loops and fan-outs live in their own scopes: 47 + 46 + 200 + 6 and (1 + 39) + (1 + 12) + (1 + 4)
    expect(scope(report, 'tenant:acme/workflow:crawler').requests).toBe(299)
    expect(scope(report, 'tenant:globex/workflow:research').requests).toBe(58)
    const total = PLANTED.scopes.reduce((n, s) => n + s.requests, 0) + 299 + 58
    const denials = PLANTED.scopes.reduce((n, s) => n + s.denials, 0)
    expect(report.totals).toMatchObject({requests: total, would_denials: denials})
    expect(report.totals.denial_rate).toBeCloseTo(denials / total, 10)
  })

  it('sorts worst verdicts first and gives each scope one verdict, one message and one action', () => {
    expect(report.scopes.map((s) => s.verdict)).toEqual([...report.scopes.map((s) => s.verdict)].sort((a, b) => VERDICT_SEVERITY[a] - VERDICT_SEVERITY[b]))
    // 8 % denied, but estimates are 2.3× actual and 10 % of commits overrun: estimates come first
    const triage = scope(report, 'tenant:acme/workspace:prod/workflow:support/agent:triage')
    expect(triage).toMatchObject({band: 'too_tight', verdict: 'estimates', action: {kind: 'fix_estimates'}})
    expect(triage.message).toBe('fix estimates before the limit: 10.0 % of commits exceed their estimate; estimates are 2.3× actual — the budget is effectively 2.3× tighter')
    expect(triage.findings).toEqual(['8.00 % would be denied (too tight band) — judge the limit after estimates are fixed'])
    expect(scope(report, 'tenant:acme/workspace:prod/workflow:billing')).toMatchObject({verdict: 'warm', message: 'running warm: 4.0 % would be denied — investigate before enforcing'})
    expect(scope(report, 'tenant:initech')).toMatchObject({verdict: 'decorative', action: {kind: 'calibrate', command: 'cycles calibrate --tenant initech'}})
    expect(scope(report, 'tenant:globex/workspace:prod')).toMatchObject({verdict: 'loose'})
    expect(scope(report, 'tenant:initech/agent:rare')).toMatchObject({verdict: 'insufficient_data', action: {kind: 'keep_observing'}})
    for (const s of report.scopes) expect(s.tiers).toEqual(['medium'])
  })

  it('contradiction fixed: goldilocks with 50 % of commits over estimate is one verdict (estimates), never "ready"', () => {
    const lab = scope(report, 'tenant:globex/workspace:lab')
    expect(lab.band).toBe('goldilocks')
    expect(lab.verdict).toBe('estimates')
    expect(lab.message).toBe('fix estimates before the limit: 50.0 % of commits exceed their estimate')
    expect([lab.message, ...lab.findings].join(' ')).not.toMatch(/ready/)
    expect(lab.action.kind).toBe('fix_estimates')
  })

  it('contradiction fixed: --by tier is not ready while scopes in that tier are not, and lists them', async () => {
    const byTier = await buildReport(db, {by: 'tier'})
    // one row per tier and unit; every medium row is held back by the same blockers
    expect(new Set(byTier.scopes.map((s) => s.scope))).toEqual(new Set(['medium']))
    for (const row of byTier.scopes) expect(row.verdict).not.toBe('ready')
    const medium = byTier.scopes[0]
    expect(medium.message).toMatch(/^not ready: \d+ of \d+ scope\(s\) block this tier/)
    expect(medium.blockers).toContain('tenant:acme/workspace:prod/workflow:support/agent:triage (USD_MICROCENTS): estimates')
    expect(medium.blockers).toContain('tenant:acme/workspace:prod/workflow:billing (TOKENS): warm')
    expect(evaluateGates(byTier, parseGates('not_ready:medium')).map((v) => v.subject)).toEqual(['tier medium'])
    expect(evaluateGates(report, parseGates('not_ready:medium')).map((v) => v.subject)).toEqual(['tier medium'])
    expect(evaluateGates(report, parseGates('not_ready:low'))).toEqual([])
  })

  it('computes estimate accuracy from commits: reserve:commit ratio, overage rate, MAPE', () => {
    const triage = scope(report, 'tenant:acme/workspace:prod/workflow:support/agent:triage')
    // 100 commits at estimate 3000: 10 with actual 4000, 90 with actual 1000
    expect(triage.commits).toBe(100)
    expect(triage.reserve_commit_ratio).toBeCloseTo(300_000 / 130_000, 10)
    expect(triage.overage_rate).toBeCloseTo(0.1, 10)
    expect(triage.mape).toBeCloseTo((10 * 0.25 + 90 * 2) / 100, 10)
    const billing = scope(report, 'tenant:acme/workspace:prod/workflow:billing')
    expect([billing.reserve_commit_ratio, billing.overage_rate, billing.mape]).toEqual([1, 0, 0])
    const lab = scope(report, 'tenant:globex/workspace:lab')
    // 20 × (800 vs 1000) + 20 × (800 vs 600)
    expect(lab.reserve_commit_ratio).toBeCloseTo(32_000 / 32_000, 10)
    expect(lab.overage_rate).toBeCloseTo(0.5, 10)
    expect(lab.mape).toBeCloseTo((20 * 0.2 + 20 * (200 / 600)) / 40, 10)
    expect(scope(report, 'tenant:globex/workspace:prod').reserve_commit_ratio).toBeNull()
  })

  it('reports the stateless dry-run denial rate where dry-runs exist', () => {
    const triage = scope(report, 'tenant:acme/workspace:prod/workflow:support/agent:triage')
    expect([triage.dry_run_requests, triage.dry_run_denial_rate]).toEqual([10, 0.4])
    expect(scope(report, 'tenant:acme/workspace:prod/workflow:billing').dry_run_denial_rate).toBeNull()
  })

  it('finds exactly the planted loops, with run, scope, count and window', () => {
    const byRun = Object.fromEntries(report.loops.map((l) => [l.run_id, l]))
    expect(Object.keys(byRun).sort()).toEqual(['loop-47', 'repeat-6', 'storm-200'])
    expect(byRun['loop-47']).toMatchObject({scope: 'tenant:acme/workflow:crawler', count: 47, window_seconds: 90, signals: ['window', 'repeat'], repeats: 47})
    expect(byRun['loop-47'].first_ts).toBe(new Date(T0 + 86_400_000).toISOString())
    expect(byRun['loop-47'].last_ts).toBe(new Date(T0 + 86_400_000 + 89_000).toISOString())
    // 200 evenly over 300 s: the densest 90 s window holds 60 (ts spaced 1507.5 ms apart → floor)
    expect(byRun['storm-200'].signals).toEqual(['window'])
    expect(byRun['storm-200'].count).toBeGreaterThanOrEqual(59)
    expect(byRun['storm-200'].count).toBeLessThanOrEqual(60)
    expect(byRun['repeat-6']).toMatchObject({count: 6, signals: ['repeat'], window_seconds: 3600})
  })

  it('loop thresholds are flags: 46 in 90 s is a loop at threshold 46', async () => {
    const r = await buildReport(db, {loopThreshold: 46, repeatThreshold: 100})
    expect(r.loops.map((l) => l.run_id).sort()).toEqual(['busy-46', 'loop-47', 'storm-200'])
    const r2 = await buildReport(db, {loopWindowSeconds: 10, repeatThreshold: 7})
    expect(r2.loops.map((l) => l.run_id).sort()).toEqual(['loop-47'])
  })

  it('finds the planted fan-outs with children, depth and amplification', () => {
    const byRun = Object.fromEntries(report.fanout.map((f) => [f.run_id, f]))
    expect(byRun['fan-deep']).toMatchObject({children: 3, depth: 3, descendants: 39, amplification: 27, flagged: true, scope: 'tenant:globex/workflow:research'})
    expect(byRun['fan-wide']).toMatchObject({children: 12, depth: 1, descendants: 12, amplification: 12, flagged: true})
    expect(byRun['fan-small']).toMatchObject({children: 2, depth: 2, descendants: 4, amplification: 2, flagged: false})
    expect(report.totals.fanout_flagged).toBe(2)
  })

  it('filters by tenant, unit and time, and groups by workflow, tier and reason', async () => {
    const globex = await buildReport(db, {tenant: 'globex'})
    expect(globex.scopes.every((s) => s.scope.startsWith('tenant:globex'))).toBe(true)
    expect(globex.totals.requests).toBe(150 + 400 + 58)
    const tokens = await buildReport(db, {unit: 'TOKENS'})
    expect(tokens.scopes.map((s) => s.unit)).toEqual(['TOKENS', 'TOKENS'])
    const late = await buildReport(db, {since: new Date(T0 + 5 * 86_400_000).toISOString()})
    expect(late.loops).toEqual([])
    expect(late.fanout.map((f) => f.run_id).sort()).toEqual(['fan-deep', 'fan-small', 'fan-wide'])
    const byWorkflow = await buildReport(db, {by: 'workflow'})
    const support = byWorkflow.scopes.find((s) => s.scope === 'acme/workflow:support')!
    expect([support.requests, support.would_denials]).toEqual([200, 16])
    const byReason = await buildReport(db, {by: 'reason'})
    expect(byReason.scopes.map((s) => s.scope)).toContain('BUDGET_EXCEEDED')
    const floor = await buildReport(db, {minRequests: 10})
    expect(scope(floor, 'tenant:initech/agent:rare').band).toBe('too_tight')
  })

  it('gates fire exactly when violated', () => {
    expect(evaluateGates(report, parseGates('too_tight')).map((v) => v.subject)).toEqual(['tenant:acme/workspace:prod/workflow:support/agent:triage (USD_MICROCENTS)'])
    expect(evaluateGates(report, parseGates('warm')).length).toBe(1)
    expect(evaluateGates(report, parseGates('decorative')).length).toBe(3)
    expect(evaluateGates(report, parseGates('loops')).length).toBe(3)
    expect(evaluateGates(report, parseGates('fanout')).length).toBe(2)
    // overage > 5 %: triage (10 %) and lab (50 %)
    expect(evaluateGates(report, parseGates('overage')).map((v) => v.subject).sort()).toEqual([
      'tenant:acme/workspace:prod/workflow:support/agent:triage (USD_MICROCENTS)',
      'tenant:globex/workspace:lab (CREDITS)',
    ])
    expect(evaluateGates(report, parseGates(''))).toEqual([])
    // contradiction fixed: insufficient_data is a gate, so a day-one CI job does not pass by default
    expect(evaluateGates(report, parseGates('insufficient_data')).map((v) => v.subject)).toEqual(['tenant:initech/agent:rare (RISK_POINTS)'])
    expect(evaluateGates(report, parseGates('estimates')).map((v) => v.subject).sort()).toEqual([
      'tenant:acme/workspace:prod/workflow:support/agent:triage (USD_MICROCENTS)',
      'tenant:globex/workspace:lab (CREDITS)',
    ])
    expect(() => parseGates('too_tight,bogus')).toThrow(/unknown gate/)
  })
})

describe('contradiction fixed: would-be denials that are configuration errors', () => {
  let cdb: ShadowDb
  let r: Report
  beforeAll(async () => {
    const dir = tempDir('cycles-config-error-')
    const rng = new Rng(3)
    const records = Array.from({length: 100}, (_, i) =>
      makeRecord(rng, {
        ts_ms: T0 + i * 60_000,
        endpoint: 'reserve',
        tenant: 'umbrella',
        scope_path: 'tenant:umbrella/agent:crawler',
        unit: 'CREDITS',
        estimate: 10,
        // 8 % would be denied — all UNIT_MISMATCH (budgets exist in USD_MICROCENTS only)
        ...(i % 12 === 0 && i < 96 ? {would_decision: 'DENY' as const, would_reason_code: 'UNIT_MISMATCH'} : {}),
      }),
    )
    writeJsonl(path.join(dir, 'log.jsonl'), records)
    cdb = await openShadowDb(path.join(dir, 'db.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
    await ingest(cdb, [path.join(dir, 'log.jsonl')])
    r = await buildReport(cdb, {})
  }, 60_000)
  afterAll(() => cdb?.close())

  it('a scope whose would-be denials are UNIT_MISMATCH is told to configure a budget, not to raise the limit', () => {
    const s = r.scopes[0]
    expect([s.requests, s.would_denials, s.band]).toEqual([100, 8, 'too_tight'])
    expect(s.verdict).toBe('config_error')
    expect(s.message).toBe('configuration: no budget in CREDITS here, budgets exist in another unit (8 of 8 would-be denials) — configure a budget in CREDITS; the limit is not the problem')
    expect(s.action).toEqual({kind: 'create_budget', command: 'cycles budget create --scope tenant:umbrella --unit CREDITS --amount 1'})
    // the limit gate does not fire on a configuration error; the config_error gate does
    expect(evaluateGates(r, parseGates('too_tight'))).toEqual([])
    expect(evaluateGates(r, parseGates('config_error')).map((v) => v.subject)).toEqual(['tenant:umbrella/agent:crawler (CREDITS)'])
  })

  it('--by reason: the UNIT_MISMATCH row is a configuration error too', async () => {
    const byReason = await buildReport(cdb, {by: 'reason'})
    expect(byReason.scopes.map((s) => [s.scope, s.verdict])).toEqual([['UNIT_MISMATCH', 'config_error']])
  })
})
