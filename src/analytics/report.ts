// `cycles shadow report`: per-scope denial rates with bands, estimate accuracy, loop signatures and
// delegation fan-out, computed in DuckDB over the ingested records.
//
// Definitions (README "Shadow analysis"):
// - request: a reservation attempt — endpoint `reserve` (live or dry-run) or `decide`.
// - would-be denial: a request whose `would_decision` is DENY (the shadow ledger's answer).
// - dry-run denial rate: among dry-run reserves and decides, the share whose `decision` was DENY
//   (the stateless answer against the real ledger).
// - estimate accuracy: over successful commits (2xx) with estimate and actual.
import {type PolicyDenialRow, policyDenialsByRule} from './policy-denials.js'
import {type Action, type Verdict, VERDICT_SEVERITY, decideVerdict, tierReadiness} from '../calibration/verdict.js'
import {TIERS, type Tier} from '../protocol/types.js'
import {type Band, bandOf} from './bands.js'
import type {Changes} from './compare.js'
import {type Provenance, labelCondition} from './provenance.js'
import type {ShadowSeries} from './series.js'
import type {ShadowDb} from './db.js'
import {sqlString} from './schema.js'

export const GROUPINGS = ['scope', 'workflow', 'agent', 'tier', 'reason'] as const
export type Grouping = (typeof GROUPINGS)[number]

export interface ReportOptions {
  since?: string
  until?: string
  tenant?: string
  unit?: string
  /** Only records of files ingested under one of these labels. */
  labels?: string[]
  by?: Grouping
  minRequests?: number
  loopWindowSeconds?: number
  loopThreshold?: number
  repeatThreshold?: number
  fanoutChildren?: number
  fanoutDepth?: number
  fanoutAmplification?: number
  overageThreshold?: number
  /** How many unflagged fan-out trees to list after the flagged ones. */
  top?: number
}

export const REPORT_DEFAULTS = {
  by: 'scope' as Grouping,
  minRequests: 30,
  loopWindowSeconds: 90,
  loopThreshold: 47,
  repeatThreshold: 5,
  fanoutChildren: 10,
  fanoutDepth: 3,
  fanoutAmplification: 27,
  overageThreshold: 0.05,
  top: 10,
}

export interface ScopeRow {
  scope: string
  unit: string
  requests: number
  would_denials: number
  denial_rate: number
  band: Band
  dry_run_requests: number
  dry_run_denial_rate: number | null
  commits: number
  reserve_commit_ratio: number | null
  overage_rate: number | null
  mape: number | null
  top_reasons: Array<{reason: string; count: number}>
  /** Risk tiers of the traffic in this row. */
  tiers: Tier[]
  /** The one primary verdict (src/calibration/verdict.ts, shared with `cycles calibrate`). */
  verdict: Verdict
  /** The verdict in words, with what to do. */
  message: string
  action: Action
  /** Lower-precedence findings (never contradicting the verdict). */
  findings: string[]
  /** With --by tier: the scopes whose verdict keeps the tier from being ready. */
  blockers?: string[]
}

export interface LoopRow {
  run_id: string
  scope: string
  count: number
  window_seconds: number
  first_ts: string
  last_ts: string
  /** Which detectors fired: `window` (sliding-window count) and/or `repeat` (same action consecutively). */
  signals: Array<'window' | 'repeat'>
  /** Longest run of consecutive identical reservations (action, scope, unit, estimate). */
  repeats: number
  action?: string
  /** Committed spend (commit and event actuals) of the run, in `unit`. */
  cost?: number
  unit?: string | null
}

export interface FanoutRow {
  run_id: string
  scope: string | null
  children: number
  depth: number
  descendants: number
  /** Widest level of the delegation tree: the multiplication factor (3 levels × 3 children = 27). */
  amplification: number
  flagged: boolean
  /** The tree's first and last record, and its committed spend (commit and event actuals of every run in it). */
  first_ts?: string | null
  last_ts?: string | null
  cost?: number
  unit?: string | null
}

