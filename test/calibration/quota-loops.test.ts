// Both loop kinds of the scenario format, simulated offline through the daemon's evaluator and judged by
// the quota replay: a retry loop that releases every failed attempt (per_run cannot see it: −1 at
// release) and a loop that commits every call without progress (committed calls keep counting, so the
// suggested per_run quota stops it). The normal need is recomputed here from the timeline itself.
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {openShadowDb, type ShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {buildReport} from '../../src/analytics/report.js'
import {type QuotaSuggestions, renderQuotaSuggestions, suggestActionQuotas} from '../../src/calibration/quota-suggest.js'
import {simulateOffline} from '../../src/simulate/offline.js'
import {parseScenario} from '../../src/simulate/scenario.js'
import {type Run, type Timeline, buildTimeline, callsOf} from '../../src/simulate/timeline.js'
import {tempDir} from '../support/daemon.js'

const SCENARIO = parseScenario(`
name: two-loops
seed: 11
start: "2026-11-02T00:00:00Z"
days: 2
tenants: [acme, globex]
default_headroom: 3
agents:
  - {name: triage, workflow: support, unit: USD_MICROCENTS, action: {kind: llm.completion, name: classify}, runs_per_day: 40, steps: [2, 5], estimate: {median: 300000, sigma: 0.4}, dry_run_share: 0.1}
  - {name: researcher, workflow: research, unit: CREDITS, action: {kind: search.web, name: search}, runs_per_day: 30, steps: [2, 6], estimate: {median: 20, sigma: 0.3}}
budgets:
  - {scope: "tenant:{tenant}", unit: USD_MICROCENTS}
  - {scope: "tenant:{tenant}", unit: CREDITS}
incidents:
  - {type: retry_loop, tenant: acme, agent: researcher, day: 0, hour: 10, count: 47, seconds: 90}
  - {type: retry_loop, tenant: globex, agent: triage, day: 1, hour: 15, count: 30, seconds: 300, outcome: commit}
`)
const RESEARCH = 'tenant:acme/workspace:prod/workflow:research/agent:researcher'
const SUPPORT = 'tenant:globex/workspace:prod/workflow:support/agent:triage'

/** The highest per_run level a normal run of (tenant, agent) reaches, by the spec's lifecycle, from the timeline. */
function normalNeed(timeline: Timeline, tenant: string, agent: string): number {
  const level = new Map<Run, number>()
  let need = 0
  for (const c of callsOf(timeline)) {
    if (c.run.incident || c.run.tenant !== tenant || c.run.agent !== agent || c.step.kind !== 'reserve') continue
    const next = (level.get(c.run) ?? 0) + (c.phase === 'open' ? 1 : c.step.release ? -1 : 0)
    level.set(c.run, next)
    need = Math.max(need, next)
  }
  return need
}

let dir: string
let db: ShadowDb
let timeline: Timeline
let q: QuotaSuggestions
let releaseLoop: string
let commitLoop: string

beforeAll(async () => {
  dir = tempDir('cycles-quota-loops-')
  const file = path.join(dir, 'decisions.jsonl')
  await simulateOffline(SCENARIO, file)
  timeline = buildTimeline(SCENARIO)
  const loops = timeline.runs.filter((r) => r.incident === 'retry_loop')
  releaseLoop = loops.find((r) => r.tenant === 'acme')!.run_id
  commitLoop = loops.find((r) => r.tenant === 'globex')!.run_id
  db = await openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
  await ingest(db, [file])
  q = await suggestActionQuotas(db)
}, 120_000)
afterAll(() => {
  db?.close()
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
})

describe('retry_loop outcome in the timeline', () => {
  it('release (the default) releases every attempt; commit commits each attempt its actual cost, same call every time', () => {
    const release = timeline.runs.find((r) => r.run_id === releaseLoop)!
    const commit = timeline.runs.find((r) => r.run_id === commitLoop)!
    expect(SCENARIO.incidents[0]).toMatchObject({outcome: 'release'})
    expect(release.steps).toHaveLength(47)
    expect(release.steps.every((s) => s.release === true && s.actual === undefined)).toBe(true)
    expect(commit.steps).toHaveLength(30)
    expect(commit.steps.every((s) => s.kind === 'reserve' && s.release === undefined && Number.isInteger(s.actual) && s.actual! > 0)).toBe(true)
    expect(new Set(commit.steps.map((s) => `${s.action.kind} ${s.action.name} ${s.estimate}`)).size).toBe(1)
    expect(commit.steps.at(-1)!.t_ms - commit.steps[0].t_ms).toBe(Math.floor((29 * 300_000) / 30))
    expect(() => parseScenario('tenants: [a]\nagents: [{name: x, unit: CREDITS, action: {kind: k, name: n}, runs_per_day: 1, estimate: {median: 1}}]\nincidents: [{type: retry_loop, tenant: a, agent: x, day: 0, outcome: expire}]')).toThrow(/outcome/)
  })
})

describe('the analyzer flags both loop kinds', () => {
  it('the release loop by its window and its repeats; the committing loop (30 calls in 5 minutes) by its repeats', async () => {
    const report = await buildReport(db, {})
    const byRun = new Map(report.loops.map((l) => [l.run_id, l]))
    expect([...byRun.keys()].sort()).toEqual([releaseLoop, commitLoop].sort())
    expect(byRun.get(releaseLoop)).toMatchObject({scope: RESEARCH, count: 47, signals: ['window', 'repeat'], repeats: 47, cost: 0})
    expect(byRun.get(commitLoop)).toMatchObject({scope: SUPPORT, count: 30, signals: ['repeat'], repeats: 30, action: 'llm.completion classify'})
    const spent = timeline.runs.find((r) => r.run_id === commitLoop)!.steps.reduce((t, s) => t + s.actual!, 0)
    expect(byRun.get(commitLoop)!.cost).toBe(spent)
  })
})

describe('quota suggestions judged by replay, both loop kinds', () => {
  it('the committing loop is stopped by the suggested per_run quota at its max_calls', () => {
    const need = normalNeed(timeline, 'globex', 'triage')
    expect(need).toBeGreaterThan(1)
    const perRun = q.suggestions.find((s) => s.scope === SUPPORT && s.window === 'per_run')!
    const max = Math.max(Math.ceil(need * 1.5), need + 1)
    expect(perRun).toMatchObject({action_kind: 'llm.completion', loops: 1, normal_need: need, suggested_max_calls: max})
    expect(perRun.replay).toEqual({normal_runs_denied: 0, loops_denied: 1, loops_not_denied: []})
    const loop = q.flagged_loops.find((l) => l.run_id === commitLoop)!
    // +1 per reserve, no change at commit: the level is the number of calls.
    expect(loop).toMatchObject({attempts: 30, committed: 30, released: 0, per_run_level: 30})
    expect(loop.stopped_by).toContainEqual({window: 'per_run', scope: SUPPORT, action_kind: 'llm.completion', max_calls: max, level: 30})
    expect(loop.why).toBe(`stopped by per_run (max_calls ${max}; it reached 30): only a release gives a slot back, and it released 0 of its 30 call(s) (30 committed)`)
  })

  it('the release loop is not stoppable by per_run (level 1) and is stopped by the per-minute quota', () => {
    const perRun = q.suggestions.find((s) => s.scope === RESEARCH && s.window === 'per_run')!
    expect(perRun.normal_need).toBe(normalNeed(timeline, 'acme', 'researcher'))
    expect(perRun.replay).toEqual({normal_runs_denied: 0, loops_denied: 0, loops_not_denied: [releaseLoop]})
    const perMinute = q.suggestions.find((s) => s.scope === RESEARCH && s.window === 'per_minute_tumbling')!
    expect(perMinute.replay).toEqual({normal_runs_denied: 0, loops_denied: 1, loops_not_denied: []})
    const loop = q.flagged_loops.find((l) => l.run_id === releaseLoop)!
    expect(loop).toMatchObject({attempts: 47, released: 47, committed: 0, per_run_level: 1})
    expect(loop.stopped_by.map((s) => s.window)).toEqual(['per_minute_tumbling'])
    const [byMinute] = loop.stopped_by
    expect(byMinute).toMatchObject({scope: RESEARCH, action_kind: 'search.web', max_calls: perMinute.suggested_max_calls})
    expect(byMinute.level).toBeGreaterThan(byMinute.max_calls)
    expect(loop.why).toBe(
      `stopped by per_minute_tumbling (max_calls ${byMinute.max_calls}; the scope's counter reached ${byMinute.level} in one window on its calls), not by per_run: it released every attempt, so its per_run counter (+1 at reserve, -1 at release) never passed 1`,
    )
  })

  it('totals: 2 loops, both stopped, 1 of them by per_run, no normal run denied by any suggested quota', () => {
    const normal = new Set(timeline.runs.filter((r) => !r.incident && r.steps.some((s) => s.kind === 'reserve')).map((r) => r.run_id))
    expect(q.totals).toEqual({normal_runs: normal.size, loops: 2, loops_stopped: 2, loops_stopped_per_run: 1, normal_runs_denied: 0})
    for (const s of q.suggestions) expect(s.replay.normal_runs_denied).toBe(0)
  })

  it('the calibrate output prints the totals and one line per loop saying what stops it', () => {
    const lines = renderQuotaSuggestions(q, 20)
    expect(lines[1]).toBe(`Action quotas (by replay): 2 flagged loop(s); the suggested quotas stop 2 of them (1 by a per_run quota) and deny 0 of ${q.totals.normal_runs} normal run(s)`)
    for (const l of q.flagged_loops) expect(lines).toContain(`  loop ${l.run_id} (${l.count} calls, ${l.scope}): ${l.why}`)
  })
})
