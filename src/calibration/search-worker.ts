// Runs in a worker thread (parallel-search.ts): component searches on the replay log the main thread
// loaded. The log's columns and the joint outcome live in SharedArrayBuffers, so nothing large is
// copied: each component writes only its own records' outcomes.
import {parentPort, workerData} from 'node:worker_threads'

import {heldBudgets} from './book-replay.js'
import {type ComponentTask, type SearchContext, searchComponent} from './component-search.js'
import type {ReplayLog} from './replay-log.js'
import {type BudgetSpec, type ReplayOutcome, type TenantSpec, bookLayout} from './replay.js'

export interface SearchWorkerData {
  log: ReplayLog
  budgets: BudgetSpec[]
  tenants: TenantSpec[]
  current: Float64Array
  target: number
  band: [number, number]
  maxRounds: number
  final: ReplayOutcome
}

const data = workerData as SearchWorkerData
const layout = bookLayout(data.log, data.budgets, data.tenants)
const ctx: SearchContext = {log: data.log, layout, held: heldBudgets(layout), current: data.current, target: data.target, band: data.band, maxRounds: data.maxRounds}

parentPort!.on('message', (msg: {id: number; task: ComponentTask}) => {
  try {
    parentPort!.postMessage({id: msg.id, result: searchComponent(ctx, msg.task, data.final)})
  } catch (error) {
    parentPort!.postMessage({id: msg.id, error: (error as Error).stack ?? String(error)})
  }
})