export interface Report {
  generated_at: string
  filters: {since?: string; until?: string; tenant?: string; unit?: string; labels?: string[]; by: Grouping}
  thresholds: Required<Omit<ReportOptions, 'since' | 'until' | 'tenant' | 'unit' | 'labels' | 'by' | 'top'>>
  window: {first_ts: string | null; last_ts: string | null; records: number}
  totals: {requests: number; would_denials: number; denial_rate: number; scopes: number; loops: number; fanout_flagged: number}
  scopes: ScopeRow[]
  loops: LoopRow[]
  fanout: FanoutRow[]
  /** Would-be denials by policy rule (v0.1.26 policies; empty without them). */
  policy_denials: PolicyDenialRow[]
  /** Daily trends (series.ts), the files behind the records (provenance.ts) and what changed since an earlier report (compare.ts): added by runReport. */
  series?: ShadowSeries
  provenance?: Provenance
  changes?: Changes
}

const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : String(v).replace(' ', 'T') + (String(v).endsWith('Z') ? '' : 'Z'))

export function keyExpr(by: Grouping): string {
  switch (by) {
    case 'workflow':
      return `tenant || '/workflow:' || coalesce(regexp_extract(scope_path, '(?:^|/)workflow:([^/]+)', 1), '(none)')`
    case 'agent':
      return `tenant || '/agent:' || coalesce(nullif(regexp_extract(scope_path, '(?:^|/)agent:([^/]+)', 1), ''), '(none)')`
    case 'tier':
      return 'tier'
    case 'reason':
      return `coalesce(would_reason_code, CASE WHEN would_decision = 'DENY' THEN '(no reason)' ELSE '(allowed)' END)`
    default:
      return `coalesce(scope_path, '(no scope)')`
  }
}

function timeArg(value: string, flag: string): string {
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) throw new Error(`${flag}: not a date/time: ${value}`)
  return `${sqlString(new Date(ms).toISOString().replace('Z', ''))}::TIMESTAMP`
}

