// A scenario expanded into a time-ordered list of protocol calls (reserve / dry-run / decide /
// commit / release), the same for the offline simulator and the HTTP driver.
import type {Unit} from '../protocol/types.js'
import {Rng} from './prng.js'
import {type AgentSpec, DEFAULT_DAILY_SHAPE, type Scenario, tenantIds} from './scenario.js'

export interface Step {
  kind: 'reserve' | 'dry_run' | 'decide'
  t_ms: number
  estimate: number
  /** For a live reserve: commit (with actual) or release after `hold_ms`. */
  actual?: number
  release?: boolean
  hold_ms?: number
  action: {kind: string; name: string}
}

export interface Run {
  run_id: string
  parent_run_id?: string
  tenant: string
  workspace: string
  workflow?: string
  agent: string
  unit: Unit
  start_ms: number
  steps: Step[]
  incident?: string
}

export interface Timeline {
  start_ms: number
  end_ms: number
  runs: Run[]
}

export interface TimelineOptions {
  /** Override the scenario's start (ms) and length (days). */
  start_ms?: number
  days?: number
  /** Multiply every agent's run rate. */
  rate_factor?: number
}

const DAY = 86_400_000

function pickHour(rng: Rng, shape: number[], total: number): number {
  let x = rng.next() * total
  for (let h = 0; h < 24; h++) {
    x -= shape[h]
    if (x < 0) return h
  }
  return 23
}

function poisson(rng: Rng, mean: number): number {
  if (mean <= 0) return 0
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * rng.normal()))
  const l = Math.exp(-mean)
  let k = 0
  let p = 1
  do {
    k++
    p *= rng.next()
  } while (p > l)
  return k - 1
}

function ratioOf(rng: Rng, a: AgentSpec, dayIndex: number): number {
  const r = a.actual_ratio
  let ratio = rng.lognormal(r.median, r.sigma) * (1 + r.drift_per_day * dayIndex)
  if (r.tail_share > 0 && rng.chance(r.tail_share)) ratio *= r.tail_factor * (1 + rng.next())
  return Math.max(0, ratio)
}

function makeSteps(rng: Rng, a: AgentSpec, start: number, count: number, dayIndex: number, namePrefix = ''): Step[] {
  const steps: Step[] = []
  let t = start
  for (let i = 0; i < count; i++) {
    const estimate = Math.max(1, Math.round(rng.lognormal(a.estimate.median, a.estimate.sigma)))
    const hold = 500 + Math.round(rng.exponential(4_000))
    const x = rng.next()
    const action = {kind: a.action.kind, name: `${namePrefix}${a.action.name}`}
    if (x < a.dry_run_share) steps.push({kind: 'dry_run', t_ms: t, estimate, action})
    else if (x < a.dry_run_share + a.decide_share) steps.push({kind: 'decide', t_ms: t, estimate, action})
    else {
      const release = rng.chance(a.release_share)
      steps.push({kind: 'reserve', t_ms: t, estimate, hold_ms: hold, action, ...(release ? {release: true} : {actual: Math.round(estimate * ratioOf(rng, a, dayIndex))})})
    }
    t += hold + 200 + Math.round(rng.exponential(3_000))
  }
  return steps
}

