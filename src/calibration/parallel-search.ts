// calibrate() with the component searches on worker threads: components share no ledger, so each is
// searched on its own (component-search.ts) and the results are merged in component order, giving
// byte-for-byte the single-threaded result whatever the thread count or scheduling. The replay log's
// columns and the joint outcome are SharedArrayBuffer-backed, so workers read and write them in place.
import fs from 'node:fs'
import os from 'node:os'
import {fileURLToPath} from 'node:url'
import {Worker} from 'node:worker_threads'

import {type CalibrationInput, type CalibrationOptions, type CalibrationResult, finishCalibration, planCalibration} from './calibrate.js'
import {type ComponentResult, searchComponent} from './component-search.js'
import {type ReplayLog, type Typed, type TypedCtor, sharedArray} from './replay-log.js'
import type {ReplayOutcome} from './replay.js'
import type {SearchWorkerData} from './search-worker.js'

function toShared<T extends Typed>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a
  const s = sharedArray(a.constructor as TypedCtor<T>, a.length)
  s.set(a as never)
  return s
}

/** The log with every column in shared memory (loadReplayLog already loads it so: then nothing is copied). */
export function sharedLog(log: ReplayLog): ReplayLog {
  const out = {...log} as Record<string, unknown>
  for (const [k, v] of Object.entries(log)) if (ArrayBuffer.isView(v)) out[k] = toShared(v as Typed)
  return out as unknown as ReplayLog
}

function sharedOutcome(n: number): ReplayOutcome {
  return {
    deny: sharedArray(Uint8Array, n),
    reason: sharedArray(Uint8Array, n),
    deniedBudget: sharedArray(Int32Array, n).fill(-1),
    deniedLevel: sharedArray(Int8Array, n).fill(-1),
    known: sharedArray(Uint8Array, n),
    ledgers: [],
  }
}

function workerUrl(): URL {
  const sibling = new URL('./search-worker.js', import.meta.url)
  if (fs.existsSync(fileURLToPath(sibling))) return sibling
  // Under the test runner this module is the TypeScript source: the worker runs its build.
  return new URL('../../dist/src/calibration/search-worker.js', import.meta.url)
}

/** Workers used for `searchable` components: min(threads ?? 2, searchable, cores). */
export function workerCount(searchable: number, threads?: number): number {
  return Math.max(1, Math.min(threads ?? 2, searchable, os.availableParallelism()))
}

/** calibrate() with the limit search on `opts.threads` worker threads (default: workerCount); same result as calibrate(). */
export async function calibrateParallel(input: CalibrationInput, opts: Partial<CalibrationOptions> = {}): Promise<CalibrationResult> {
  const log = sharedLog(input.log)
  const plan = planCalibration({...input, log}, opts)
  const final = sharedOutcome(log.n)
  const threads = workerCount(plan.tasks.filter((t) => t.targets.length > 0).length, opts.threads)
  if (threads <= 1) return finishCalibration(plan, plan.tasks.map((task) => searchComponent(plan.ctx, task, final)), final)
  const data: SearchWorkerData = {log, budgets: input.budgets, tenants: input.tenants, current: plan.ctx.current, target: plan.o.target, band: plan.o.band, maxRounds: plan.o.maxRounds, final}
  // Largest first, each to the next free worker; results land by component index, so order is moot.
  const order = plan.tasks.map((_, t) => t).sort((a, b) => cost(plan.tasks[b]) - cost(plan.tasks[a]) || a - b)
  const results: ComponentResult[] = new Array(plan.tasks.length)
  const workers = Array.from({length: threads}, () => new Worker(workerUrl(), {workerData: data}))
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const next = () => {
              const t = order.shift()
              if (t === undefined) return resolve()
              worker.postMessage({id: t, task: plan.tasks[t]})
            }
            worker.on('message', (msg: {id: number; result?: ComponentResult; error?: string}) => {
              if (msg.error !== undefined) return reject(new Error(`calibration worker: ${msg.error}`))
              results[msg.id] = msg.result!
              next()
            })
            worker.on('error', reject)
            worker.on('exit', (code) => reject(new Error(`calibration worker exited (${code}) before finishing`)))
            next()
          }),
      ),
    )
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
  return finishCalibration(plan, results, final)
}

const cost = (task: {records: Int32Array; targets: number[]}) => (task.targets.length === 0 ? 0 : task.records.length * (task.targets.length + 1))
