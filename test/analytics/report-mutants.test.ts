// Exact figures of `cycles shadow report` on hand-written logs, one tenant per data set. Written to
// kill the surviving mutants of src/analytics/report.ts (issue 17): every report is built inside its
// test (not in a hook), so Stryker's per-test coverage sees which test runs which line.
import {randomUUID} from 'node:crypto'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {openShadowDb, type ShadowDb} from '../../src/analytics/db.js'
import {evaluateGates} from '../../src/analytics/gates.js'
import {ingest} from '../../src/analytics/ingest.js'
import {buildReport, type Report} from '../../src/analytics/report.js'
import type {DecisionRecord} from '../../src/decision-log/record.js'
import type {Tier} from '../../src/protocol/types.js'
import {writeJsonl} from '../../src/simulate/synthetic.js'
import {tempDir} from '../support/daemon.js'

const T0 = Date.parse('2026-09-01T00:00:00.000Z')
const DAY = 86_400_000

function rec(over: Partial<DecisionRecord> & {ts_ms: number}): DecisionRecord {
  const {ts_ms, ...rest} = over
  return {
    v: 1, id: randomUUID(), ts: new Date(ts_ms).toISOString(), endpoint: 'reserve', request_id: randomUUID(), trace_id: '0'.repeat(32),
    tenant: 'x', dry_run: false, mode: 'shadow', tier: 'medium', scope_path: 'tenant:x', action: {kind: 'llm.chat', name: 'x'},
    unit: 'CREDITS', estimate: 10, decision: 'ALLOW', would_decision: 'ALLOW', http_status: 200, latency_us: 100, ...rest,
  }
}

/** `n` reservations on one scope from `start`, one a minute; the first `deny` would be denied (with `reasons` in turn). */
function reserves(tenant: string, scope: string, n: number, deny: number, start: number, extra: Partial<DecisionRecord> = {}, reasons = ['BUDGET_EXCEEDED']): DecisionRecord[] {
  return Array.from({length: n}, (_, i) =>
    rec({ts_ms: start + i * 60_000, tenant, scope_path: scope, ...extra, ...(i < deny ? {would_decision: 'DENY', would_reason_code: reasons[i % reasons.length]} : {})}),
  )
}

const commit = (tenant: string, scope: string, ts: number, estimate: number, actual: number, unit = 'CREDITS'): DecisionRecord =>
  rec({ts_ms: ts, tenant, scope_path: scope, endpoint: 'commit', estimate, actual, unit: unit as DecisionRecord['unit']})

// --- figs: rates, dry-runs, estimate accuracy, a commit-only scope, a reserve-only scope ---
const FIGS: DecisionRecord[] = [
  // 100 reserves, 10 would be denied under 4 reasons (4/3/2/1); 10 are dry-runs, 4 of them denied by the real ledger
  ...reserves('figs', 'tenant:figs/a', 100, 10, T0, {}, ['BUDGET_EXCEEDED', 'OVERDRAFT_LIMIT_EXCEEDED', 'DEBT_OUTSTANDING', 'BUDGET_EXCEEDED', 'OVERDRAFT_LIMIT_EXCEEDED', 'DEBT_OUTSTANDING', 'BUDGET_EXCEEDED', 'OVERDRAFT_LIMIT_EXCEEDED', 'BUDGET_EXCEEDED', 'ZZ_RARE']).map(
    (r, i) => (i >= 50 && i < 60 ? {...r, dry_run: true, ...(i < 54 ? {decision: 'DENY' as const} : {})} : r),
  ),
  // 40 commits at estimate 100: 10 overrun (actual 200), 30 under (actual 50)
  ...Array.from({length: 40}, (_, i) => commit('figs', 'tenant:figs/a', T0 + 200 * 60_000 + i * 1000, 100, i < 10 ? 200 : 50)),
  // commits only, all with actual 0: no requests, no actuals to compare against
  ...Array.from({length: 40}, (_, i) => commit('figs', 'tenant:figs/zero', T0 + 300 * 60_000 + i * 1000, 10, 0, 'TOKENS')),
  // reserves only, nothing denied, nothing committed
  ...reserves('figs', 'tenant:figs/nocommit', 50, 0, T0 + 400 * 60_000),
]
const FIGS_LAST = T0 + 400 * 60_000 + 49 * 60_000