export async function buildReport(db: ShadowDb, options: ReportOptions = {}): Promise<Report> {
  const o = {...REPORT_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))} as typeof REPORT_DEFAULTS & ReportOptions
  const where: string[] = []
  if (o.since) where.push(`ts >= ${timeArg(o.since, '--since')}`)
  if (o.until) where.push(`ts < ${timeArg(o.until, '--until')}`)
  if (o.tenant) where.push(`tenant = ${sqlString(o.tenant)}`)
  if (o.unit) where.push(`unit = ${sqlString(o.unit)}`)
  if (o.labels && o.labels.length > 0) where.push(labelCondition(o.labels))
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
  await db.run(`CREATE OR REPLACE TEMP VIEW f AS SELECT * FROM records ${filter}`)
  const key = keyExpr(o.by)
  const ATT = `endpoint IN ('reserve', 'decide')`

  const [win] = await db.all<{lo: unknown; hi: unknown; n: number}>(`SELECT min(ts) AS lo, max(ts) AS hi, count(*)::DOUBLE AS n FROM f`)

  const groups = await db.all<Record<string, number | string | null | string[]>>(`
    WITH att AS (
      SELECT ${key} AS k, unit, count(*)::DOUBLE AS requests,
             count(*) FILTER (WHERE would_decision = 'DENY')::DOUBLE AS would_denials,
             count(*) FILTER (WHERE dry_run OR endpoint = 'decide')::DOUBLE AS dry_requests,
             count(*) FILTER (WHERE (dry_run OR endpoint = 'decide') AND decision = 'DENY')::DOUBLE AS dry_denials,
             list(DISTINCT tier ORDER BY tier) AS tiers
      FROM f WHERE ${ATT} GROUP BY ${key}, unit),
    com AS (
      SELECT ${key} AS k, unit, count(*)::DOUBLE AS commits, sum(estimate)::DOUBLE AS se, sum(actual)::DOUBLE AS sa,
             count(*) FILTER (WHERE actual > estimate)::DOUBLE AS overs,
             avg(abs(estimate - actual)::DOUBLE / actual) FILTER (WHERE actual > 0) AS mape
      FROM f WHERE endpoint = 'commit' AND http_status BETWEEN 200 AND 299 AND estimate IS NOT NULL AND actual IS NOT NULL GROUP BY ALL)
    SELECT coalesce(att.k, com.k) AS k, coalesce(att.unit, com.unit) AS unit,
           coalesce(requests, 0) AS requests, coalesce(would_denials, 0) AS would_denials,
           coalesce(dry_requests, 0) AS dry_requests, coalesce(dry_denials, 0) AS dry_denials,
           coalesce(commits, 0) AS commits, se, sa, overs, mape, att.tiers AS tiers
    FROM att FULL OUTER JOIN com ON att.k = com.k AND att.unit IS NOT DISTINCT FROM com.unit`)

  const reasonRows = await db.all<{k: string; unit: string; reason: string; n: number}>(`
    SELECT ${key} AS k, unit, coalesce(would_reason_code, '(none)') AS reason, count(*)::DOUBLE AS n
    FROM f WHERE ${ATT} AND would_decision = 'DENY' GROUP BY ALL ORDER BY n DESC, reason`)
  const reasons = new Map<string, Array<{reason: string; count: number}>>()
  for (const r of reasonRows) {
    const list = reasons.get(`${r.k}\u0000${r.unit}`) ?? []
    list.push({reason: r.reason, count: r.n})
    reasons.set(`${r.k}\u0000${r.unit}`, list)
  }

  // With --by reason, each reason's denials are counted against all requests in the unit.
  const unitTotals = new Map<string, number>()
  if (o.by === 'reason') for (const g of groups) unitTotals.set(String(g.unit), (unitTotals.get(String(g.unit)) ?? 0) + Number(g.requests))

  const verdictOptions = {minRequests: o.minRequests, overageThreshold: o.overageThreshold}
  const scopes: ScopeRow[] = groups.map((g) => {
    const requests = o.by === 'reason' ? unitTotals.get(String(g.unit)) ?? 0 : Number(g.requests)
    const allReasons = reasons.get(`${g.k}\u0000${g.unit}`) ?? []
    const denials = Number(g.would_denials)
    const commits = Number(g.commits)
    const se = g.se === null ? null : Number(g.se)
    const sa = g.sa === null ? null : Number(g.sa)
    const row: ScopeRow = {
      scope: String(g.k),
      unit: g.unit === null ? '(none)' : String(g.unit),
      requests,
      would_denials: denials,
      denial_rate: requests > 0 ? denials / requests : 0,
      band: bandOf(requests, denials, o.minRequests),
      dry_run_requests: Number(g.dry_requests),
      dry_run_denial_rate: Number(g.dry_requests) > 0 ? Number(g.dry_denials) / Number(g.dry_requests) : null,
      commits,
      reserve_commit_ratio: commits > 0 && sa !== null && sa > 0 && se !== null ? se / sa : null,
      overage_rate: commits > 0 ? Number(g.overs) / commits : null,
      mape: g.mape === null || g.mape === undefined ? null : Number(g.mape),
      top_reasons: allReasons.slice(0, 3),
      tiers: ((g.tiers as unknown as string[] | null) ?? []).filter((t): t is Tier => (TIERS as readonly string[]).includes(t)),
      verdict: 'ready',
      message: '',
      action: {kind: 'none', command: null},
      findings: [],
    }
    // One engine decides: configuration errors before sample size before estimates before the limit.
    const v = decideVerdict(
      {
        scope: row.scope,
        unit: row.unit,
        tenant: o.tenant,
        requests,
        would_denials: denials,
        reasons: Object.fromEntries(allReasons.map((r) => [r.reason, r.count])),
        commits,
        reserve_commit_ratio: row.reserve_commit_ratio,
        overage_rate: row.overage_rate,
        tiers: row.tiers,
      },
      verdictOptions,
    )
    Object.assign(row, {band: v.band, verdict: v.verdict, message: v.message, action: v.action, findings: v.findings})
    if (o.by === 'reason' && row.scope === '(allowed)') row.band = 'decorative'
    return row
  })
  if (o.by === 'reason') {
    // '(allowed)' is not a denial reason: drop it from the list.
    for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i].scope === '(allowed)') scopes.splice(i, 1)
  }
  if (o.by === 'tier') await applyTierReadiness(db, scopes, o)
  scopes.sort((a, b) => VERDICT_SEVERITY[a.verdict] - VERDICT_SEVERITY[b.verdict] || b.denial_rate - a.denial_rate || b.requests - a.requests || a.scope.localeCompare(b.scope) || a.unit.localeCompare(b.unit))

  const [tot] = await db.all<{requests: number; denials: number}>(
    `SELECT count(*)::DOUBLE AS requests, count(*) FILTER (WHERE would_decision = 'DENY')::DOUBLE AS denials FROM f WHERE ${ATT}`,
  )
  const loops = await findLoops(db, o)
  const fanout = await findFanout(db, o)
  const policyDenials = await policyDenialsByRule(db)

  return {
    generated_at: new Date().toISOString(),
    filters: {by: o.by, ...(o.since ? {since: o.since} : {}), ...(o.until ? {until: o.until} : {}), ...(o.tenant ? {tenant: o.tenant} : {}), ...(o.unit ? {unit: o.unit} : {}), ...(o.labels && o.labels.length > 0 ? {labels: o.labels} : {})},
    thresholds: {
      minRequests: o.minRequests,
      loopWindowSeconds: o.loopWindowSeconds,
      loopThreshold: o.loopThreshold,
      repeatThreshold: o.repeatThreshold,
      fanoutChildren: o.fanoutChildren,
      fanoutDepth: o.fanoutDepth,
      fanoutAmplification: o.fanoutAmplification,
      overageThreshold: o.overageThreshold,
    },
    window: {first_ts: win.lo === null ? null : iso(win.lo), last_ts: win.hi === null ? null : iso(win.hi), records: win.n},
    totals: {
      requests: tot.requests,
      would_denials: tot.denials,
      denial_rate: tot.requests > 0 ? tot.denials / tot.requests : 0,
      scopes: scopes.length,
      loops: loops.length,
      fanout_flagged: fanout.filter((f) => f.flagged).length,
    },
    scopes,
    loops,
    fanout,
    policy_denials: policyDenials,
  }
}

