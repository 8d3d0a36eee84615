// Action-quota suggestions from the shadow log (`cycles calibrate`): per (scope, action kind), the
// highest count a normal run needed, with headroom, lowered where needed so the loops the report flags
// would be stopped — and a replay that says how many normal runs and flagged loops the quota denies.
//
// Two windows, replayed with the counter rules of cycles-action-kinds v0.1.26:
// - per_run: +1 per live reservation, no change at commit (committed calls permanently count), -1
//   when it is released (the spec's PER_RUN COUNTER LIFECYCLE; dry-runs and decides count nothing).
//   A loop that commits every attempt climbs one slot per call, so a per_run quota stops it; a retry
//   loop that releases every failed attempt never holds more than one slot, so a per_run quota cannot
//   see it — the replay says so (per loop: `stopped_by` and `why`) instead of claiming it.
// - per_minute_tumbling: live reservations per UTC minute of the scope, never decremented; catches
//   the burst of a retry loop. Denied calls do not count, so in a minute the calls after the first
//   max_calls are the denied ones.
// Expired reservations (a -1 in the daemon) are not in the log; a replay without them overstates a
// run's level, which can only make a suggestion larger, never deny a run the daemon would admit.
import type {ShadowDb} from '../analytics/db.js'
import {REPORT_DEFAULTS, findLoops} from '../analytics/report.js'
import {type LogFilter, filterSql} from './replay-log.js'

export const QUOTA_DEFAULTS = {
  /** Suggested max_calls = ceil(normal need × (1 + headroom)), unless that would let a flagged loop through. */
  headroom: 0.5,
  /** Groups with fewer normal runs than this (and no flagged loop) get no suggestion. */
  minRuns: 10,
}

export type QuotaWindow = 'per_run' | 'per_minute_tumbling'

export interface QuotaSuggestion {
  scope: string
  action_kind: string
  window: QuotaWindow
  /** Runs with a live reservation of this kind at this scope, and how many of them the report flags as loops. */
  runs: number
  loops: number
  /** The highest counter level a normal (unflagged) run reached. */
  normal_need: number
  suggested_max_calls: number
  /** By replay of the log with the suggested quota in force. */
  replay: {normal_runs_denied: number; loops_denied: number; loops_not_denied: string[]}
  /** Why the suggestion is not simply need × (1 + headroom). */
  note?: string
  /** Paste into the policy governing this scope (admin API or config file). */
  policy: {scope_pattern: string; action_quotas: Array<{action_kind: string; max_calls: number; window: QuotaWindow}>}
}

/** One of the report's flagged loops, and which suggested quota would have stopped it. */
export interface FlaggedLoop {
  run_id: string
  scope: string
  count: number
  /** Its live reservations, and how many of them it released and committed. */
  attempts: number
  released: number
  committed: number
  /** The highest per_run counter level it reached (releases take a slot back, commits do not). */
  per_run_level: number
  /** The suggested quotas whose replay denies it: the window, where, max_calls and the level it reached there. */
  stopped_by: Array<{window: QuotaWindow; scope: string; action_kind: string; max_calls: number; level: number}>
  /** One line: what stops it, and why per_run does not when it does not. */
  why: string
}

export interface QuotaSuggestions {
  headroom: number
  min_runs: number
  /** The report's loop signatures (sliding window and repeats), by run. */
  flagged_loops: FlaggedLoop[]
  suggestions: QuotaSuggestion[]
  totals: {
    normal_runs: number
    loops: number
    /** Flagged loops at least one suggested quota (of either window) would have stopped. */
    loops_stopped: number
    loops_stopped_per_run: number
    /** Normal runs any suggested quota would have denied. */
    normal_runs_denied: number
  }
}

/** What one group's replay needs: the level each run reached (per_run) or its latest position in a minute (per minute). */
interface RunLevel {
  scope: string
  kind: string
  run_id: string
  level: number
}

/** A per_run group's run, with what its counter saw. */
interface PerRunLevel extends RunLevel {
  attempts: number
  released: number
  committed: number
}

/** Suggested max_calls for one group: need with headroom, lowered to stop flagged loops when the data allows it. */
export function chooseMaxCalls(normalNeed: number, loopLevels: number[], headroom: number): {max: number; note?: string} {
  const padded = Math.max(1, Math.ceil(normalNeed * (1 + headroom)), normalNeed + 1)
  if (loopLevels.length === 0) return {max: padded}
  const lowestLoop = Math.min(...loopLevels)
  if (padded < lowestLoop) return {max: padded}
  if (lowestLoop > normalNeed) return {max: Math.max(1, lowestLoop - 1), note: `headroom cut to ${lowestLoop - 1 - normalNeed} so the flagged loop(s) are stopped`}
  return {max: padded, note: `a flagged loop reached only ${lowestLoop}, no more than a normal run needed (${normalNeed}): this window cannot tell it from normal runs`}
}