// --- reasons: --by reason over one unit; `calm` has no denial at all; a scope literally named "(allowed)" ---
const REASONS = reserves('reasons', 'tenant:reasons', 100, 8, T0 + DAY, {}, ['BUDGET_EXCEEDED', 'BUDGET_EXCEEDED', 'BUDGET_EXCEEDED', 'OVERDRAFT_LIMIT_EXCEEDED'])
const CALM = reserves('calm', 'tenant:calm', 40, 0, T0 + DAY)
const ALLOWED_SCOPE = reserves('allowedscope', '(allowed)', 100, 6, T0 + DAY)

// --- sort: each comparator key decides one pair (names put the alphabetical order against it) ---
const SORT = [
  ...reserves('sort', 'tenant:sort/a-tt8', 100, 8, T0 + 2 * DAY),
  ...reserves('sort', 'tenant:sort/b-tt10', 100, 10, T0 + 2 * DAY),
  ...reserves('sort', 'tenant:sort/a-warm100', 100, 4, T0 + 2 * DAY),
  ...reserves('sort', 'tenant:sort/b-warm200', 200, 8, T0 + 2 * DAY),
  ...reserves('sort', 'tenant:sort/d-z', 50, 0, T0 + 2 * DAY),
  ...reserves('sort', 'tenant:sort/d-a', 50, 0, T0 + 2 * DAY),
  ...reserves('sort', 'tenant:sort/0-gold', 100, 2, T0 + 2 * DAY, {unit: 'TOKENS'}),
  ...reserves('sort', 'tenant:sort/0-gold', 100, 2, T0 + 2 * DAY),
]

// --- tiers: low is ready (two goldilocks scopes), medium is held back by a warm scope, high is too tight ---
const tiered = (scope: string, tier: Tier, deny: number) => reserves('tiers', `tenant:tiers/${scope}`, 100, deny, T0 + 3 * DAY, {tier})
const TIERS = [...tiered('l1', 'low', 2), ...tiered('l2', 'low', 3), ...tiered('m-warm', 'medium', 4), ...tiered('m-gold', 'medium', 2), ...tiered('h-tight', 'high', 10)]

// --- agents: --by agent ---
const AGENTS = [...reserves('agents', 'tenant:agents/workflow:w/agent:bot', 3, 1, T0 + 4 * DAY), ...reserves('agents', 'tenant:agents/workflow:w', 2, 0, T0 + 4 * DAY)]

// --- loops: a window loop, a longer repeat-only run and a run that is both ---
const LOOP_T = T0 + 5 * DAY
const run = (run_id: string, n: number, stepMs: number, start: number, varied: boolean) =>
  Array.from({length: n}, (_, i) => rec({ts_ms: start + i * stepMs, tenant: 'loops', run_id, scope_path: 'tenant:loops/workflow:crawl', estimate: varied ? 100 + i : 7}))
const LOOPS = [
  ...run('a-win47', 47, 1900, LOOP_T, true), // 47 varied in 87.4 s: the window detector only
  ...run('b-rep50', 50, 25_193, LOOP_T + 3_600_000, false), // 50 identical over 1,234.457 s: the repeat detector only
  ...run('c-both47', 47, 1900, LOOP_T + 7_200_000, false), // 47 identical in 87.4 s: both
]