/**
 * --by tier: a tier is ready only when every scope its traffic touches is ready (the same engine,
 * per scope); otherwise its row is not ready, lists the blocking scopes, and takes the worst one's verdict.
 */
async function applyTierReadiness(db: ShadowDb, tierRows: ScopeRow[], o: ReportOptions): Promise<void> {
  const perScope = await buildReport(db, {...o, by: 'scope'})
  const readiness = tierReadiness(perScope.scopes)
  for (const row of tierRows) {
    const t = readiness.find((x) => x.tier === row.scope)
    if (!t) continue
    row.tiers = [t.tier]
    row.blockers = t.blockers
    if (t.ready) {
      Object.assign(row, {verdict: 'ready', message: `ready: every scope its traffic touches is ready — enforce the tier`, action: t.action})
      continue
    }
    const worst = perScope.scopes.filter((s) => s.tiers.includes(t.tier) && s.verdict !== 'ready').sort((a, b) => VERDICT_SEVERITY[a.verdict] - VERDICT_SEVERITY[b.verdict])[0]
    Object.assign(row, {
      verdict: worst.verdict,
      message: `not ready: ${t.blockers.length} of ${t.budgets} scope(s) block this tier (worst: ${worst.scope} — ${worst.message})`,
      action: worst.action,
    })
  }
}

