// Decision logs whose truth is known: planted denial rates, estimate ratios, loops and fan-outs
// (for tests), and a fast generator of large realistic logs (for the analyzer bench). Records are
// assembled by the one record builder, buildDecisionRecord, like the daemon's.
import fs from 'node:fs'

import {type DecisionRecord, type RecordFacts, buildDecisionRecord} from '../decision-log/record.js'
import type {Decision, Unit} from '../protocol/types.js'
import {Rng} from './prng.js'

export interface RecordInput {
  ts_ms: number
  endpoint: RecordFacts['endpoint']
  tenant: string
  scope_path: string
  unit: Unit
  estimate?: number
  actual?: number
  dry_run?: boolean
  run_id?: string
  parent_run_id?: string
  action?: {kind: string; name: string}
  would_decision?: Decision
  would_reason_code?: string
  decision?: Decision
  reason_code?: string
  http_status?: number
  reservation_id?: string
}

const LEVEL = /^(tenant|workspace|app|workflow|agent|toolset):(.+)$/

function subjectOf(scopePath: string, run?: string, parent?: string): NonNullable<RecordFacts['subject']> {
  const subject: Record<string, unknown> = {}
  for (const segment of scopePath.split('/')) {
    const m = LEVEL.exec(segment)
    if (m) subject[m[1]] = m[2]
  }
  if (run) subject.dimensions = {run_id: run, ...(parent ? {parent_run_id: parent} : {})}
  return subject as NonNullable<RecordFacts['subject']>
}

function affected(scopePath: string): string[] {
  const parts = scopePath.split('/')
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'))
}

/** One schema-v1 record, as the daemon would log it. */
export function makeRecord(rng: Rng, r: RecordInput): DecisionRecord {
  const would = r.would_decision ?? 'ALLOW'
  const facts: RecordFacts = {
    endpoint: r.endpoint,
    dry_run: r.dry_run ?? false,
    mode: 'shadow',
    tier: 'medium',
    subject: subjectOf(r.scope_path, r.run_id, r.parent_run_id),
    scope_path: r.scope_path,
    affected_scopes: affected(r.scope_path),
    ...(r.run_id ? {run_id: r.run_id} : {}),
    ...(r.parent_run_id ? {parent_run_id: r.parent_run_id} : {}),
    action: r.action ?? {kind: 'llm.completion', name: 'chat'},
    unit: r.unit,
    ...(r.estimate !== undefined ? {estimate: r.estimate} : {}),
    ...(r.actual !== undefined ? {actual: r.actual} : {}),
    ...(r.reservation_id ? {reservation_id: r.reservation_id} : {}),
    decision: r.decision ?? 'ALLOW',
    ...(r.reason_code ? {reason_code: r.reason_code} : {}),
    would_decision: would,
    ...(would === 'DENY' ? {would_reason_code: r.would_reason_code ?? 'BUDGET_EXCEEDED', denied_scope: r.scope_path.split('/')[0]} : {}),
  }
  return buildDecisionRecord(facts, {
    id: rng.uuid(),
    ts_ms: r.ts_ms,
    request_id: `req_${rng.u32().toString(36)}`,
    trace_id: rng.uuid().replaceAll('-', ''),
    tenant: r.tenant,
    http_status: r.http_status ?? (r.endpoint === 'event' ? 201 : 200),
    latency_us: 80 + rng.int(0, 400),
  })
}

// ------------------------------------------------------------------ planted logs (tests)

export interface PlantedScope {
  tenant: string
  scope_path: string
  unit: Unit
  /** Reservation attempts (live reserves unless dry-run/decide are given below). */
  requests: number
  denials: number
  /** Of the requests, how many are dry-run reserves, and how many of those the real ledger denied. */
  dry_runs?: {count: number; denials: number}
  /** Commits on the live reserves: estimate and actual each. */
  commits?: Array<{estimate: number; actual: number}>
}

export interface PlantedLoop {
  tenant: string
  scope_path: string
  unit: Unit
  run_id: string
  count: number
  /** Spread over this many seconds. */
  seconds: number
  start_ms: number
  /** Same action and estimate every time (default true): also a repeat signature. */
  identical?: boolean
}

export interface PlantedFanout {
  tenant: string
  scope_path: string
  unit: Unit
  root: string
  /** Children per run at each level, e.g. [3, 3, 3] = depth 3, widest level 27. */
  branching: number[]
  start_ms: number
}

export interface PlantedSpec {
  seed: number
  start_ms: number
  scopes: PlantedScope[]
  loops?: PlantedLoop[]
  fanouts?: PlantedFanout[]
}