// --- fan: delegation trees, each comparator key of the fan-out order deciding one pair ---
function tree(root: string, edges: Record<string, string[]>): DecisionRecord[] {
  const out = [rec({ts_ms: T0 + 6 * DAY, tenant: 'fan', run_id: root, scope_path: 'tenant:fan/workflow:research'})]
  let t = T0 + 6 * DAY
  for (const [parent, kids] of Object.entries(edges)) {
    for (const kid of kids) out.push(rec({ts_ms: (t += 1000), tenant: 'fan', run_id: kid, parent_run_id: parent, scope_path: 'tenant:fan/workflow:research'}))
  }
  return out
}
const FAN = [
  ...tree('fa-chain3', {'fa-chain3': ['fa.1'], 'fa.1': ['fa.2'], 'fa.2': ['fa.3']}), // flagged by depth, amplification 1
  ...tree('fb-wide10', {'fb-wide10': Array.from({length: 10}, (_, i) => `fb.${i}`)}), // flagged by children, amplification 10
  ...tree('fc-p', {'fc-p': ['fc.a', 'fc.b'], 'fc.a': ['fc.c']}), // amp 2, depth 2, 3 descendants
  ...tree('fd-q', {'fd-q': ['fd.a', 'fd.b'], 'fd.a': ['fd.c', 'fd.d']}), // amp 2, depth 2, 4 descendants
  ...tree('fe-r', {'fe-r': ['fe.a', 'fe.b']}), // amp 2, depth 1, 2 descendants
  ...tree('fi-three', {'fi-three': ['fi.a', 'fi.b', 'fi.c']}), // amp 3 with fewer descendants (3) than fd-q (4): amplification decides
  ...tree('ff-diamond', {'ff-diamond': ['ff.x1', 'ff.x2'], 'ff.x1': ['ff.x2']}), // x2 is also x1's child: still depth 1
  ...tree('fg-chain1', {'fg-chain1': ['fg.a']}), // amp 1, depth 1
  ...tree('fh-chain2', {'fh-chain2': ['fh.a'], 'fh.a': ['fh.b']}), // amp 1, depth 2
]

const ALL = [...FIGS, ...REASONS, ...CALM, ...ALLOWED_SCOPE, ...SORT, ...TIERS, ...AGENTS, ...LOOPS, ...FAN]
const isAttempt = (r: DecisionRecord) => r.endpoint === 'reserve' || r.endpoint === 'decide'

let db: ShadowDb
beforeAll(async () => {
  const dir = tempDir('cycles-report-mutants-')
  writeJsonl(path.join(dir, 'log.jsonl'), ALL)
  db = await openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
  expect(await ingest(db, [path.join(dir, 'log.jsonl')])).toMatchObject({malformed: 0, ingested: ALL.length})
}, 60_000)
afterAll(() => db?.close())

const row = (r: Report, scope: string, unit = 'CREDITS') => {
  const found = r.scopes.find((s) => s.scope === scope && s.unit === unit)
  expect(found, `${scope} (${unit})`).toBeDefined()
  return found!
}

