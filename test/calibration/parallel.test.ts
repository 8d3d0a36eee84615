// The limit search on worker threads (parallel-search.ts) against the single-threaded calibrate().
// Not in the mutation test set: the workers run the build (dist/src/calibration/search-worker.js),
// so `npm run build` first.
import os from 'node:os'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type CalibrationResult, calibrate} from '../../src/calibration/calibrate.js'
import {calibrateParallel, sharedLog, workerCount} from '../../src/calibration/parallel-search.js'
import {evaluateCalibrationGates, renderCalibrationJson} from '../../src/calibration/render.js'
import type {ReplayLog} from '../../src/calibration/replay-log.js'
import {bookLayout, components} from '../../src/calibration/replay.js'
import {HIERARCHY, type Simulated, cleanup, simulated, withPolicies} from './helpers.js'

let h: Simulated
let result: CalibrationResult
beforeAll(async () => {
  h = await simulated(HIERARCHY, withPolicies)
  result = calibrate({log: h.log, budgets: h.budgets, tenants: h.tenants})
}, 480_000)
afterAll(() => cleanup(h?.dir))

describe('calibrate on worker threads', () => {
  const json = (r: CalibrationResult) => renderCalibrationJson(r, evaluateCalibrationGates(r, []))
  /** The same log with every column in ordinary (unshared) memory. */
  const unshared = (log: ReplayLog): ReplayLog => {
    const out = {...log} as Record<string, unknown>
    for (const [k, v] of Object.entries(log)) if (ArrayBuffer.isView(v)) out[k] = (v as Uint8Array).slice()
    return out as unknown as ReplayLog
  }

  it('gives byte-identical JSON to the single-threaded search, on a log with several independent components', async () => {
    const layout = bookLayout(h.log, h.budgets, h.tenants)
    const searchable = components(h.log, layout).filter((c) => c.budgets.length > 0 && c.records.length > 0)
    expect(searchable.length).toBeGreaterThanOrEqual(3)
    // two workers at least, or the test would only compare the single-threaded path with itself
    expect(workerCount(searchable.length, 2)).toBe(2)
    const two = await calibrateParallel({log: h.log, budgets: h.budgets, tenants: h.tenants}, {threads: 2})
    expect(json(two)).toBe(json(result))
    // more threads than cores or components, and a log in unshared memory (copied to shared once)
    const many = await calibrateParallel({log: unshared(h.log), budgets: h.budgets, tenants: h.tenants}, {threads: 8})
    expect(json(many)).toBe(json(result))
    // with other options too: the estimate-corrected search and period scaling run after the merge
    const monthly = await calibrateParallel({log: h.log, budgets: h.budgets, tenants: h.tenants}, {threads: 2, periodDays: 30})
    expect(json(monthly)).toBe(json(calibrate({log: h.log, budgets: h.budgets, tenants: h.tenants}, {periodDays: 30})))
  }, 480_000)

  it('one thread runs on this thread, with the same result', async () => {
    const one = await calibrateParallel({log: h.log, budgets: h.budgets, tenants: h.tenants}, {threads: 1})
    expect(json(one)).toBe(json(result))
  }, 240_000)

  it('the loaded log is already in shared memory, so workers get it without a copy', () => {
    for (const column of [h.log.kind, h.log.group, h.log.estimate, h.log.actual, h.log.res, h.log.loggedDeniedLevel]) expect(column.buffer).toBeInstanceOf(SharedArrayBuffer)
    const copy = unshared(h.log)
    expect(copy.kind.buffer).not.toBeInstanceOf(SharedArrayBuffer)
    const shared = sharedLog(copy)
    expect(shared.kind.buffer).toBeInstanceOf(SharedArrayBuffer)
    expect([...shared.estimate]).toEqual([...h.log.estimate])
    expect(sharedLog(h.log).group).toBe(h.log.group)
  })

  it('worker count: min(threads, components, cores), 2 threads by default, never below 1', () => {
    expect(workerCount(5)).toBe(Math.min(2, os.availableParallelism()))
    expect(workerCount(1)).toBe(1)
    expect(workerCount(0, 4)).toBe(1)
    expect(workerCount(3, 1)).toBe(1)
    expect(workerCount(1000, 1000)).toBe(os.availableParallelism())
  })
})
