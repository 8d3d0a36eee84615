// Action-quota suggestions by replay over a real DuckDB file: normal runs, a run-away loop that holds
// its reservations (a per_run quota stops it), a retry loop that releases every attempt (invisible to
// per_run by the spec's counter lifecycle; the per-minute quota stops it), and policy denials by rule.
import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {buildReport} from '../../src/analytics/report.js'
import {chooseMaxCalls, renderQuotaSuggestions, suggestActionQuotas, whyStopped} from '../../src/calibration/quota-suggest.js'
import {tempDir} from '../support/daemon.js'

const T0 = Date.parse('2026-11-02T00:00:00.000Z')
const SCOPE = 'tenant:acme/workspace:prod/agent:crawler'
const OTHER = 'tenant:acme/workspace:prod/agent:writer'
let seq = 0

function record(o: {endpoint: 'reserve' | 'release' | 'commit'; ms: number; run: string; scope?: string; kind?: string; dry?: boolean; estimate?: number; would?: {reason: string; policy_id?: string}}) {
  seq++
  return {
    v: 1,
    id: `r${seq}`,
    ts: new Date(o.ms).toISOString(),
    endpoint: o.endpoint,
    tenant: 'acme',
    dry_run: o.dry ?? false,
    mode: 'shadow',
    tier: 'low',
    scope_path: o.scope ?? SCOPE,
    run_id: o.run,
    action: {kind: o.kind ?? 'search.web', name: 'q'},
    unit: 'CREDITS',
    estimate: o.estimate ?? 10,
    ...(o.endpoint === 'commit' ? {actual: 10} : {}),
    decision: 'ALLOW',
    would_decision: o.would ? 'DENY' : 'ALLOW',
    ...(o.would ? {would_reason_code: o.would.reason} : {}),
    ...(o.would?.policy_id ? {policy_id: o.would.policy_id} : {}),
    http_status: 200,
    seq,
  }
}

/** 30 normal runs (1–6 calls each, an hour apart), a holding loop and a releasing retry loop. */
function fleetLog(): object[] {
  const out: object[] = []
  for (let r = 0; r < 30; r++) {
    const start = T0 + r * 3_600_000
    const calls = 1 + (r % 6) // needs 1..6
    for (let c = 0; c < calls; c++) {
      // Each step asks a different amount: a normal run is no repeat signature.
      out.push(record({endpoint: 'reserve', ms: start + c * 20_000, run: `normal-${r}`, estimate: 10 + c}))
      out.push(record({endpoint: 'commit', ms: start + c * 20_000 + 500, run: `normal-${r}`, estimate: 10 + c}))
    }
    // A dry-run before each run: counts nothing for a quota.
    out.push(record({endpoint: 'reserve', ms: start - 1000, run: `normal-${r}`, dry: true}))
    // The other agent: 12 runs of 2 calls.
    if (r < 12) for (let c = 0; c < 2; c++) out.push(record({endpoint: 'reserve', ms: start + 5000 + c * 1000, run: `writer-${r}`, scope: OTHER, kind: 'llm.completion'}))
  }
  // Holding loop: 60 reservations in 80 s, never released (the report's window signature).
  const holdStart = T0 + 40 * 3_600_000
  for (let c = 0; c < 60; c++) out.push(record({endpoint: 'reserve', ms: holdStart + c * 1300, run: 'loop-hold'}))
  // Retry loop: 50 attempts in 85 s, each released (the call failed).
  const retryStart = T0 + 45 * 3_600_000
  for (let c = 0; c < 50; c++) {
    out.push(record({endpoint: 'reserve', ms: retryStart + c * 1700, run: 'loop-retry'}))
    out.push(record({endpoint: 'release', ms: retryStart + c * 1700 + 200, run: 'loop-retry'}))
  }
  // Policy would-be denials: 3 by a quota rule, 2 by an access rule, 1 budget denial (not a policy rule).
  for (let i = 0; i < 3; i++) out.push(record({endpoint: 'reserve', ms: T0 + 50 * 3_600_000 + i, run: `q-${i}`, scope: OTHER, kind: 'email.send', would: {reason: 'ACTION_QUOTA_EXCEEDED', policy_id: 'pol_mail'}}))
  for (let i = 0; i < 2; i++) out.push(record({endpoint: 'reserve', ms: T0 + 51 * 3_600_000 + i, run: `d-${i}`, scope: OTHER, kind: 'payment.charge', would: {reason: 'ACTION_KIND_DENIED', policy_id: 'pol_sandbox'}}))
  out.push(record({endpoint: 'reserve', ms: T0 + 52 * 3_600_000, run: 'b-0', scope: OTHER, kind: 'llm.completion', would: {reason: 'BUDGET_EXCEEDED'}}))
  return out
}