export function buildTimeline(s: Scenario, options: TimelineOptions = {}): Timeline {
  const rng = new Rng(s.seed)
  const days = options.days ?? s.days
  const start = options.start_ms ?? (s.start ? Date.parse(s.start) : Math.floor(Date.now() / DAY) * DAY - Math.ceil(days) * DAY)
  if (Number.isNaN(start)) throw new Error(`scenario start is not a date: ${s.start}`)
  const end = start + days * DAY
  const shape = s.daily_shape ?? DEFAULT_DAILY_SHAPE
  const shapeTotal = shape.reduce((x, y) => x + y, 0)
  const tenants = tenantIds(s)
  const runs: Run[] = []
  let seq = 0
  // Run ids are unique per simulated window, so two simulations never merge their runs.
  const epoch = Math.floor(start / 60_000).toString(36)
  const runId = (tenant: string) => `${tenant}-${epoch}-r${(++seq).toString(36)}`

  for (const tenant of tenants) {
    for (const a of s.agents) {
      if (a.tenants && !a.tenants.includes(tenant)) continue
      const arng = rng.fork(`${tenant}/${a.name}`)
      const base = {tenant, workspace: a.workspace, ...(a.workflow ? {workflow: a.workflow} : {}), agent: a.name, unit: a.unit}
      for (let day = 0; day < Math.ceil(days); day++) {
        const dayStart = start + day * DAY
        const weekday = new Date(dayStart).getUTCDay()
        const factor = (weekday === 0 || weekday === 6 ? s.weekend_factor : 1) * (options.rate_factor ?? 1) * Math.min(1, days - day)
        const n = poisson(arng, a.runs_per_day * factor)
        for (let i = 0; i < n; i++) {
          const offset = days < 1 ? arng.next() * days * DAY : (pickHour(arng, shape, shapeTotal) + arng.next()) * 3_600_000
          const t0 = Math.floor(dayStart + offset)
          if (t0 >= end) continue
          const steps = makeSteps(arng, a, t0, arng.int(a.steps[0], a.steps[1]), day)
          const run: Run = {...base, run_id: runId(tenant), start_ms: t0, steps}
          runs.push(run)
          if (a.delegate && arng.chance(a.delegate.share)) {
            const kids = arng.int(a.delegate.children[0], a.delegate.children[1])
            for (let k = 0; k < kids; k++) {
              const ks = t0 + 1_000 + k * 500
              runs.push({...base, run_id: runId(tenant), parent_run_id: run.run_id, start_ms: ks, steps: makeSteps(arng, a, ks, arng.int(1, 3), day, 'sub-')})
            }
          }
        }
      }
    }
  }

  s.incidents.forEach((inc, index) => {
    if (inc.type !== 'retry_loop' && inc.type !== 'fanout') return
    const a = s.agents.find((x) => x.name === inc.agent)
    if (!a) throw new Error(`incident ${index}: unknown agent ${inc.agent}`)
    if (!tenants.includes(inc.tenant)) throw new Error(`incident ${index}: unknown tenant ${inc.tenant}`)
    const irng = rng.fork(`incident-${index}`)
    const base = {tenant: inc.tenant, workspace: a.workspace, ...(a.workflow ? {workflow: a.workflow} : {}), agent: a.name, unit: a.unit}
    const t0 = Math.floor(start + Math.min(inc.day * DAY + inc.hour * 3_600_000, Math.max(0, end - start - 3_600_000)))
    if (inc.type === 'retry_loop') {
      // The same call, `count` times in `seconds`: retried after failing (reserve, release, again) or,
      // with outcome commit, succeeding without progress (each attempt commits its actual cost).
      const estimate = Math.round(a.estimate.median)
      const gap = (inc.seconds * 1000) / inc.count
      const steps: Step[] = Array.from({length: inc.count}, (_, i) => ({
        kind: 'reserve' as const,
        t_ms: Math.floor(t0 + i * gap),
        estimate,
        hold_ms: Math.max(50, Math.floor(gap / 2)),
        ...(inc.outcome === 'commit' ? {actual: Math.round(estimate * ratioOf(irng, a, inc.day))} : {release: true}),
        action: {...a.action},
      }))
      runs.push({...base, run_id: `${inc.tenant}-${epoch}-loop-${index}`, start_ms: t0, steps, incident: 'retry_loop'})
    } else {
      // A parent spawning `children` runs per level, `levels` deep.
      const root = `${inc.tenant}-${epoch}-fanout-${index}`
      runs.push({...base, run_id: root, start_ms: t0, steps: makeSteps(irng, a, t0, 1, 0), incident: 'fanout'})
      let level = [root]
      for (let depth = 1; depth <= inc.levels; depth++) {
        const next: string[] = []
        for (const parent of level) {
          for (let c = 0; c < inc.children; c++) {
            const child = `${parent}.${c}`
            const ts = t0 + depth * 2_000 + c * 100
            runs.push({...base, run_id: child, parent_run_id: parent, start_ms: ts, steps: makeSteps(irng, a, ts, 1, 0, 'sub-'), incident: 'fanout'})
            next.push(child)
          }
        }
        level = next
      }
    }
  })
  runs.sort((x, y) => x.start_ms - y.start_ms || (x.run_id < y.run_id ? -1 : 1))
  return {start_ms: start, end_ms: end, runs}
}

/** Flattened calls in time order: each step, and the commit/release that follows a live reserve. */
export interface Call {
  t_ms: number
  run: Run
  step: Step
  phase: 'open' | 'close'
}

export function callsOf(timeline: Timeline): Call[] {
  const calls: Call[] = []
  for (const run of timeline.runs) {
    for (const step of run.steps) {
      calls.push({t_ms: step.t_ms, run, step, phase: 'open'})
      if (step.kind === 'reserve') calls.push({t_ms: step.t_ms + (step.hold_ms ?? 1000), run, step, phase: 'close'})
    }
  }
  calls.sort((a, b) => a.t_ms - b.t_ms || (a.phase === b.phase ? 0 : a.phase === 'close' ? -1 : 1))
  return calls
}