/** Records for a planted spec, sorted by time. Ordinary runs have ≤ 4 varied steps, 1 minute apart. */
export function plantedLog(spec: PlantedSpec): DecisionRecord[] {
  const rng = new Rng(spec.seed)
  const out: DecisionRecord[] = []
  let runSeq = 0
  for (const s of spec.scopes) {
    const dry = s.dry_runs ?? {count: 0, denials: 0}
    const denyAt = new Set(shuffle(rng, range(s.requests)).slice(0, s.denials))
    const dryAt = new Set(shuffle(rng, range(s.requests)).slice(0, dry.count))
    const dryDenyAt = new Set([...dryAt].slice(0, dry.denials))
    let commitIndex = 0
    let t = spec.start_ms
    let run = ''
    for (let i = 0; i < s.requests; i++) {
      if (i % 4 === 0) {
        run = `run-${++runSeq}`
        t += 3_600_000
      }
      t += 60_000
      const estimate = 1000 + rng.int(0, 100_000)
      const isDry = dryAt.has(i)
      const action = {kind: 'llm.completion', name: `step-${i % 4}`}
      const would = denyAt.has(i) ? 'DENY' : 'ALLOW'
      const base = {tenant: s.tenant, scope_path: s.scope_path, unit: s.unit, run_id: run, action}
      if (isDry) {
        const deny = dryDenyAt.has(i)
        out.push(makeRecord(rng, {...base, ts_ms: t, endpoint: 'reserve', dry_run: true, estimate, would_decision: would, decision: deny ? 'DENY' : 'ALLOW', ...(deny ? {reason_code: 'BUDGET_EXCEEDED'} : {})}))
        continue
      }
      const rid = rng.uuid()
      const c = s.commits?.[commitIndex]
      const est = c ? c.estimate : estimate
      out.push(makeRecord(rng, {...base, ts_ms: t, endpoint: 'reserve', estimate: est, would_decision: would, reservation_id: rid}))
      if (c) {
        commitIndex++
        out.push(makeRecord(rng, {...base, ts_ms: t + 2_000, endpoint: 'commit', estimate: c.estimate, actual: c.actual, reservation_id: rid}))
      }
    }
    if (s.commits && commitIndex < s.commits.length) throw new Error(`scope ${s.scope_path}: ${s.commits.length} commits but only ${commitIndex} live reserves`)
  }
  for (const l of spec.loops ?? []) {
    for (let i = 0; i < l.count; i++) {
      const ts = l.start_ms + (l.count > 1 ? Math.floor((i * l.seconds * 1000) / (l.count - 1)) : 0)
      const identical = l.identical ?? true
      out.push(
        makeRecord(rng, {
          tenant: l.tenant,
          scope_path: l.scope_path,
          unit: l.unit,
          run_id: l.run_id,
          ts_ms: ts,
          endpoint: 'reserve',
          estimate: identical ? 5000 : 5000 + i,
          action: {kind: 'tool.call', name: identical ? 'fetch-page' : `fetch-${i}`},
        }),
      )
    }
  }
  for (const f of spec.fanouts ?? []) {
    let level = [f.root]
    let t = f.start_ms
    const reserve = (run: string, parent?: string) => {
      out.push(makeRecord(rng, {tenant: f.tenant, scope_path: f.scope_path, unit: f.unit, run_id: run, ...(parent ? {parent_run_id: parent} : {}), ts_ms: (t += 1000), endpoint: 'reserve', estimate: 1000 + rng.int(0, 9000)}))
    }
    reserve(f.root)
    f.branching.forEach((b, depth) => {
      const next: string[] = []
      for (const parent of level) {
        for (let i = 0; i < b; i++) {
          const child = `${parent}.${depth + 1}-${i}`
          reserve(child, parent)
          next.push(child)
        }
      }
      level = next
    })
  }
  return out.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0))
}

function range(n: number): number[] {
  return Array.from({length: n}, (_, i) => i)
}

function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(0, i)
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}

export function writeJsonl(file: string, records: DecisionRecord[]): void {
  fs.writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : ''))
}

// ------------------------------------------------------------------ large logs (bench)

export interface BenchLogTruth {
  records: number
  loops: string[]
  fanouts: string[]
}

/**
 * Write about `n` realistic records (12 tenants, ~480 scopes, runs of 1–12 steps: live reserve +
 * commit, dry-runs, decides; ~10 % delegated runs) with 20 planted loops and 10 fan-out trees.
 */
