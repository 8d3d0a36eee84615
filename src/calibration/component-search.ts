// The limit search of one component (replay.ts components(): a tenant budget and the budgets below
// it, sharing no ledger with any other component). Components are independent, so calibrate() may
// run them in any order, on any thread (parallel-search.ts): each reads only its own budgets'
// allocations and writes only its own records' outcomes.
import {BIG, demandOf, rateOf} from './accounting.js'
import {LimitProbe} from './probe.js'
import type {ReplayLog} from './replay-log.js'
import {type BookLayout, type ReplayOutcome, replay} from './replay.js'
import {searchLimit} from './search.js'

export interface ComponentTask {
  /** Every budget of the component. */
  budgets: number[]
  /** The component's records, ascending. */
  records: Int32Array
  /** The eligible budgets, in search order (shallow first), and each one's own records. */
  targets: number[]
  own: Int32Array[]
}

export interface ComponentResult {
  /** Per target (same order as the task's): the suggested allocation and how it was found. */
  suggested: number[]
  method: string[]
  replays: number
  records_replayed: number
  /** Joint-validation rounds that re-searched a budget. */
  rounds: number
}

export interface SearchContext {
  log: ReplayLog
  layout: BookLayout
  held: Array<readonly number[]>
  /** Every budget's current allocation. */
  current: Float64Array
  target: number
  band: [number, number]
  maxRounds: number
}

/** The limit search for budget b over `records`, every other budget at `allocated` (probe.ts: exact, resumed replays). */
export function searchBudget(ctx: Pick<SearchContext, 'layout' | 'held' | 'target'>, log: ReplayLog, b: number, records: Int32Array, allocated: Float64Array, ceiling: number) {
  const probe = new LimitProbe(log, ctx.layout, records, b, allocated, ctx.held)
  const found = searchLimit((L, stopAbove) => probe.rate(L, stopAbove), ctx.target, ceiling)
  return {...found, replays: found.replays + 1, stepped: probe.stepped}
}

const methodOf = (m: 'target' | 'best_effort') => (m === 'target' ? 'replay_inversion' : 'replay_best_effort')

/** Search the component's targets and replay it with the suggestions into `final` (its records only). */
export function searchComponent(ctx: SearchContext, task: ComponentTask, final: ReplayOutcome): ComponentResult {
  const {log, layout, held} = ctx
  const out: ComponentResult = {suggested: [], method: [], replays: 0, records_replayed: 0, rounds: 0}
  // Only this component's entries are read or written: the other budgets never meet its records.
  const suggested = Float64Array.from(ctx.current)
  const run = () => {
    out.replays++
    out.records_replayed += task.records.length
    return replay(log, layout, {allocated: suggested, records: task.records, into: final, held})
  }
  const search = (b: number, records: Int32Array, allocated: Float64Array, own: Int32Array, i: number) => {
    const found = searchBudget(ctx, log, b, records, allocated, 2 * demandOf(log, own) + 1)
    out.replays += found.replays
    out.records_replayed += found.stepped
    suggested[b] = found.allocated
    out.suggested[i] = found.allocated
    out.method[i] = methodOf(found.method)
  }
  if (task.targets.length === 0) {
    run()
    return out
  }
  const inBand = (x: number) => x >= ctx.band[0] && x <= ctx.band[1]
  // 1. Each budget alone (every other budget unlimited): the limit its own traffic needs.
  const unlimited = Float64Array.from(ctx.current)
  for (const x of task.budgets) unlimited[x] = BIG
  task.targets.forEach((b, i) => search(b, task.own[i], unlimited, task.own[i], i))
  // 2. Jointly: replay with every suggestion and re-search the budgets outside the band, each with
  //    the others at their suggestions, until all land in the band (bounded rounds).
  for (let round = 0; round < ctx.maxRounds; round++) {
    const joint = run()
    const off = task.targets.flatMap((b, i) => (inBand(rateOf(log, layout, joint, task.own[i], b)) ? [] : [i]))
    if (off.length === 0) return out
    out.rounds = round + 1
    for (const i of off) search(task.targets[i], task.records, suggested, task.own[i], i)
  }
  run()
  return out
}
