// The README's main job, in one command: simulate two weeks of a mid-size fleet offline, start the
// daemon on the embedded store, drive a short live burst through it over HTTP, ingest both decision
// logs into DuckDB and print the shadow report. Nothing else to install.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {openShadowDb} from '../analytics/db.js'
import {type IngestResult, ingest} from '../analytics/ingest.js'
import {renderReportText} from '../analytics/render.js'
import {type Report, buildReport} from '../analytics/report.js'
import {Daemon} from '../daemon/daemon.js'
import {scenarioConfig} from '../simulate/fleet.js'
import {type DriveStats, driveHttp} from '../simulate/http.js'
import {type SimulationStats, simulateOffline} from '../simulate/offline.js'
import {loadScenario} from '../simulate/scenario.js'
import {buildTimeline} from '../simulate/timeline.js'

export interface DemoOptions {
  scenario: string
  dir?: string
  /** Live burst: simulated minutes and rate multiplier (sent as fast as the daemon answers). */
  burstMinutes?: number
  burstRateFactor?: number
  log?: (line: string) => void
}

export interface DemoResult {
  dir: string
  db: string
  offline: SimulationStats
  live: DriveStats & {log_dir: string}
  ingest: IngestResult
  report: Report
  seconds: number
}

export async function runShadowDemo(options: DemoOptions): Promise<DemoResult> {
  const started = performance.now()
  const log = options.log ?? (() => {})
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-demo-'))
  fs.mkdirSync(dir, {recursive: true})
  const scenario = loadScenario(options.scenario)
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`

  log(`1/4 simulating ${scenario.days} days of ${scenario.name} offline (simulated clock, the daemon's own evaluator and shadow ledger)…`)
  const offlineFile = path.join(dir, 'offline', 'decisions.jsonl')
  const offline = await simulateOffline(scenario, offlineFile)
  log(`    ${offline.records.toLocaleString('en-US')} records, ${offline.runs.toLocaleString('en-US')} runs, ${offline.tenants} tenants, ${offline.budgets} budgets → ${offlineFile} [${elapsed()}]`)

  log('2/4 starting the daemon (embedded store) and driving a live burst over HTTP…')
  const burst = {start_ms: Date.now(), days: (options.burstMinutes ?? 3) / 1440, rate_factor: options.burstRateFactor ?? 400}
  const {config} = scenarioConfig(scenario, buildTimeline(scenario, burst))
  const logDir = path.join(dir, 'live')
  const daemon = await Daemon.start({config, port: 0, logDir, stateDir: path.join(dir, 'state'), fsyncIntervalMs: 1000})
  let live: DriveStats
  try {
    live = await driveHttp(scenario, {...burst, url: daemon.url, speed: 0, concurrency: 16})
  } finally {
    await daemon.stop()
  }
  log(`    ${live.calls.toLocaleString('en-US')} calls to ${daemon.url} in ${live.seconds.toFixed(1)} s (${live.calls_per_second}/s), decision log in ${logDir} [${elapsed()}]`)

  log('3/4 ingesting both decision logs into DuckDB…')
  const dbPath = path.join(dir, 'shadow.duckdb')
  const db = await openShadowDb(dbPath, {create: true})
  let ingested: IngestResult
  let report: Report
  try {
    ingested = await ingest(db, [offlineFile, logDir])
    log(`    ${ingested.ingested.toLocaleString('en-US')} records from ${ingested.files} files, ${ingested.malformed} malformed → ${dbPath} [${elapsed()}]`)
    log('4/4 building the report…')
    report = await buildReport(db, {})
  } finally {
    db.close()
  }
  return {dir, db: dbPath, offline, live: {...live, log_dir: logDir}, ingest: ingested, report, seconds: (performance.now() - started) / 1000}
}

export function demoText(result: DemoResult, color: boolean): string {
  const report = renderReportText(result.report, {color, limit: 60, violations: []})
  const next = [
    '',
    `Done in ${result.seconds.toFixed(1)} s. Everything is in ${result.dir}; try:`,
    `  node bin/run.js shadow report --db ${result.db} --by workflow`,
    `  node bin/run.js shadow report --db ${result.db} --format markdown --fail-on too_tight,loops,fanout`,
    `  node bin/run.js shadow ingest --db ${result.db} ${result.live.log_dir}     # again: adds nothing`,
    '',
  ]
  return `\n${report}${next.join('\n')}`
}