export async function suggestActionQuotas(db: ShadowDb, filter: LogFilter = {}, options: Partial<typeof QUOTA_DEFAULTS> = {}): Promise<QuotaSuggestions> {
  const o = {...QUOTA_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))}
  const where = filterSql(filter)
  // The report's loop detectors read the view `f`.
  await db.run(`CREATE OR REPLACE TEMP VIEW f AS SELECT * FROM records ${where}`)
  const loops = await findLoops(db, REPORT_DEFAULTS)
  const loopIds = new Set(loops.map((l) => l.run_id))
  const LIVE = `run_id IS NOT NULL AND action_kind IS NOT NULL AND scope_path IS NOT NULL`

  const perRun = await db.all<PerRunLevel>(`
    WITH e AS (
      SELECT run_id, scope_path, action_kind, ts, id, endpoint,
             CASE endpoint WHEN 'reserve' THEN 1 WHEN 'commit' THEN 0 WHEN 'release' THEN -1 END AS d
      FROM f WHERE ${LIVE} AND http_status BETWEEN 200 AND 299 AND NOT dry_run AND endpoint IN ('reserve', 'commit', 'release')
        AND (endpoint <> 'reserve' OR decision <> 'DENY')),
    lv AS (SELECT run_id, scope_path, action_kind, endpoint, sum(d) OVER (PARTITION BY run_id, scope_path, action_kind ORDER BY ts, id ROWS UNBOUNDED PRECEDING) AS level FROM e)
    SELECT scope_path AS scope, action_kind AS kind, run_id, max(level)::DOUBLE AS level,
           count(*) FILTER (WHERE endpoint = 'reserve')::DOUBLE AS attempts,
           count(*) FILTER (WHERE endpoint = 'release')::DOUBLE AS released,
           count(*) FILTER (WHERE endpoint = 'commit')::DOUBLE AS committed
    FROM lv GROUP BY scope_path, action_kind, run_id`)

  // Per minute: each live reservation's position in its (scope, kind, UTC minute); a run's level is its highest position.
  const perMinute = await db.all<{scope: string; kind: string; run_id: string; level: number}>(`
    WITH e AS (
      SELECT run_id, scope_path, action_kind,
             row_number() OVER (PARTITION BY scope_path, action_kind, date_trunc('minute', ts) ORDER BY ts, id) AS pos
      FROM f WHERE ${LIVE} AND http_status BETWEEN 200 AND 299 AND NOT dry_run AND endpoint = 'reserve' AND decision <> 'DENY')
    SELECT scope_path AS scope, action_kind AS kind, run_id, max(pos)::DOUBLE AS level FROM e GROUP BY ALL`)

  const suggestions = [...suggestWindow(perRun, 'per_run', loopIds, o), ...suggestWindow(perMinute, 'per_minute_tumbling', loopIds, o)]
  const levelOf = new Map([...perRun.map((r) => [`per_run\u0000${r.scope}\u0000${r.kind}\u0000${r.run_id}`, r.level] as const), ...perMinute.map((r) => [`per_minute_tumbling\u0000${r.scope}\u0000${r.kind}\u0000${r.run_id}`, r.level] as const)])
  const stoppedBy = (window?: QuotaWindow) => {
    const stopped = new Set<string>()
    for (const s of suggestions) {
      if (window && s.window !== window) continue
      for (const run of s.replay.stopped) stopped.add(run)
    }
    return stopped
  }
  const deniedNormal = new Set<string>()
  for (const s of suggestions) for (const run of s.replay.denied_normal) deniedNormal.add(run)
  const normalRuns = new Set(perRun.filter((r) => !loopIds.has(r.run_id)).map((r) => r.run_id))
  return {
    headroom: o.headroom,
    min_runs: o.minRuns,
    flagged_loops: loops.map((l) => {
      const counted = perRun.filter((r) => r.run_id === l.run_id)
      const sum = (k: 'attempts' | 'released' | 'committed') => counted.reduce((t, r) => t + r[k], 0)
      const stopped_by = suggestions
        .filter((s) => s.replay.stopped.includes(l.run_id))
        .map((s) => ({window: s.window, scope: s.scope, action_kind: s.action_kind, max_calls: s.suggested_max_calls, level: levelOf.get(`${s.window}\u0000${s.scope}\u0000${s.action_kind}\u0000${l.run_id}`) ?? 0}))
      const loop = {run_id: l.run_id, scope: l.scope, count: l.count, attempts: sum('attempts'), released: sum('released'), committed: sum('committed'), per_run_level: counted.reduce((m, r) => Math.max(m, r.level), 0), stopped_by}
      return {...loop, why: whyStopped(loop)}
    }),
    suggestions: suggestions.map(({replay: {stopped: _s, denied_normal: _d, ...replay}, ...rest}) => ({...rest, replay})),
    totals: {
      normal_runs: normalRuns.size,
      loops: loops.length,
      // A replay's `stopped` holds flagged loops only (suggestWindow), so the sets count loops.
      loops_stopped: stoppedBy().size,
      loops_stopped_per_run: stoppedBy('per_run').size,
      normal_runs_denied: deniedNormal.size,
    },
  }
}