describe('report figures', () => {
  it('rates, dry-run rate, estimate accuracy and the three top reasons of one scope', async () => {
    const a = row(await buildReport(db, {tenant: 'figs'}), 'tenant:figs/a')
    expect(a).toMatchObject({requests: 100, would_denials: 10, denial_rate: 0.1, dry_run_requests: 10, dry_run_denial_rate: 0.4, commits: 40, overage_rate: 0.25, verdict: 'estimates', tiers: ['medium']})
    // estimates 40 × 100 against actuals 10 × 200 + 30 × 50
    expect(a.reserve_commit_ratio).toBeCloseTo(4000 / 3500, 12)
    expect(a.mape).toBeCloseTo((10 * 0.5 + 30 * 1) / 40, 12)
    expect(a.top_reasons).toEqual([
      {reason: 'BUDGET_EXCEEDED', count: 4},
      {reason: 'OVERDRAFT_LIMIT_EXCEEDED', count: 3},
      {reason: 'DEBT_OUTSTANDING', count: 2},
    ])
  })

  it('a scope with commits but no requests, and one with requests but no commits, have no made-up rates', async () => {
    const r = await buildReport(db, {tenant: 'figs'})
    // commits with actual 0: no ratio (not Infinity), no MAPE (not 0), nothing overran; no requests: rate 0 (not NaN)
    expect(row(r, 'tenant:figs/zero', 'TOKENS')).toMatchObject({requests: 0, would_denials: 0, denial_rate: 0, commits: 40, reserve_commit_ratio: null, overage_rate: 0, mape: null, tiers: [], dry_run_denial_rate: null})
    expect(row(r, 'tenant:figs/nocommit')).toMatchObject({requests: 50, denial_rate: 0, commits: 0, reserve_commit_ratio: null, overage_rate: null, mape: null, band: 'decorative'})
  })

  it('totals, window and filters echo exactly what was asked', async () => {
    const since = new Date(T0).toISOString()
    const until = new Date(FIGS_LAST + 1).toISOString()
    const r = await buildReport(db, {tenant: 'figs', unit: 'CREDITS', since, until})
    expect(r.filters).toEqual({by: 'scope', since, until, tenant: 'figs', unit: 'CREDITS'})
    expect(r.window).toEqual({first_ts: since, last_ts: new Date(FIGS_LAST).toISOString(), records: 100 + 40 + 50})
    expect(r.totals).toEqual({requests: 150, would_denials: 10, denial_rate: 10 / 150, scopes: 2, loops: 0, fanout_flagged: 0})
    // until is exclusive: the last record falls out
    expect((await buildReport(db, {tenant: 'figs', until: new Date(FIGS_LAST).toISOString()})).window.records).toBe(229)
  })

  it('no filter at all reads every record; a filter that matches nothing gives an empty window and zero rates', async () => {
    const all = await buildReport(db)
    expect(all.filters).toEqual({by: 'scope'})
    expect(all.window.records).toBe(ALL.length)
    expect(all.totals.requests).toBe(ALL.filter(isAttempt).length)
    expect(all.totals.would_denials).toBe(ALL.filter((x) => isAttempt(x) && x.would_decision === 'DENY').length)
    const none = await buildReport(db, {tenant: 'nobody'})
    expect(none.window).toEqual({first_ts: null, last_ts: null, records: 0})
    expect(none.totals).toEqual({requests: 0, would_denials: 0, denial_rate: 0, scopes: 0, loops: 0, fanout_flagged: 0})
  })

  it('a --since or --until that is not a date is refused by name', async () => {
    await expect(buildReport(db, {since: 'last tuesday'})).rejects.toThrow('--since: not a date/time: last tuesday')
    await expect(buildReport(db, {until: 'soon'})).rejects.toThrow('--until: not a date/time: soon')
  })
})

describe('groupings', () => {
  it('--by reason: each reason against all requests of its unit, its own band; "(allowed)" is dropped', async () => {
    const r = await buildReport(db, {tenant: 'reasons', by: 'reason'})
    expect(r.scopes.map((s) => [s.scope, s.unit, s.requests, s.would_denials, s.denial_rate, s.band, s.verdict])).toEqual([
      ['BUDGET_EXCEEDED', 'CREDITS', 100, 6, 0.06, 'too_tight', 'too_tight'],
      ['OVERDRAFT_LIMIT_EXCEEDED', 'CREDITS', 100, 2, 0.02, 'goldilocks', 'ready'],
    ])
    // only allowed traffic: no row at all
    expect((await buildReport(db, {tenant: 'calm', by: 'reason'})).scopes).toEqual([])
  })

  it('a scope that happens to be called "(allowed)" is an ordinary scope with --by scope', async () => {
    const r = await buildReport(db, {tenant: 'allowedscope'})
    expect(r.scopes.map((s) => [s.scope, s.requests, s.band, s.verdict])).toEqual([['(allowed)', 100, 'too_tight', 'too_tight']])
  })

  it('--by agent: the agent segment of the scope path, "(none)" without one', async () => {
    const r = await buildReport(db, {tenant: 'agents', by: 'agent', minRequests: 1})
    expect(r.scopes.map((s) => [s.scope, s.requests, s.would_denials]).sort()).toEqual([
      ['agents/agent:(none)', 2, 0],
      ['agents/agent:bot', 3, 1],
    ])
  })

  it('sorts by verdict, then denial rate, then requests, then scope, then unit', async () => {
    const r = await buildReport(db, {tenant: 'sort'})
    expect(r.scopes.map((s) => `${s.scope.replace('tenant:sort/', '')} ${s.unit} ${s.verdict}`)).toEqual([
      'b-tt10 CREDITS too_tight',
      'a-tt8 CREDITS too_tight',
      'b-warm200 CREDITS warm',
      'a-warm100 CREDITS warm',
      'd-a CREDITS decorative',
      'd-z CREDITS decorative',
      '0-gold CREDITS ready',
      '0-gold TOKENS ready',
    ])
  })
})

