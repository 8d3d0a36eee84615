// Steady live traffic of one tier's agents for the demo's rollout steps: the scenario's own runs of
// the agents whose action the daemon classifies into that tier, driven over HTTP (the simulator's
// driver) one simulated chunk after another, paced to a request rate, until stopped. Simulated time
// moves on chunk by chunk, so every chunk brings new runs (the enforcement ramp buckets by run).
import type {CyclesConfig} from '../config/schema.js'
import {TierClassifier} from '../evaluator/tiers.js'
import type {Tier} from '../protocol/types.js'
import {type DriveStats, driveHttp} from '../simulate/http.js'
import type {Scenario} from '../simulate/scenario.js'
import {buildTimeline} from '../simulate/timeline.js'

const DAY = 86_400_000
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)))

export interface TierTraffic {
  agents: string[]
  /** Simulated seconds per wall second. */
  speed: number
  calls: () => number
  by_status: Record<string, number>
  stop: () => Promise<void>
}

/** The scenario reduced to the agents of one tier (incidents dropped: they name other agents). */
export function tierScenario(scenario: Scenario, tiers: CyclesConfig['tiers'], tier: Tier): Scenario {
  const classifier = new TierClassifier(tiers)
  return {...scenario, agents: scenario.agents.filter((a) => classifier.classify(a.action.kind) === tier), incidents: []}
}

/** Live requests (reserve, dry-run, decide) per simulated weekday, averaged over five from `startMs`. */
function requestsPerDay(s: Scenario, startMs: number): number {
  const week = buildTimeline(s, {start_ms: startMs, days: 5})
  return week.runs.reduce((n, r) => n + r.steps.length, 0) / 5
}

/** The coming Monday, 00:00 UTC: simulated time starts on a weekday whatever the calendar says, so the rate holds for days. */
export function nextMonday(nowMs: number): number {
  const day = Math.floor(nowMs / DAY) * DAY
  const weekday = new Date(day).getUTCDay()
  return day + (((8 - weekday) % 7) || 7) * DAY
}

export function startTierTraffic(scenario: Scenario, tiers: CyclesConfig['tiers'], tier: Tier, o: {url: string; requestsPerSecond: number; chunkSeconds?: number}): TierTraffic {
  const s = tierScenario(scenario, tiers, tier)
  let simMs = nextMonday(Date.now())
  const perDay = s.agents.length === 0 ? 0 : requestsPerDay(s, simMs)
  const speed = perDay > 0 ? Math.max(1, Math.round((o.requestsPerSecond * 86_400) / perDay)) : 1
  const chunkDays = ((o.chunkSeconds ?? 1) * speed * 1000) / DAY
  const totals: Record<string, number> = {}
  let calls = 0
  let running = s.agents.length > 0
  let failure: unknown
  const add = (d: DriveStats) => {
    calls += d.calls
    for (const [k, v] of Object.entries(d.by_status)) totals[k] = (totals[k] ?? 0) + v
  }
  // A chunk starts every chunkSeconds whether or not the previous one has finished (its slowest run
  // may lag on a loaded machine), so the pace holds; a failure stops the loop and surfaces in stop().
  const inFlight = new Set<Promise<void>>()
  const chunkMs = (o.chunkSeconds ?? 1) * 1000
  const loop = (async () => {
    let next = Date.now()
    while (running) {
      const chunk = driveHttp(s, {url: o.url, start_ms: simMs, days: chunkDays, speed, concurrency: 8}).then(add, (error: unknown) => {
        failure ??= error
        running = false
      })
      inFlight.add(chunk)
      void chunk.finally(() => inFlight.delete(chunk))
      simMs += chunkDays * DAY
      next += chunkMs
      await sleep(next - Date.now())
    }
    await Promise.all([...inFlight])
  })()
  return {
    agents: s.agents.map((a) => a.name),
    speed,
    calls: () => calls,
    by_status: totals,
    stop: async () => {
      running = false
      await loop
      if (failure) throw failure
    },
  }
}