/** The one line per flagged loop: which quota stops it, and — when per_run does not — why not (the spec's counter lifecycle). */
export function whyStopped(l: Omit<FlaggedLoop, 'why'>): string {
  const byRun = l.stopped_by.find((s) => s.window === 'per_run')
  const other = l.stopped_by.find((s) => s.window !== 'per_run')
  if (byRun) return `stopped by per_run (max_calls ${byRun.max_calls}; it reached ${byRun.level}): only a release gives a slot back, and it released ${l.released} of its ${l.attempts} call(s) (${l.committed} committed)`
  const releasedAll = l.attempts > 0 && l.released === l.attempts
  const perRunReason = releasedAll
    ? `it released every attempt, so its per_run counter (+1 at reserve, -1 at release) never passed ${l.per_run_level}`
    : `its per_run level (${l.per_run_level}) is within what normal runs need`
  if (other) return `stopped by ${other.window} (max_calls ${other.max_calls}; the scope's counter reached ${other.level} in one window on its calls), not by per_run: ${perRunReason}`
  return `not stopped by any suggested quota (${perRunReason})`
}

type Working = Omit<QuotaSuggestion, 'replay'> & {replay: QuotaSuggestion['replay'] & {stopped: string[]; denied_normal: string[]}}

/** One window's suggestions: group the run levels, choose max_calls, replay (a run is denied when its level passes max_calls). */
function suggestWindow(levels: RunLevel[], window: QuotaWindow, loopIds: Set<string>, o: typeof QUOTA_DEFAULTS): Working[] {
  const groups = new Map<string, RunLevel[]>()
  for (const r of levels) {
    const key = `${r.scope}\u0000${r.kind}`
    let g = groups.get(key)
    if (!g) groups.set(key, (g = []))
    g.push(r)
  }
  const out: Working[] = []
  for (const runs of groups.values()) {
    const {scope, kind} = runs[0]!
    const normal = runs.filter((r) => !loopIds.has(r.run_id))
    const loops = runs.filter((r) => loopIds.has(r.run_id))
    if (loops.length === 0 && normal.length < o.minRuns) continue
    const normalNeed = normal.reduce((m, r) => Math.max(m, r.level), 0)
    const {max, note} = chooseMaxCalls(normalNeed, loops.map((r) => r.level), o.headroom)
    const deniedNormal = normal.filter((r) => r.level > max).map((r) => r.run_id)
    const stopped = loops.filter((r) => r.level > max).map((r) => r.run_id)
    out.push({
      scope,
      action_kind: kind,
      window,
      runs: runs.length,
      loops: loops.length,
      normal_need: normalNeed,
      suggested_max_calls: max,
      replay: {
        normal_runs_denied: deniedNormal.length,
        loops_denied: stopped.length,
        loops_not_denied: loops.filter((r) => r.level <= max).map((r) => r.run_id),
        stopped,
        denied_normal: deniedNormal,
      },
      ...(note ? {note} : {}),
      policy: {scope_pattern: scope, action_quotas: [{action_kind: kind, max_calls: max, window}]},
    })
  }
  // Groups with loops first, then by scope and kind.
  return out.sort((a, b) => b.loops - a.loops || a.scope.localeCompare(b.scope) || a.action_kind.localeCompare(b.action_kind))
}

/** Text lines for `cycles calibrate` (table output): the groups with flagged loops, then the first per_run quotas of the rest. */
export function renderQuotaSuggestions(q: QuotaSuggestions, limit: number): string[] {
  const t = q.totals
  const lines = [
    '',
    `Action quotas (by replay): ${q.flagged_loops.length} flagged loop(s); the suggested quotas stop ${t.loops_stopped} of them (${t.loops_stopped_per_run} by a per_run quota) and deny ${t.normal_runs_denied} of ${t.normal_runs} normal run(s)`,
  ]
  const line = (s: QuotaSuggestion) =>
    `  ${s.scope} ${s.action_kind} ${s.window}: max_calls ${s.suggested_max_calls} (normal runs needed ${s.normal_need}; ${s.runs} run(s)) → denies ${s.replay.normal_runs_denied} normal run(s), ${s.replay.loops_denied} of ${s.loops} flagged loop(s)${s.note ? ` — ${s.note}` : ''}`
  const withLoops = q.suggestions.filter((s) => s.loops > 0)
  const others = q.suggestions.filter((s) => s.loops === 0 && s.window === 'per_run')
  const room = Math.max(0, Math.min(10, limit - withLoops.length))
  lines.push(...renderLoopLines(q))
  for (const s of [...withLoops, ...others.slice(0, room)]) lines.push(line(s))
  const hidden = q.suggestions.length - withLoops.length - Math.min(room, others.length)
  if (hidden > 0) lines.push(`  … ${hidden} more suggestion(s) (--format json for all, each with its policy snippet)`)
  return lines
}

/** One line per flagged loop (also printed by the demo). */
export function renderLoopLines(q: QuotaSuggestions): string[] {
  return q.flagged_loops.map((l) => `  loop ${l.run_id} (${l.count} calls, ${l.scope}): ${l.why}`)
}
