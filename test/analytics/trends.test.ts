// Trends, comparison and provenance (issue 16), on planted traffic whose truth is known by
// construction (trend-traffic.ts): the JSON series must find the day a budget ran out and the day
// estimates drifted, the comparison must find what became too tight and the new loop, and labels
// must keep sources apart.
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {runIngest, runReport} from '../../src/analytics/run.js'
import {driftFrom} from '../../src/analytics/series.js'
import {runCalibrate} from '../../src/calibration/run.js'
import {tempDir} from '../support/daemon.js'
import {ACME, DAYS, DRIFT_FROM, FIRST_DENIAL_ON, GLOBEX, RUNS_OUT_ON, dayIso, trendConfigYaml, writeTrendLog} from './trend-traffic.js'

let dir: string
let dbPath: string
let configPath: string

beforeAll(async () => {
  dir = tempDir('cycles-trends-')
  dbPath = path.join(dir, 'shadow.duckdb')
  configPath = path.join(dir, 'cycles.yaml')
  fs.writeFileSync(configPath, trendConfigYaml())
  const db = await openShadowDb(dbPath, {create: true, threads: 1, memoryLimit: '256MB'})
  try {
    await ingest(db, [writeTrendLog(dir)])
  } finally {
    db.close()
  }
})
afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

const quiet = {output: undefined as string | undefined}
const report = async (extra: Record<string, unknown> = {}) => {
  const out = path.join(dir, `r-${Math.random().toString(36).slice(2)}.json`)
  const run = await runReport(dbPath, {format: 'json', ...quiet, output: out, ...extra})
  return {run, json: extra.format ? undefined : JSON.parse(fs.readFileSync(out, 'utf8')), file: out}
}

describe('daily series in the shadow report JSON', () => {
  it('has one point per day of the window for every row and tier', async () => {
    const {json} = await report()
    expect(json.series.days).toEqual(Array.from({length: DAYS}, (_, d) => dayIso(d)))
    const acme = json.series.rows.find((r: {key: string}) => r.key === ACME.scope_path)
    expect(acme.points.map((p: {requests: number}) => p.requests)).toEqual(Array(DAYS).fill(10))
    expect(acme.points.map((p: {would_denials: number}) => p.would_denials)).toEqual([0, 0, 0, 0, 0, 10, 10, 10, 10, 10])
    expect(acme.points.map((p: {spend: number}) => p.spend)).toEqual(Array(DAYS).fill(ACME.perDay))
    const medium = json.series.tiers.find((t: {tier: string}) => t.tier === 'medium')
    // day 0: acme 10 + globex 24 attempts, none denied; day 5: the 10 acme ones denied
    expect(medium.points[0]).toEqual({day: dayIso(0), requests: 34, would_denials: 0, would_deny_rate: 0})
    expect(medium.points[5].would_denials).toBe(10)
    expect(medium.points[5].would_deny_rate).toBeCloseTo(10 / 34, 10)
  })

  it('finds the day the budget ran out (the first BUDGET_EXCEEDED at its scope) and its running spend', async () => {
    const {json} = await report()
    expect(json.series.run_out).toHaveLength(1)
    const out = json.series.run_out[0]
    expect(out).toMatchObject({scope: ACME.budget, unit: ACME.unit, day: FIRST_DENIAL_ON, denials: 50})
    expect(out.spend.map((p: {cumulative: number}) => p.cumulative)).toEqual(Array.from({length: DAYS}, (_, d) => (d + 1) * ACME.perDay))
  })

  it('finds the day estimates drifted out of the 0.8–1.2 band, and no drift where there is none', async () => {
    const {json} = await report()
    const action = (name: string) => json.series.actions.find((a: {action_name: string; unit: string}) => a.action_name === name && a.unit === GLOBEX.unit)
    const search = action('search')
    expect(search.drift_from).toBe(DRIFT_FROM)
    expect(search.points.map((p: {ratio: number}) => p.ratio)).toEqual([1, 1, 1, 1, ...Array(6).fill(1000 / 1600)])
    expect(action('chat').drift_from).toBeNull()
    expect(action('chat').ratio).toBe(1)
    // off from the first day: out of band, but not a drift
    expect(action('vectors').ratio).toBe(0.5)
    expect(action('vectors').drift_from).toBeNull()
  })

  it('driftFrom: the closing stretch outside the band after a day inside it; gaps without commits are skipped', () => {
    const p = (day: string, ratio: number | null) => ({day, ratio})
    expect(driftFrom([p('a', 1), p('b', 1.3), p('c', null), p('d', 1.25)])).toBe('b')
    expect(driftFrom([p('a', 1.3), p('b', 1), p('c', 0.7)])).toBe('c')
    expect(driftFrom([p('a', 1), p('b', 1.2), p('c', 0.8)])).toBeNull()
    expect(driftFrom([p('a', 2), p('b', 2)])).toBeNull()
    expect(driftFrom([])).toBeNull()
  })

  it('gives loops and fan-out trees their committed cost', async () => {
    const {json} = await report()
    const loop = json.loops.find((l: {run_id: string}) => l.run_id === 'loop-late')
    expect(loop).toMatchObject({scope: GLOBEX.scope_path, count: 50, cost: 0, unit: GLOBEX.unit})
  })
})