/** Boundaries: exactly min_runs normal runs, a loop in a group with few normal runs, a loop exactly at max_calls. */
const EDGE = 'tenant:acme/workspace:prod/agent:edge'
function edgeLog(): object[] {
  const out: object[] = []
  for (let r = 0; r < 10; r++) {
    const start = T0 + r * 3_600_000
    // 10 normal runs of 6 committed calls (need 6 → max 9) and, beside them, 10 runs of 2 (exactly min_runs).
    for (let c = 0; c < 6; c++) {
      out.push(record({endpoint: 'reserve', ms: start + c * 20_000, run: `edge-${r}`, scope: EDGE, estimate: 10 + c}))
      out.push(record({endpoint: 'commit', ms: start + c * 20_000 + 500, run: `edge-${r}`, scope: EDGE, estimate: 10 + c}))
    }
    for (let c = 0; c < 2; c++) out.push(record({endpoint: 'reserve', ms: start + 5000 + c * 1000, run: `pair-${r}`, scope: EDGE, kind: 'llm.completion', estimate: 10 + c}))
  }
  // A holding loop of exactly 9 (= max_calls: the counter admits it) and a release loop of 6 (level 1).
  for (let c = 0; c < 9; c++) out.push(record({endpoint: 'reserve', ms: T0 + 20 * 3_600_000 + c * 1300, run: 'hold-9', scope: EDGE}))
  for (let c = 0; c < 6; c++) {
    out.push(record({endpoint: 'reserve', ms: T0 + 21 * 3_600_000 + c * 1300, run: 'retry-6', scope: EDGE}))
    out.push(record({endpoint: 'release', ms: T0 + 21 * 3_600_000 + c * 1300 + 200, run: 'retry-6', scope: EDGE}))
  }
  // email.send: 2 normal single-call runs and a loop of 7 held sends (a group with a loop gets a suggestion however few its runs).
  for (let r = 0; r < 2; r++) out.push(record({endpoint: 'reserve', ms: T0 + r * 3_600_000 + 9000, run: `mail-${r}`, scope: EDGE, kind: 'email.send'}))
  for (let c = 0; c < 7; c++) out.push(record({endpoint: 'reserve', ms: T0 + 22 * 3_600_000 + c * 3000, run: 'mail-loop', scope: EDGE, kind: 'email.send'}))
  // db.query: 3 normal runs holding 2 calls, and a loop of 5 identical calls that peaks at 3 (one above the need):
  // max_calls is cut to the need itself, which a normal run reaches and must still be admitted.
  for (let r = 0; r < 3; r++) for (let c = 0; c < 2; c++) out.push(record({endpoint: 'reserve', ms: T0 + r * 3_600_000 + 30_000 + c * 1000, run: `query-${r}`, scope: EDGE, kind: 'db.query', estimate: 10 + c}))
  const q0 = T0 + 23 * 3_600_000
  for (const [i, endpoint] of (['reserve', 'reserve', 'reserve', 'release', 'release', 'reserve', 'reserve'] as const).entries()) out.push(record({endpoint, ms: q0 + i * 2000, run: 'query-loop', scope: EDGE, kind: 'db.query'}))
  return out
}