describe('--by tier', () => {
  it('a tier is ready when every scope it touches is; otherwise it takes the verdict of its own worst scope', async () => {
    const r = await buildReport(db, {tenant: 'tiers', by: 'tier'})
    expect(r.scopes.map((s) => [s.scope, s.verdict, s.tiers, s.blockers, s.action])).toEqual([
      ['high', 'too_tight', ['high'], ['tenant:tiers/h-tight (CREDITS): too_tight'], {kind: 'calibrate', command: 'cycles calibrate --tenant tiers'}],
      ['medium', 'warm', ['medium'], ['tenant:tiers/m-warm (CREDITS): warm'], {kind: 'calibrate', command: 'cycles calibrate --tenant tiers'}],
      ['low', 'ready', ['low'], [], {kind: 'enforce_tier', command: 'cycles tier set low enforce'}],
    ])
    // medium as a whole is 3 % (goldilocks), but its warm scope holds it back — and high's worse scope is not its concern
    expect(row(r, 'medium').message).toBe('not ready: 1 of 2 scope(s) block this tier (worst: tenant:tiers/m-warm — running warm: 4.0 % would be denied — investigate before enforcing)')
    expect(row(r, 'low').message).toBe('ready: every scope its traffic touches is ready — enforce the tier')
    // the per-scope pass must not widen the filter of the report it serves
    expect(r.filters).toEqual({by: 'tier', tenant: 'tiers'})
    expect(r.totals).toMatchObject({requests: 500, would_denials: 21, scopes: 3})
    expect(evaluateGates(r, ['not_ready:low', 'not_ready:medium', 'not_ready:high']).map((v) => v.subject)).toEqual(['tier medium', 'tier high'])
  })
})

describe('loops', () => {
  it('window, repeat and both: counts, signals, the repeat-only span, largest first', async () => {
    const r = await buildReport(db, {tenant: 'loops'})
    expect(r.loops.map((l) => [l.run_id, l.count, l.signals, l.repeats, l.window_seconds])).toEqual([
      ['b-rep50', 50, ['repeat'], 50, 1234.5],
      ['a-win47', 47, ['window'], 0, 90],
      ['c-both47', 47, ['window', 'repeat'], 47, 90],
    ])
    const both = r.loops[2]
    expect([both.first_ts, both.last_ts, both.action]).toEqual([new Date(LOOP_T + 7_200_000).toISOString(), new Date(LOOP_T + 7_200_000 + 46 * 1900).toISOString(), 'llm.chat x'])
  })
})

describe('fan-out', () => {
  it('flagged first, then amplification, depth, descendants and name; a run reached twice counts once', async () => {
    const r = await buildReport(db, {tenant: 'fan'})
    expect(r.fanout.map((f) => [f.run_id, f.flagged, f.amplification, f.depth, f.descendants])).toEqual([
      ['fb-wide10', true, 10, 1, 10],
      ['fa-chain3', true, 1, 3, 3],
      ['fi-three', false, 3, 1, 3],
      ['fd-q', false, 2, 2, 4],
      ['fc-p', false, 2, 2, 3],
      ['fe-r', false, 2, 1, 2],
      ['ff-diamond', false, 2, 1, 2],
      ['fh-chain2', false, 1, 2, 2],
      ['fg-chain1', false, 1, 1, 1],
    ])
  })
})