describe('calibrate: spend against the allocation, and the denial-rate curve', () => {
  it('finds the day committed spend reached the current allocation, and replays the curve', async () => {
    const out = path.join(dir, 'cal.json')
    await runCalibrate({db: dbPath, config: configPath, filter: {}, options: {threads: 1}, format: 'json', output: out})
    const json = JSON.parse(fs.readFileSync(out, 'utf8'))
    const acme = json.series.budgets.find((b: {scope: string}) => b.scope === ACME.budget)
    expect(acme.allocated).toBe(ACME.allocated)
    // spend reaches the allocation on day 5; the logged shadow ledger denies from day 6: the earlier counts
    expect(acme).toMatchObject({runs_out_on: RUNS_OUT_ON, spend_reached_limit_on: RUNS_OUT_ON, first_denial_on: FIRST_DENIAL_ON})
    expect(acme.points.map((p: {cumulative: number}) => p.cumulative)).toEqual(Array.from({length: DAYS}, (_, d) => (d + 1) * ACME.perDay))
    const globex = json.series.budgets.find((b: {scope: string}) => b.scope === 'tenant:globex')
    expect(globex.runs_out_on).toBeNull()
    const row = json.budgets.find((b: {scope: string}) => b.scope === ACME.budget)
    const curve = json.series.curves.find((c: {scope: string}) => c.scope === ACME.budget)
    expect(curve.suggested).toBe(row.suggested_allocated)
    const at = (limit: number) => curve.points.find((p: {limit: number}) => p.limit === limit).rate
    // at a limit of 0 every attempt is denied; at the suggestion the budget alone meets the target
    expect(at(0)).toBe(1)
    expect(at(curve.suggested)).toBeLessThanOrEqual(json.target)
    // the current limit is on the curve with the replay's own answer: half the attempts (days 5–9) denied
    expect(at(ACME.allocated)).toBe(0.5)
    const limits = curve.points.map((p: {limit: number}) => p.limit)
    expect(limits).toEqual([...limits].sort((a: number, b: number) => a - b))
  })

  it('the Markdown of a calibration compared with an earlier window lists the newly too-tight budget', async () => {
    const out = path.join(dir, 'cal.md')
    await runCalibrate({db: dbPath, config: configPath, filter: {}, options: {threads: 1}, format: 'markdown', output: out, compareWindow: {text: '5d', ms: 5 * 86_400_000}})
    const md = fs.readFileSync(out, 'utf8')
    expect(md).toContain('### Changed since the data as it stood 5d earlier')
    expect(md).toMatch(/new too tight: `tenant:acme` \(USD_MICROCENTS\) at 50\.00 %, was decorative/)
    expect(md).toContain(`tenant:acme (USD_MICROCENTS) reached its current limit of 10,000 on ${RUNS_OUT_ON}`)
  })
})

