import fs from 'node:fs'
import path from 'node:path'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {type ReplayLog, loadReplayLog} from '../../src/calibration/replay-log.js'
import type {BudgetSpec, TenantSpec} from '../../src/calibration/replay.js'
import type {CyclesConfig} from '../../src/config/schema.js'
import {scenarioConfig} from '../../src/simulate/fleet.js'
import {simulateOffline} from '../../src/simulate/offline.js'
import type {Scenario} from '../../src/simulate/scenario.js'
import {buildTimeline} from '../../src/simulate/timeline.js'
import {tempDir} from '../support/daemon.js'

export const START = Date.parse('2026-11-02T00:00:00.000Z')

import {specsOf} from '../bench/hierarchy-fleet.js'

export {HIERARCHY, specsOf, withPolicies} from '../bench/hierarchy-fleet.js'

export interface Simulated {
  dir: string
  log: ReplayLog
  budgets: BudgetSpec[]
  tenants: TenantSpec[]
  config: CyclesConfig
  records: number
}

export async function simulated(s: Scenario, adjust?: (c: CyclesConfig) => CyclesConfig, rateFactor?: number): Promise<Simulated> {
  const dir = tempDir('cycles-calibrate-')
  const options = {start_ms: START, ...(rateFactor ? {rate_factor: rateFactor} : {})}
  const file = path.join(dir, 'decisions.jsonl')
  const stats = await simulateOffline(s, file, options, adjust)
  const sized = scenarioConfig(s, buildTimeline(s, options)).config
  const config = adjust ? adjust(sized) : sized
  const db = await openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
  try {
    await ingest(db, [file])
    const log = await loadReplayLog(db)
    return {dir, log, config, records: stats.records, ...specsOf(config)}
  } finally {
    db.close()
  }
}

export function cleanup(dir: string | undefined): void {
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
}