/** Sliding-window count per run, and consecutive identical reservations per run. */
export async function findLoops(db: ShadowDb, o: typeof REPORT_DEFAULTS): Promise<LoopRow[]> {
  const windowUs = Math.round(o.loopWindowSeconds * 1_000_000) - 1 // (t − Δ, t]
  const windowRows = await db.all<{run_id: string; cnt: number; first_ts: unknown; last_ts: unknown; scope: string}>(`
    WITH a AS (SELECT run_id, ts, scope_path FROM f WHERE endpoint IN ('reserve', 'decide') AND run_id IS NOT NULL),
    hot AS (SELECT run_id FROM a GROUP BY run_id HAVING count(*) >= ${o.loopThreshold}),
    w AS (SELECT a.run_id, a.ts, count(*) OVER (PARTITION BY a.run_id ORDER BY a.ts RANGE BETWEEN INTERVAL (${windowUs}) MICROSECONDS PRECEDING AND CURRENT ROW) AS c
          FROM a SEMI JOIN hot ON a.run_id = hot.run_id),
    peak AS (SELECT run_id, max(c) AS cnt, arg_min(ts, (-c, ts)) AS last_ts FROM w GROUP BY run_id HAVING max(c) >= ${o.loopThreshold})
    SELECT p.run_id, p.cnt::DOUBLE AS cnt, min(a.ts) AS first_ts, p.last_ts, mode(a.scope_path) AS scope
    FROM peak p JOIN a ON a.run_id = p.run_id AND a.ts > p.last_ts - INTERVAL (${windowUs}) MICROSECONDS AND a.ts <= p.last_ts
    GROUP BY p.run_id, p.cnt, p.last_ts`)

  // A streak of R identical attempts needs R attempts of one run with one signature, so only runs
  // that have such a signature are put in order (grouped by a 64-bit hash of run and signature; a
  // collision only adds a candidate, which the exact pass below then rejects).
  const SIG = 'hash(run_id, action_kind, action_name, scope_path, unit, estimate)'
  const ATTEMPT = `endpoint IN ('reserve', 'decide') AND run_id IS NOT NULL`
  await db.run(`CREATE OR REPLACE TEMP TABLE repeat_sigs AS SELECT ${SIG} AS h FROM f WHERE ${ATTEMPT} GROUP BY h HAVING count(*) >= ${o.repeatThreshold}`)
  await db.run(`CREATE OR REPLACE TEMP TABLE repeat_runs AS SELECT DISTINCT run_id FROM f WHERE ${ATTEMPT} AND ${SIG} IN (SELECT h FROM repeat_sigs)`)
  const repeatRows = await db.all<{run_id: string; n: number; first_ts: unknown; last_ts: unknown; scope: string; action: string}>(`
    WITH a AS (SELECT run_id, ts, id, scope_path, action_kind, action_name, unit, estimate FROM f
               WHERE ${ATTEMPT} AND run_id IN (SELECT run_id FROM repeat_runs)),
    r AS (SELECT a.*, CASE WHEN (action_kind, action_name, scope_path, unit, estimate) IS NOT DISTINCT FROM
                 lag((action_kind, action_name, scope_path, unit, estimate)) OVER (PARTITION BY a.run_id ORDER BY ts, id)
                 THEN 0 ELSE 1 END AS brk
          FROM a),
    g AS (SELECT *, sum(brk) OVER (PARTITION BY run_id ORDER BY ts, id ROWS UNBOUNDED PRECEDING) AS grp FROM r),
    streaks AS (SELECT run_id, grp, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts, any_value(scope_path) AS scope,
                       any_value(action_kind || ' ' || action_name) AS action
                FROM g GROUP BY run_id, grp HAVING count(*) >= ${o.repeatThreshold})
    SELECT run_id, max(n)::DOUBLE AS n, arg_max(first_ts, n) AS first_ts, arg_max(last_ts, n) AS last_ts,
           arg_max(scope, n) AS scope, arg_max(action, n) AS action
    FROM streaks GROUP BY run_id`)

  const byRun = new Map<string, LoopRow>()
  for (const w of windowRows) {
    byRun.set(w.run_id, {
      run_id: w.run_id,
      scope: w.scope,
      count: w.cnt,
      window_seconds: o.loopWindowSeconds,
      first_ts: iso(w.first_ts),
      last_ts: iso(w.last_ts),
      signals: ['window'],
      repeats: 0,
    })
  }
  for (const r of repeatRows) {
    const existing = byRun.get(r.run_id)
    if (existing) {
      existing.signals.push('repeat')
      existing.repeats = r.n
      existing.action = r.action
      continue
    }
    const first = iso(r.first_ts)
    const last = iso(r.last_ts)
    byRun.set(r.run_id, {
      run_id: r.run_id,
      scope: r.scope,
      count: r.n,
      window_seconds: Math.round((Date.parse(last) - Date.parse(first)) / 100) / 10,
      first_ts: first,
      last_ts: last,
      signals: ['repeat'],
      repeats: r.n,
      action: r.action,
    })
  }
  const loops = [...byRun.values()].sort((a, b) => b.count - a.count || a.run_id.localeCompare(b.run_id))
  if (loops.length > 0) {
    const costs = await runCosts(db, loops.map((l) => [l.run_id, l.run_id]))
    for (const l of loops) {
      const c = costs.get(l.run_id)
      l.cost = c?.cost ?? 0
      l.unit = c?.unit ?? null
    }
  }
  return loops
}

