// Analyzer boundaries (../shared/docs/shadow-analytics.md): bands at exactly 1 %, 3 %, 5 %; loop
// windows counted per run; each fan-out rule tripping alone at its threshold, and one below it. The
// records are written by hand here, so every expected number is known independently of the analyzer.
import {randomUUID} from 'node:crypto'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {bandOf} from '../../src/analytics/bands.js'
import {openShadowDb, type ShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {buildReport, REPORT_DEFAULTS, type Report} from '../../src/analytics/report.js'
import type {DecisionRecord} from '../../src/decision-log/record.js'
import {writeJsonl} from '../../src/simulate/synthetic.js'
import {decideVerdict, estimateFindings} from '../../src/calibration/verdict.js'
import {tempDir} from '../support/daemon.js'

const T0 = Date.parse('2026-10-01T00:00:00.000Z')

function rec(over: Partial<DecisionRecord> & {ts_ms: number}): DecisionRecord {
  const {ts_ms, ...rest} = over
  return {
    v: 1, id: randomUUID(), ts: new Date(ts_ms).toISOString(), endpoint: 'reserve', request_id: randomUUID(), trace_id: '0'.repeat(32),
    tenant: 'acme', dry_run: false, mode: 'shadow', tier: 'medium', scope_path: 'tenant:acme', action: {kind: 'llm.chat', name: 'x'},
    unit: 'CREDITS', estimate: 10, decision: 'ALLOW', would_decision: 'ALLOW', http_status: 200, latency_us: 100, ...rest,
  }
}

// Every data set below is ingested once, each under its own tenant; a report filters to one tenant.
const DATASETS = new Map<string, DecisionRecord[]>()
let db: ShadowDb
let ingested = false

/** Register a data set under a fresh tenant; returns the tenant to report on. */
function dataset(name: string, records: DecisionRecord[]): string {
  // Fresh ids: a record reused in two data sets must not be dropped as a duplicate.
  DATASETS.set(name, records.map((r) => ({...r, tenant: name, id: randomUUID()})))
  return name
}

async function reportOf(tenant: string, options: Parameters<typeof buildReport>[1] = {}): Promise<Report> {
  if (!ingested) {
    const file = path.join(dir, 'log.jsonl')
    writeJsonl(file, [...DATASETS.values()].flat())
    ingested = true
    const result = await ingest(db, [file])
    expect(result).toMatchObject({malformed: 0, ingested: [...DATASETS.values()].flat().length})
  }
  return buildReport(db, {...options, tenant})
}

const dir = tempDir('cycles-boundaries-')
beforeAll(async () => {
  db = await openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
})
afterAll(() => db?.close())

describe('bands at their edges (100 requests)', () => {
  it.each<[number, string]>([
    [0, 'decorative'],
    [1, 'goldilocks'], // exactly 1 % is goldilocks, not loose
    [3, 'goldilocks'], // exactly 3 % is still goldilocks
    [4, 'warm'],
    [5, 'warm'], // exactly 5 % is still warm
    [6, 'too_tight'],
  ])('%i denials → %s', (denials, band) => {
    expect(bandOf(100, denials, 30)).toBe(band)
  })

  it('below 1 % is loose; below the sample floor is insufficient_data; the floor itself is enough', () => {
    expect(bandOf(1000, 9, 30)).toBe('loose')
    expect(bandOf(29, 10, 30)).toBe('insufficient_data')
    expect(bandOf(30, 0, 30)).toBe('decorative')
    expect(bandOf(0, 0, 0)).toBe('insufficient_data')
  })

  it('estimate findings start strictly above their thresholds, and the sample floor comes first', () => {
    const o = {minRequests: 30, overageThreshold: 0.05}
    const base = {commits: 100, reserve_commit_ratio: null, overage_rate: null}
    // ratio exactly 2 and 0.8 and overage exactly at the threshold: no finding
    expect(estimateFindings({...base, reserve_commit_ratio: 2, overage_rate: 0.05}, o)).toEqual([])
    expect(estimateFindings({...base, reserve_commit_ratio: 0.8}, o)).toEqual([])
    expect(estimateFindings({...base, reserve_commit_ratio: 2.5, overage_rate: 0.06}, o)).toEqual([
      '6.0 % of commits exceed their estimate',
      'estimates are 2.5× actual — the budget is effectively 2.5× tighter',
    ])
    expect(estimateFindings({...base, reserve_commit_ratio: 0.5}, o)).toEqual(['estimates are only 0.50× actual — under-estimating'])
    expect(estimateFindings({...base, commits: 29, reserve_commit_ratio: 0.5}, o)).toEqual([])
    const thin = decideVerdict({scope: 'tenant:acme', unit: 'CREDITS', requests: 12, would_denials: 0, reasons: {}, commits: 0, reserve_commit_ratio: null, overage_rate: null, tiers: []}, o)
    expect(thin).toMatchObject({verdict: 'insufficient_data', band: 'insufficient_data', message: 'not enough data: 12 requests (need 30) — keep observing'})
  })

  const bandRecords: DecisionRecord[] = []
  for (const [scope, denials] of [['tenant:acme/workspace:one', 1], ['tenant:acme/workspace:three', 3], ['tenant:acme/workspace:five', 5], ['tenant:acme/workspace:six', 6]] as const) {
    for (let i = 0; i < 100; i++) bandRecords.push(rec({ts_ms: T0 + i * 60_000, scope_path: scope, would_decision: i < denials ? 'DENY' : 'ALLOW', ...(i < denials ? {would_reason_code: 'BUDGET_EXCEEDED'} : {})}))
  }
  const bands = dataset('bands', bandRecords)

  it('the report bands scopes at exactly 1 %, 3 % and 5 % the same way', async () => {
    const report = await reportOf(bands)
    const byScope = Object.fromEntries(report.scopes.map((s) => [s.scope, [s.requests, s.would_denials, s.band]]))
    expect(byScope).toEqual({
      'tenant:acme/workspace:one': [100, 1, 'goldilocks'],
      'tenant:acme/workspace:three': [100, 3, 'goldilocks'],
      'tenant:acme/workspace:five': [100, 5, 'warm'],
      'tenant:acme/workspace:six': [100, 6, 'too_tight'],
    })
    expect(report.totals).toMatchObject({requests: 400, would_denials: 15, scopes: 4, loops: 0, fanout_flagged: 0})
  })
})

/** `count` varied reservations of one run, evenly spread from `startMs` over `spanMs`. */
function burst(runId: string, startMs: number, count: number, spanMs: number): DecisionRecord[] {
  return Array.from({length: count}, (_, i) =>
    rec({ts_ms: startMs + (count === 1 ? 0 : Math.round((i * spanMs) / (count - 1))), run_id: runId, scope_path: 'tenant:acme/workflow:crawler', estimate: 100 + i}),
  )
}

describe('loop windows', () => {
  // Each run: 40 reservations in one minute, 10 more an hour later (50 in all, 40 at most per 90 s).
  // Together they make 80 in that minute — a loop only if runs were mixed.
  const interleaved = ['run-a', 'run-b'].flatMap((run, k) => [...burst(run, T0 + k * 500, 40, 60_000), ...burst(run, T0 + 3_600_000 + k * 500, 10, 60_000)])
  const ordinary = dataset('interleaved', interleaved)
  const withLoop = dataset('interleaved-hot', [...interleaved, ...burst('run-c', T0, 47, 60_000)])
  const inside = dataset('window-inside', burst('tight', T0, 47, 89_999))
  const edge = dataset('window-edge', burst('edge', T0, 47, 90_000))
  const fewer = dataset('window-fewer', burst('fewer', T0, 46, 10_000))
  const same = (run: string, n: number, start: number) => Array.from({length: n}, (_, i) => rec({ts_ms: start + i * 600_000, run_id: run, estimate: 7}))
  const repeats = dataset('repeats', [...same('five', REPORT_DEFAULTS.repeatThreshold, T0), ...same('four', REPORT_DEFAULTS.repeatThreshold - 1, T0)])
  // Broken by a different attempt in the middle: two streaks of 3, no repeat.
  const broken = dataset('repeats-broken', [...same('broken', 3, T0), rec({ts_ms: T0 + 1_900_000, run_id: 'broken', estimate: 8}), ...same('broken', 3, T0 + 2_000_000)])

  it('are counted per run: two ordinary runs interleaved in the same minutes are not a loop', async () => {
    expect((await reportOf(ordinary)).loops).toEqual([])
    // The same shape with one run holding 47 of them in the minute is a loop.
    const hot = await reportOf(withLoop)
    expect(hot.loops.map((l) => [l.run_id, l.count, l.signals])).toEqual([['run-c', 47, ['window']]])
  })

  it('the window is (t − 90 s, t]: 47 reservations spanning 89.999 s are a loop, spanning 90 s are not', async () => {
    expect((await reportOf(inside)).loops).toMatchObject([{run_id: 'tight', count: 47, window_seconds: 90, signals: ['window'], first_ts: new Date(T0).toISOString(), last_ts: new Date(T0 + 89_999).toISOString()}])
    expect((await reportOf(edge)).loops).toEqual([])
    expect((await reportOf(fewer)).loops).toEqual([])
  })

  it('a repeat signature needs repeatThreshold consecutive identical attempts of one run', async () => {
    const report = await reportOf(repeats)
    expect(report.loops.map((l) => [l.run_id, l.repeats, l.signals, l.action])).toEqual([['five', 5, ['repeat'], 'llm.chat x']])
    expect((await reportOf(broken)).loops).toEqual([])
  })
})

/** One record per run of a delegation tree given as parent → children. */
function tree(edges: Record<string, string[]>, root: string): DecisionRecord[] {
  const out: DecisionRecord[] = [rec({ts_ms: T0, run_id: root, scope_path: 'tenant:acme/workflow:research'})]
  let t = T0
  for (const [parent, kids] of Object.entries(edges)) for (const kid of kids) out.push(rec({ts_ms: (t += 1000), run_id: kid, parent_run_id: parent, scope_path: 'tenant:acme/workflow:research'}))
  return out
}
const kids = (parent: string, n: number) => Array.from({length: n}, (_, i) => `${parent}.${i}`)
/** Root with `width` children, each of which has `per` children (the last one `last`). */
function twoLevels(root: string, width: number, per: number, last = per): Record<string, string[]> {
  const edges: Record<string, string[]> = {[root]: kids(root, width)}
  kids(root, width).forEach((c, i) => (edges[c] = kids(c, i === width - 1 ? last : per)))
  return edges
}

describe('fan-out rules, each alone at its threshold and one below', () => {
  const cases: Array<[string, DecisionRecord[], {children: number; depth: number; amplification: number; descendants: number; flagged: boolean}]> = [
    ['children-10', tree({'children-10': kids('children-10', 10)}, 'children-10'), {children: 10, depth: 1, amplification: 10, descendants: 10, flagged: true}],
    ['children-9', tree({'children-9': kids('children-9', 9)}, 'children-9'), {children: 9, depth: 1, amplification: 9, descendants: 9, flagged: false}],
    ['depth-3', tree({'depth-3': ['d1'], d1: ['d2'], d2: ['d3']}, 'depth-3'), {children: 1, depth: 3, amplification: 1, descendants: 3, flagged: true}],
    ['depth-2', tree({'depth-2': ['e1'], e1: ['e2']}, 'depth-2'), {children: 1, depth: 2, amplification: 1, descendants: 2, flagged: false}],
    ['amp-27', tree(twoLevels('amp-27', 9, 3), 'amp-27'), {children: 9, depth: 2, amplification: 27, descendants: 36, flagged: true}],
    ['amp-26', tree(twoLevels('amp-26', 9, 3, 2), 'amp-26'), {children: 9, depth: 2, amplification: 26, descendants: 35, flagged: false}],
  ]

  for (const [root, records] of cases) dataset(root, records)
  const everyTree = dataset('all-trees', cases.flatMap(([, records]) => records))

  it.each(cases)('%s', async (root, _records, expected) => {
    const report = await reportOf(root)
    // one record a second per run from T0; reservations only, so no committed cost
    const span = {first_ts: new Date(T0).toISOString(), last_ts: new Date(T0 + 1000 * expected.descendants).toISOString(), cost: 0, unit: 'CREDITS'}
    expect(report.fanout).toEqual([{run_id: root, scope: 'tenant:acme/workflow:research', ...expected, ...span}])
    expect(report.totals.fanout_flagged).toBe(expected.flagged ? 1 : 0)
  })

  it('flagged trees come first, then the rest by amplification', async () => {
    const report = await reportOf(everyTree)
    expect(report.fanout.map((f) => f.run_id)).toEqual(['amp-27', 'children-10', 'depth-3', 'amp-26', 'children-9', 'depth-2'])
  })
})