export async function writeBenchLog(file: string, n: number, seed = 7): Promise<BenchLogTruth> {
  const rng = new Rng(seed)
  const fd = fs.openSync(file, 'w')
  const truth: BenchLogTruth = {records: 0, loops: [], fanouts: []}
  const units: Unit[] = ['USD_MICROCENTS', 'TOKENS', 'CREDITS', 'RISK_POINTS']
  const scopes: Array<{tenant: string; path: string; unit: Unit; deny: number; ratio: number}> = []
  for (let t = 0; t < 12; t++) {
    for (let w = 0; w < 4; w++) {
      for (let a = 0; a < 10; a++) {
        const tenant = `tenant-${t}`
        scopes.push({
          tenant,
          path: `tenant:${tenant}/workspace:ws-${w}/workflow:flow-${a % 5}/agent:agent-${a}`,
          unit: units[(t + a) % 4],
          deny: rng.pick([0, 0.004, 0.02, 0.04, 0.08]),
          ratio: rng.pick([0.7, 1, 1.1, 1.5, 3]),
        })
      }
    }
  }
  let buffer: string[] = []
  const flush = () => {
    if (buffer.length === 0) return
    fs.writeSync(fd, `${buffer.join('\n')}\n`)
    buffer = []
  }
  const emit = (r: DecisionRecord) => {
    buffer.push(JSON.stringify(r))
    truth.records++
    if (buffer.length >= 20_000) flush()
  }
  let t = Date.parse('2026-11-01T00:00:00.000Z')
  const stepMs = Math.max(1, Math.floor((14 * 86_400_000) / n))
  let runSeq = 0
  const recentRuns: string[] = []
  const loopEvery = Math.floor(n / 21)
  const fanEvery = Math.floor(n / 11)
  let nextLoop = loopEvery
  let nextFan = fanEvery
  while (truth.records < n) {
    const s = scopes[rng.int(0, scopes.length - 1)]
    const run = `run-${++runSeq}`
    const parent = recentRuns.length > 0 && rng.chance(0.1) ? rng.pick(recentRuns) : undefined
    if (!parent) recentRuns.push(run) // delegation one level deep only: planted trees stay the only deep ones
    if (recentRuns.length > 50) recentRuns.shift()
    const steps = rng.int(1, 12)
    for (let i = 0; i < steps && truth.records < n; i++) {
      t += stepMs * 2
      const estimate = Math.max(1, Math.round(rng.lognormal(s.unit === 'RISK_POINTS' ? 5 : 200_000, 0.6)))
      const would: Decision = rng.chance(s.deny) ? 'DENY' : 'ALLOW'
      const base = {tenant: s.tenant, scope_path: s.path, unit: s.unit, run_id: run, ...(parent ? {parent_run_id: parent} : {}), action: {kind: 'llm.completion', name: `step-${i}`}}
      const kind = rng.next()
      if (kind < 0.1) emit(makeRecord(rng, {...base, ts_ms: t, endpoint: 'reserve', dry_run: true, estimate, would_decision: would, decision: would}))
      else if (kind < 0.15) emit(makeRecord(rng, {...base, ts_ms: t, endpoint: 'decide', estimate, would_decision: would, decision: would}))
      else {
        const rid = rng.uuid()
        emit(makeRecord(rng, {...base, ts_ms: t, endpoint: 'reserve', estimate, would_decision: would, reservation_id: rid}))
        const actual = Math.max(0, Math.round((estimate / s.ratio) * rng.lognormal(1, 0.25)))
        emit(makeRecord(rng, {...base, ts_ms: t + stepMs, endpoint: 'commit', estimate, actual, reservation_id: rid, would_decision: would}))
      }
    }
    if (truth.records >= nextLoop && truth.loops.length < 20) {
      nextLoop += loopEvery
      const loopRun = `loop-run-${truth.loops.length}`
      truth.loops.push(loopRun)
      for (let i = 0; i < 50; i++) emit(makeRecord(rng, {tenant: s.tenant, scope_path: s.path, unit: s.unit, run_id: loopRun, ts_ms: t + i * 1500, endpoint: 'reserve', estimate: 4242, action: {kind: 'tool.call', name: 'retry-me'}}))
    }
    if (truth.records >= nextFan && truth.fanouts.length < 10) {
      nextFan += fanEvery
      const root = `fan-root-${truth.fanouts.length}`
      truth.fanouts.push(root)
      let level = [root]
      emit(makeRecord(rng, {tenant: s.tenant, scope_path: s.path, unit: s.unit, run_id: root, ts_ms: t, endpoint: 'reserve', estimate: 1000}))
      for (let d = 1; d <= 3; d++) {
        const next: string[] = []
        for (const p of level) {
          for (let c = 0; c < 3; c++) {
            const child = `${p}.${c}`
            next.push(child)
            emit(makeRecord(rng, {tenant: s.tenant, scope_path: s.path, unit: s.unit, run_id: child, parent_run_id: p, ts_ms: t + d * 1000 + c, endpoint: 'reserve', estimate: 1000 + c}))
          }
        }
        level = next
      }
    }
  }
  flush()
  fs.closeSync(fd)
  return truth
}