async function fleetDb(records: object[] = fleetLog()) {
  const dir = tempDir('cycles-quota-')
  const file = path.join(dir, 'decisions.jsonl')
  fs.writeFileSync(file, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`)
  const db = await openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
  const result = await ingest(db, [file])
  expect(result.malformed).toBe(0)
  return db
}

describe('chooseMaxCalls', () => {
  it('pads the normal need, lowers the padding to stop a loop, and says when a loop cannot be told apart', () => {
    expect(chooseMaxCalls(6, [], 0.5)).toEqual({max: 9})
    expect(chooseMaxCalls(0, [], 0.5)).toEqual({max: 1})
    expect(chooseMaxCalls(1, [], 0.5)).toEqual({max: 2})
    expect(chooseMaxCalls(6, [60], 0.5)).toEqual({max: 9})
    expect(chooseMaxCalls(6, [8, 60], 0.5)).toMatchObject({max: 7})
    const blind = chooseMaxCalls(6, [1], 0.5)
    expect(blind.max).toBe(9)
    expect(blind.note).toContain('cannot tell it from normal runs')
    // Boundaries: a loop exactly at the padded max is cut below it; a loop exactly at the normal need cannot be told apart.
    expect(chooseMaxCalls(6, [9], 0.5)).toEqual({max: 8, note: 'headroom cut to 2 so the flagged loop(s) are stopped'})
    expect(chooseMaxCalls(6, [7], 0.5)).toEqual({max: 6, note: 'headroom cut to 0 so the flagged loop(s) are stopped'})
    expect(chooseMaxCalls(6, [6], 0.5)).toEqual({max: 9, note: 'a flagged loop reached only 6, no more than a normal run needed (6): this window cannot tell it from normal runs'})
  })
})

describe('renderQuotaSuggestions: the totals, one line per loop, the groups with loops, then per_run groups up to the limit', () => {
  const suggestion = (scope: string, window: 'per_run' | 'per_minute_tumbling', loops: number) => ({
    scope,
    action_kind: 'k',
    window,
    runs: 20,
    loops,
    normal_need: 2,
    suggested_max_calls: 3,
    replay: {normal_runs_denied: 0, loops_denied: loops, loops_not_denied: []},
    policy: {scope_pattern: scope, action_quotas: [{action_kind: 'k', max_calls: 3, window}]},
  })
  const q = {
    headroom: 0.5,
    min_runs: 10,
    flagged_loops: [{run_id: 'l1', scope: 's:a', count: 30, attempts: 30, released: 0, committed: 30, per_run_level: 30, stopped_by: [], why: 'W'}],
    suggestions: [suggestion('s:a', 'per_run', 1), suggestion('s:a', 'per_minute_tumbling', 1), suggestion('s:b', 'per_run', 0), suggestion('s:c', 'per_run', 0), suggestion('s:d', 'per_run', 0), suggestion('s:b', 'per_minute_tumbling', 0)],
    totals: {normal_runs: 50, loops: 1, loops_stopped: 1, loops_stopped_per_run: 1, normal_runs_denied: 0},
  }
  const group = (scope: string, window: string, loops: number) => `  ${scope} k ${window}: max_calls 3 (normal runs needed 2; 20 run(s)) → denies 0 normal run(s), ${loops} of ${loops} flagged loop(s)`
  const head = ['', 'Action quotas (by replay): 1 flagged loop(s); the suggested quotas stop 1 of them (1 by a per_run quota) and deny 0 of 50 normal run(s)', '  loop l1 (30 calls, s:a): W']
  it('cuts the per_run groups without loops at the limit and says how many are left out', () => {
    expect(renderQuotaSuggestions(q, 4)).toEqual([...head, group('s:a', 'per_run', 1), group('s:a', 'per_minute_tumbling', 1), group('s:b', 'per_run', 0), group('s:c', 'per_run', 0), '  … 2 more suggestion(s) (--format json for all, each with its policy snippet)'])
    expect(renderQuotaSuggestions(q, 1)).toEqual([...head, group('s:a', 'per_run', 1), group('s:a', 'per_minute_tumbling', 1), '  … 4 more suggestion(s) (--format json for all, each with its policy snippet)'])
  })
  it('with room for all, only the per-window groups without loops are left out; with none left out there is no "more" line', () => {
    const all = [...head, group('s:a', 'per_run', 1), group('s:a', 'per_minute_tumbling', 1), group('s:b', 'per_run', 0), group('s:c', 'per_run', 0), group('s:d', 'per_run', 0)]
    expect(renderQuotaSuggestions(q, 50)).toEqual([...all, '  … 1 more suggestion(s) (--format json for all, each with its policy snippet)'])
    expect(renderQuotaSuggestions({...q, suggestions: q.suggestions.slice(0, 5)}, 50)).toEqual(all)
  })
})

describe('whyStopped: one line per flagged loop', () => {
  const loop = {run_id: 'l', scope: SCOPE, count: 40, attempts: 40, released: 0, committed: 40, per_run_level: 40}
  const perRun = {window: 'per_run' as const, scope: SCOPE, action_kind: 'search.web', max_calls: 9, level: 40}
  const perMinute = {window: 'per_minute_tumbling' as const, scope: SCOPE, action_kind: 'search.web', max_calls: 21, level: 32}
  it('names per_run first when it stops the loop, whatever else does', () => {
    const line = 'stopped by per_run (max_calls 9; it reached 40): only a release gives a slot back, and it released 0 of its 40 call(s) (40 committed)'
    expect(whyStopped({...loop, stopped_by: [perRun]})).toBe(line)
    expect(whyStopped({...loop, stopped_by: [perMinute, perRun]})).toBe(line)
  })
  it('a loop that released every attempt: the per-window quota, and why per_run cannot', () => {
    const released = {...loop, released: 40, committed: 0, per_run_level: 1}
    expect(whyStopped({...released, stopped_by: [perMinute]})).toBe(
      "stopped by per_minute_tumbling (max_calls 21; the scope's counter reached 32 in one window on its calls), not by per_run: it released every attempt, so its per_run counter (+1 at reserve, -1 at release) never passed 1",
    )
    expect(whyStopped({...released, stopped_by: []})).toBe('not stopped by any suggested quota (it released every attempt, so its per_run counter (+1 at reserve, -1 at release) never passed 1)')
  })
  it('a loop that kept some attempts is not said to have released them all', () => {
    expect(whyStopped({...loop, released: 39, committed: 1, per_run_level: 2, stopped_by: []})).toBe('not stopped by any suggested quota (its per_run level (2) is within what normal runs need)')
    expect(whyStopped({...loop, attempts: 0, released: 0, committed: 0, per_run_level: 0, stopped_by: [perMinute]})).toBe(
      "stopped by per_minute_tumbling (max_calls 21; the scope's counter reached 32 in one window on its calls), not by per_run: its per_run level (0) is within what normal runs need",
    )
  })
})

describe('suggestActionQuotas (replay over DuckDB)', () => {
  it('per_run: the normal need with headroom stops the holding loop and no normal run; the releasing retry loop is invisible to it', async () => {
    const db = await fleetDb()
    try {
      const q = await suggestActionQuotas(db)
      expect(q.flagged_loops.map((l) => l.run_id).sort()).toEqual(['loop-hold', 'loop-retry'])
      const perRun = q.suggestions.find((s) => s.scope === SCOPE && s.action_kind === 'search.web' && s.window === 'per_run')!
      expect(perRun).toMatchObject({runs: 32, loops: 2, normal_need: 6, suggested_max_calls: 9})
      expect(perRun.replay).toEqual({normal_runs_denied: 0, loops_denied: 1, loops_not_denied: ['loop-retry']})
      expect(perRun.note).toBe('a flagged loop reached only 1, no more than a normal run needed (6): this window cannot tell it from normal runs')
      // Groups with loops first, then by scope and kind, per window.
      expect(q.suggestions.map((s) => [s.window, s.scope, s.action_kind, s.loops])).toEqual([
        ['per_run', SCOPE, 'search.web', 2],
        ['per_run', OTHER, 'llm.completion', 0],
        ['per_minute_tumbling', SCOPE, 'search.web', 2],
        ['per_minute_tumbling', OTHER, 'llm.completion', 0],
      ])
      expect(perRun.policy).toEqual({scope_pattern: SCOPE, action_quotas: [{action_kind: 'search.web', max_calls: 9, window: 'per_run'}]})

      const perMinute = q.suggestions.find((s) => s.scope === SCOPE && s.window === 'per_minute_tumbling')!
      // Normal runs make at most 3 calls in one minute (20 s apart); both loops pass 40 in their busiest minute.
      expect(perMinute).toMatchObject({normal_need: 3, suggested_max_calls: 5})
      expect(perMinute.replay).toEqual({normal_runs_denied: 0, loops_denied: 2, loops_not_denied: []})

      const writer = q.suggestions.find((s) => s.scope === OTHER && s.action_kind === 'llm.completion' && s.window === 'per_run')!
      expect(writer).toMatchObject({runs: 13, loops: 0, normal_need: 2, suggested_max_calls: 3, replay: {normal_runs_denied: 0, loops_denied: 0}})
      // Groups under the sample floor without a loop get no suggestion (email.send: 3 single-call runs).
      expect(q.suggestions.some((s) => s.action_kind === 'email.send')).toBe(false)
      expect(q.totals).toEqual({normal_runs: 48, loops: 2, loops_stopped: 2, loops_stopped_per_run: 1, normal_runs_denied: 0})
      // Per loop: the holding loop never gives a slot back (per_run and per-minute stop it: 47 of its calls, 1.3 s apart, fall in its first minute); the retry loop only by the minute.
      const loops = Object.fromEntries(q.flagged_loops.map((l) => [l.run_id, l]))
      expect(loops['loop-hold']).toMatchObject({attempts: 60, released: 0, committed: 0, per_run_level: 60})
      expect(loops['loop-hold'].stopped_by.map((s) => [s.window, s.max_calls, s.level])).toEqual([['per_run', 9, 60], ['per_minute_tumbling', 5, 47]])
      expect(loops['loop-retry']).toMatchObject({attempts: 50, released: 50, committed: 0, per_run_level: 1})
      expect(loops['loop-retry'].stopped_by.map((s) => [s.window, s.max_calls])).toEqual([['per_minute_tumbling', 5]])
    } finally {
      db.close()
    }
  })

  it('boundaries: a loop exactly at max_calls is admitted, exactly min_runs normal runs get a suggestion, a loop gets one however few the runs', async () => {
    const db = await fleetDb(edgeLog())
    try {
      // Options left undefined keep the defaults.
      const q = await suggestActionQuotas(db, {}, {headroom: undefined, minRuns: undefined})
      expect([q.headroom, q.min_runs]).toEqual([0.5, 10])
      const find = (kind: string, window: string) => q.suggestions.find((s) => s.action_kind === kind && s.window === window)!
      const perRun = find('search.web', 'per_run')
      expect(perRun).toMatchObject({runs: 12, loops: 2, normal_need: 6, suggested_max_calls: 9})
      expect({...perRun.replay, loops_not_denied: [...perRun.replay.loops_not_denied].sort()}).toEqual({normal_runs_denied: 0, loops_denied: 0, loops_not_denied: ['hold-9', 'retry-6']})
      expect(find('search.web', 'per_minute_tumbling')).toMatchObject({normal_need: 3, suggested_max_calls: 5, replay: {loops_denied: 2, loops_not_denied: []}})
      expect(find('llm.completion', 'per_run')).toMatchObject({runs: 10, loops: 0, normal_need: 2, suggested_max_calls: 3})
      expect(find('email.send', 'per_run')).toMatchObject({runs: 3, loops: 1, normal_need: 1, suggested_max_calls: 2, replay: {normal_runs_denied: 0, loops_denied: 1, loops_not_denied: []}})
      expect(find('db.query', 'per_run')).toMatchObject({runs: 4, loops: 1, normal_need: 2, suggested_max_calls: 2, note: 'headroom cut to 0 so the flagged loop(s) are stopped'})
      expect(find('db.query', 'per_run').replay).toEqual({normal_runs_denied: 0, loops_denied: 1, loops_not_denied: []})
      const hold = q.flagged_loops.find((l) => l.run_id === 'hold-9')!
      expect(hold.stopped_by.map((s) => [s.window, s.max_calls, s.level])).toEqual([['per_minute_tumbling', 5, 9]])
      expect(q.flagged_loops.find((l) => l.run_id === 'query-loop')).toMatchObject({attempts: 5, released: 2, committed: 0, per_run_level: 3})
      expect(q.totals).toEqual({normal_runs: 25, loops: 4, loops_stopped: 4, loops_stopped_per_run: 2, normal_runs_denied: 0})
    } finally {
      db.close()
    }
  })

  it('a smaller headroom never admits a loop and a zero headroom still admits every normal run', async () => {
    const db = await fleetDb()
    try {
      const q = await suggestActionQuotas(db, {}, {headroom: 0})
      const perRun = q.suggestions.find((s) => s.scope === SCOPE && s.window === 'per_run')!
      expect(perRun.suggested_max_calls).toBe(7) // need + 1 at least
      expect(q.totals.normal_runs_denied).toBe(0)
    } finally {
      db.close()
    }
  })

  it('the report lists policy denials by rule; budget denials are not policy rules', async () => {
    const db = await fleetDb()
    try {
      const report = await buildReport(db, {})
      expect(report.policy_denials.map((r) => [r.rule, r.would_denials, r.denials, r.runs])).toEqual([
        ['pol_mail ACTION_QUOTA_EXCEEDED email.send', 3, 0, 3],
        ['pol_sandbox ACTION_KIND_DENIED payment.charge', 2, 0, 2],
      ])
    } finally {
      db.close()
    }
  })
})
