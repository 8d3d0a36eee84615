import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {ShadowDb} from '../../src/analytics/db.js'
import {evaluateGates, parseGates} from '../../src/analytics/gates.js'
import {type Report, buildReport} from '../../src/analytics/report.js'
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

  it('sorts worst scopes first and says what to do in words', () => {
    expect(report.scopes[0].band).toBe('too_tight')
    expect(report.scopes[1].band).toBe('warm')
    expect(report.scopes[0].verdict).toMatch(/^too tight: 8\.0 % would be denied — raise the limit or fix estimates/)
    expect(scope(report, 'tenant:initech').verdict).toMatch(/^decorative/)
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
    expect(() => parseGates('too_tight,bogus')).toThrow(/unknown gate/)
  })
})
