// Acceptance, end to end: traffic through a real daemon in shadow mode → ingest → calibrate
// --write-config → the same traffic, in the same order, through a fresh daemon started with the
// written config. The second daemon's logged would-be denial rates are what calibrate predicted.
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import type {CalibrationResult} from '../../src/calibration/calibrate.js'
import {loadReplayLog} from '../../src/calibration/replay-log.js'
import {bookLayout} from '../../src/calibration/replay.js'
import {runCalibrate} from '../../src/calibration/run.js'
import {parseConfig} from '../../src/config/load.js'
import {scenarioConfig} from '../../src/simulate/fleet.js'
import {driveHttp} from '../../src/simulate/http.js'
import {buildTimeline} from '../../src/simulate/timeline.js'
import {startTestDaemon, tempDir} from '../support/daemon.js'
import {HIERARCHY, START, specsOf, withPolicies} from './helpers.js'

const DAYS = 1.5

/** Per budget: would-be denials / attempts, from a daemon's own log. */
async function measuredRates(logDir: string, dbFile: string, configText: string): Promise<Map<string, {requests: number; rate: number}>> {
  const db = await openShadowDb(dbFile, {create: true, threads: 1, memoryLimit: '256MB'})
  try {
    await ingest(db, [logDir])
    const log = await loadReplayLog(db)
    const {budgets, tenants} = specsOf(parseConfig(configText))
    const layout = bookLayout(log, budgets, tenants)
    const out = new Map<string, {requests: number; rate: number}>()
    budgets.forEach((b, i) => {
      let requests = 0
      let denied = 0
      for (let r = 0; r < log.n; r++) {
        if (log.kind[r] > 2 || !layout.slots[log.group[r]].includes(i)) continue
        requests++
        denied += log.loggedDeny[r]
      }
      out.set(`${b.scope} ${b.unit}`, {requests, rate: requests > 0 ? denied / requests : 0})
    })
    return out
  } finally {
    db.close()
  }
}

describe('calibrate end to end through real daemons', () => {
  const dir = tempDir('cycles-calibrate-e2e-')
  const configFile = path.join(dir, 'cycles.yaml')
  const calibratedFile = path.join(dir, 'cycles.calibrated.yaml')
  let result: CalibrationResult
  let configText: string
  let measured: Map<string, {requests: number; rate: number}>

  beforeAll(async () => {
    const options = {start_ms: START, days: DAYS}
    const config = withPolicies(scenarioConfig(HIERARCHY, buildTimeline(HIERARCHY, options)).config)
    const {tiers: _tiers, ...rest} = config
    configText = `# Daemon config for the calibration acceptance test.\n# Comments and key order must survive --write-config.\n${YAML.stringify(rest)}`
    fs.writeFileSync(configFile, configText)

    const first = await startTestDaemon(configText, {}, path.join(dir, 'a'))
    try {
      await driveHttp(HIERARCHY, {...options, url: first.url, speed: 0, concurrency: 1})
    } finally {
      await first.stop()
    }
    const dbFile = path.join(dir, 'shadow.duckdb')
    const seed = await openShadowDb(dbFile, {create: true, threads: 1, memoryLimit: '256MB'})
    await ingest(seed, [first.logDir])
    seed.close()
    ;({result} = await runCalibrate({db: dbFile, config: configFile, filter: {}, options: {}, format: 'json', output: path.join(dir, 'calibration.json'), writeConfig: calibratedFile}))

    const second = await startTestDaemon(fs.readFileSync(calibratedFile, 'utf8'), {}, path.join(dir, 'b'))
    try {
      await driveHttp(HIERARCHY, {...options, url: second.url, speed: 0, concurrency: 1})
    } finally {
      await second.stop()
    }
    measured = await measuredRates(second.logDir, path.join(dir, 'second.duckdb'), fs.readFileSync(calibratedFile, 'utf8'))
  }, 900_000)
  afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

  it('--write-config replaces only the calibrated allocations; comments and order are kept', () => {
    const written = fs.readFileSync(calibratedFile, 'utf8')
    expect(written.startsWith('# Daemon config for the calibration acceptance test.\n# Comments and key order must survive --write-config.\n')).toBe(true)
    const before = YAML.parse(configText)
    const after = YAML.parse(written)
    expect(Object.keys(after)).toEqual(Object.keys(before))
    expect(after.tenants).toEqual(before.tenants)
    expect(after.api_keys).toEqual(before.api_keys)
    const calibrated = new Map(result.budgets.filter((b) => b.status === 'calibrated').map((b) => [`${b.scope} ${b.unit}`, b.suggested_allocated]))
    expect(calibrated.size).toBe(before.budgets.length)
    after.budgets.forEach((b: {scope: string; unit: string; allocated: number}, i: number) => {
      expect(Object.keys(b)).toEqual(Object.keys(before.budgets[i]))
      expect(b.allocated).toBe(calibrated.get(`${b.scope} ${b.unit}`))
    })
  })

  it('at least 90 % of the budgets with enough data land in the band, and each measured rate equals the prediction (± 0.1 pp)', () => {
    const calibrated = result.budgets.filter((b) => b.status === 'calibrated')
    expect(calibrated.length).toBeGreaterThanOrEqual(10)
    let inBand = 0
    for (const b of calibrated) {
      const m = measured.get(`${b.scope} ${b.unit}`)!
      expect(m.requests, b.scope).toBe(b.requests)
      expect(Math.abs(m.rate - b.suggested_denial_rate!), `${b.scope} ${b.unit}: measured ${m.rate}, predicted ${b.suggested_denial_rate}`).toBeLessThanOrEqual(0.001)
      if (m.rate >= 0.01 && m.rate <= 0.03) inBand++
    }
    expect(inBand / calibrated.length).toBeGreaterThanOrEqual(0.9)
    // not vacuous: with the original limits the rates would differ from the prediction by more than 0.1 pp
    const moved = calibrated.filter((b) => Math.abs(b.current_denial_rate - b.suggested_denial_rate!) > 0.001)
    expect(moved.length).toBeGreaterThanOrEqual(calibrated.length / 2)
  })
})