/** Committed spend (commit and event actuals, 2xx) and time span per group of runs: [run_id, group] pairs. */
async function runCosts(db: ShadowDb, members: Array<[string, string]>): Promise<Map<string, {cost: number; unit: string | null; first_ts: string | null; last_ts: string | null}>> {
  const values = members.map(([run, group]) => `(${sqlString(run)}, ${sqlString(group)})`).join(', ')
  const rows = await db.all<{grp: string; cost: number; unit: string | null; lo: unknown; hi: unknown}>(`
    WITH m(run_id, grp) AS (VALUES ${values})
    SELECT m.grp, coalesce(sum(f.actual) FILTER (WHERE f.endpoint IN ('commit', 'event') AND f.http_status BETWEEN 200 AND 299), 0)::DOUBLE AS cost,
           mode(f.unit) AS unit, min(f.ts) AS lo, max(f.ts) AS hi
    FROM f JOIN m ON f.run_id = m.run_id GROUP BY m.grp`)
  return new Map(rows.map((r) => [r.grp, {cost: r.cost, unit: r.unit, first_ts: r.lo === null ? null : iso(r.lo), last_ts: r.hi === null ? null : iso(r.hi)}]))
}

/** Delegation trees from parent_run_id: children, depth, width (amplification) per root run. */
async function findFanout(db: ShadowDb, o: typeof REPORT_DEFAULTS & ReportOptions): Promise<FanoutRow[]> {
  const edges = await db.all<{child: string; parent: string}>(
    `SELECT DISTINCT run_id AS child, parent_run_id AS parent FROM f WHERE parent_run_id IS NOT NULL AND run_id IS NOT NULL AND run_id <> parent_run_id`,
  )
  const children = new Map<string, Set<string>>()
  const hasParent = new Set<string>()
  for (const e of edges) {
    let set = children.get(e.parent)
    if (!set) children.set(e.parent, (set = new Set()))
    set.add(e.child)
    hasParent.add(e.child)
  }
  const rows: FanoutRow[] = []
  const members = new Map<string, string[]>()
  for (const [root, direct] of children) {
    if (hasParent.has(root)) continue
    const seen = new Set<string>([root])
    let level = [...direct].filter((c) => !seen.has(c))
    let depth = 0
    let widest = 0
    let descendants = 0
    while (level.length > 0) {
      depth++
      widest = Math.max(widest, level.length)
      descendants += level.length
      for (const c of level) seen.add(c)
      const next: string[] = []
      for (const c of level) for (const g of children.get(c) ?? []) if (!seen.has(g)) next.push(g)
      level = [...new Set(next)]
    }
    const flagged = direct.size >= o.fanoutChildren || depth >= o.fanoutDepth || widest >= o.fanoutAmplification
    members.set(root, [...seen])
    rows.push({run_id: root, scope: null, children: direct.size, depth, descendants, amplification: widest, flagged})
  }
  rows.sort((a, b) => Number(b.flagged) - Number(a.flagged) || b.amplification - a.amplification || b.depth - a.depth || b.descendants - a.descendants || a.run_id.localeCompare(b.run_id))
  const flagged = rows.filter((r) => r.flagged)
  const listed = [...flagged, ...rows.filter((r) => !r.flagged).slice(0, o.top)]
  if (listed.length > 0) {
    const ids = listed.map((r) => sqlString(r.run_id)).join(', ')
    const scopes = await db.all<{run_id: string; scope: string}>(
      `SELECT run_id, mode(scope_path) AS scope FROM f WHERE run_id IN (${ids}) GROUP BY run_id`,
    )
    const byRun = new Map(scopes.map((s) => [s.run_id, s.scope]))
    for (const r of listed) r.scope = byRun.get(r.run_id) ?? null
    const costs = await runCosts(db, listed.flatMap((r) => (members.get(r.run_id) ?? [r.run_id]).map((m): [string, string] => [m, r.run_id])))
    for (const r of listed) Object.assign(r, costs.get(r.run_id) ?? {cost: 0, unit: null, first_ts: null, last_ts: null})
  }
  return listed
}