describe('--compare and --compare-window', () => {
  it('a saved report of the first five days against the full one: the new too-tight scope, its band, the new loop', async () => {
    const earlier = await report({until: `${dayIso(5)}T00:00:00.000Z`})
    expect(earlier.json.scopes.find((s: {scope: string}) => s.scope === ACME.scope_path).band).toBe('decorative')
    const {json} = await report({compare: earlier.file})
    expect(json.changes.against).toMatchObject({kind: 'file', source: earlier.file, window: {first_ts: earlier.json.window.first_ts, last_ts: earlier.json.window.last_ts}})
    expect(json.changes.new_too_tight).toEqual([{scope: ACME.scope_path, unit: ACME.unit, rate: 0.5, previous_band: 'decorative'}])
    expect(json.changes.band_changes).toContainEqual({scope: ACME.scope_path, unit: ACME.unit, from: 'decorative', to: 'too_tight', rate_from: 0, rate_to: 0.5})
    expect(json.changes.new_loops).toEqual([{run_id: 'loop-late', scope: GLOBEX.scope_path, count: 50, scope_looped_before: false}])
    expect(json.changes.gone_rows).toEqual([])
  })

  it('--compare-window compares with the data up to the last record minus the window; Markdown gets a "Changed since" section', async () => {
    const {run} = await report({format: 'markdown', compareWindow: {text: '5d', ms: 5 * 86_400_000}})
    const md = run.text
    expect(run.report.changes!.against.kind).toBe('window')
    // the last record is on day 9: the earlier report ends before day 5 (no denials yet, no loop)
    expect(run.report.changes!.against.window.last_ts!.slice(0, 10)).toBe(dayIso(4))
    expect(md).toContain('### Changed since the data as it stood 5d earlier')
    expect(md).toContain(`- new too tight: \`${ACME.scope_path}\` (USD_MICROCENTS) at 50.00 %, was decorative`)
    expect(md).toContain("- new loop: run `loop-late` in `tenant:globex/workflow:research` (50 reservations) — first loop in this scope")
    expect(md).toContain(`- ${ACME.budget} (${ACME.unit}) ran out on ${FIRST_DENIAL_ON}`)
    expect(md).toContain(`- estimates of tool search (TOKENS) left the 0.8–1.2 band on ${DRIFT_FROM}`)
  })

  it('refuses a file that is not a saved report of the command, and mixed groupings', async () => {
    const bogus = path.join(dir, 'bogus.json')
    fs.writeFileSync(bogus, JSON.stringify({hello: 1}))
    await expect(runReport(dbPath, {format: 'json', compare: bogus, output: path.join(dir, 'x.json')})).rejects.toMatchObject({code: 'USAGE', message: expect.stringContaining('is not a saved report of this command')})
    const byTier = await report({by: 'tier'})
    await expect(runReport(dbPath, {format: 'json', compare: byTier.file, output: path.join(dir, 'x.json')})).rejects.toMatchObject({code: 'USAGE', message: expect.stringContaining('grouped --by tier')})
  })
})

describe('provenance: ingest --label, the report lists its sources, --label filters', () => {
  it('keeps two labelled sources apart', async () => {
    const labelled = path.join(dir, 'labelled.duckdb')
    const eu = writeTrendLog(dir, 'eu.jsonl', 0, 3, 21)
    const us = writeTrendLog(dir, 'us.jsonl', 3, 5, 22)
    expect((await runIngest(labelled, [eu], {label: 'prod-eu'})).label).toBe('prod-eu')
    await runIngest(labelled, [us], {label: 'prod-us'})
    const out = path.join(dir, 'prov.json')
    await runReport(labelled, {format: 'json', output: out})
    const all = JSON.parse(fs.readFileSync(out, 'utf8'))
    expect(all.provenance.labels).toEqual(['prod-eu', 'prod-us'])
    expect(all.provenance.files.map((f: {path: string; label: string; records: number}) => [path.basename(f.path), f.label, f.records])).toEqual([
      ['eu.jsonl', 'prod-eu', 3 * 68],
      ['us.jsonl', 'prod-us', 2 * 68],
    ])
    await runReport(labelled, {format: 'json', output: out, labels: ['prod-us']})
    const onlyUs = JSON.parse(fs.readFileSync(out, 'utf8'))
    expect(onlyUs.filters.labels).toEqual(['prod-us'])
    expect(onlyUs.window.records).toBe(2 * 68)
    expect(onlyUs.provenance.labels_selected).toEqual(['prod-us'])
    expect(onlyUs.series.days).toEqual([dayIso(3), dayIso(4)])
    await expect(runReport(labelled, {format: 'json', output: out, labels: ['prod-asia']})).rejects.toMatchObject({code: 'USAGE', message: expect.stringContaining('unknown label(s) prod-asia; known: prod-eu, prod-us')})
    await expect(runIngest(labelled, [us], {label: 'has space'})).rejects.toMatchObject({code: 'USAGE'})
  })
})
