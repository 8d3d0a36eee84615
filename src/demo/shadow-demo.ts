// The README's main job, in one command: simulate two weeks of a mid-size fleet offline, start the
// daemon on the embedded store, drive a short live burst through it over HTTP, ingest both decision
// logs into DuckDB, print the shadow report, calibrate the offline fortnight's budgets by replay
// (the limits written into a copy of the fleet's daemon config), then plan the rollout, apply its
// first enforce step through a gate, and watch the guard undo a planted regression
// (rollout-demo.ts). Nothing else to install.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import YAML from 'yaml'

import {openShadowDb} from '../analytics/db.js'
import {type IngestResult, ingest} from '../analytics/ingest.js'
import {renderReportText} from '../analytics/render.js'
import {type Report, buildReport} from '../analytics/report.js'
import {runReport} from '../analytics/run.js'
import {renderCalibrationHtml} from '../analytics/html/calibrate.js'
import type {CalibrationResult} from '../calibration/calibrate.js'
import {renderLoopLines} from '../calibration/quota-suggest.js'
import {runCalibrate} from '../calibration/run.js'
import {Daemon} from '../daemon/daemon.js'
import {scenarioConfig} from '../simulate/fleet.js'
import {type DriveStats, driveHttp} from '../simulate/http.js'
import {type SimulationStats, simulateOffline} from '../simulate/offline.js'
import {loadScenario} from '../simulate/scenario.js'
import {buildTimeline} from '../simulate/timeline.js'
import {type RolloutDemoResult, runRolloutDemo} from './rollout-demo.js'

export interface DemoOptions {
  scenario: string
  dir?: string
  /** Live burst: simulated minutes and rate multiplier (sent as fast as the daemon answers). */
  burstMinutes?: number
  burstRateFactor?: number
  /** Steps 6–8 (plan, first enforce step, guard); default on. */
  rollout?: boolean
  log?: (line: string) => void
}

export type DemoStep = 'simulate' | 'live' | 'ingest' | 'report' | 'calibrate' | 'plan' | 'enforce' | 'guard'

export interface DemoResult {
  dir: string
  db: string
  offline: SimulationStats
  live: DriveStats & {log_dir: string}
  ingest: IngestResult
  report: Report
  calibration: {result: CalibrationResult; db: string; config: string; calibrated_config: string; json: string}
  rollout: RolloutDemoResult | null
  /** The HTML reports (shadow report of both logs; calibration of the offline fortnight). */
  html: {report: string; calibration: string}
  /** Wall-clock seconds of each step, and in all. */
  step_seconds: Partial<Record<DemoStep, number>>
  seconds: number
}

export async function runShadowDemo(options: DemoOptions): Promise<DemoResult> {
  const started = performance.now()
  const log = options.log ?? (() => {})
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-demo-'))
  fs.mkdirSync(dir, {recursive: true})
  const scenario = loadScenario(options.scenario)
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`
  const stepSeconds: DemoResult['step_seconds'] = {}
  let mark = performance.now()
  const lap = (step: DemoStep) => {
    const now = performance.now()
    stepSeconds[step] = (now - mark) / 1000
    mark = now
  }
  const total = options.rollout === false ? 5 : 8

  log(`1/${total} simulating ${scenario.days} days of ${scenario.name} offline (simulated clock, the daemon's own evaluator and shadow ledger)…`)
  const offlineFile = path.join(dir, 'offline', 'decisions.jsonl')
  const offline = await simulateOffline(scenario, offlineFile)
  lap('simulate')
  log(`    ${offline.records.toLocaleString('en-US')} records, ${offline.runs.toLocaleString('en-US')} runs, ${offline.tenants} tenants, ${offline.budgets} budgets → ${offlineFile} [${elapsed()}]`)

  log(`2/${total} starting the daemon (embedded store) and driving a live burst over HTTP…`)
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
  lap('live')
  log(`    ${live.calls.toLocaleString('en-US')} calls to ${daemon.url} in ${live.seconds.toFixed(1)} s (${live.calls_per_second}/s), decision log in ${logDir} [${elapsed()}]`)

  log(`3/${total} ingesting both decision logs into DuckDB…`)
  const dbPath = path.join(dir, 'shadow.duckdb')
  const db = await openShadowDb(dbPath, {create: true})
  let ingested: IngestResult
  let report: Report
  try {
    ingested = await ingest(db, [offlineFile, logDir])
    lap('ingest')
    log(`    ${ingested.ingested.toLocaleString('en-US')} records from ${ingested.files} files, ${ingested.malformed} malformed → ${dbPath} [${elapsed()}]`)
    log(`4/${total} building the report…`)
    report = await buildReport(db, {})
  } finally {
    db.close()
  }
  // The same report as a page with charts (the planted loop on the timeline, budgets running out).
  const reportHtml = path.join(dir, 'shadow-report.html')
  await runReport(dbPath, {format: 'html', output: reportHtml})
  log(`    HTML report → ${reportHtml}`)
  lap('report')

  // Calibration replays one log against the allocations it ran with: the offline fortnight and the
  // fleet config it was simulated with (the same sizing simulateOffline used), in a database of its own.
  log(`5/${total} calibrating the offline fortnight: each budget's limit found by replaying the log through the evaluator…`)
  const configFile = path.join(dir, 'cycles.yaml')
  const {tiers: _tiers, ...fleetConfig} = scenarioConfig(scenario, buildTimeline(scenario, {})).config
  fs.writeFileSync(configFile, `# The demo fleet's daemon config (budgets sized for the offline simulation).\n${YAML.stringify(fleetConfig)}`)
  const calibrationJson = path.join(dir, 'calibration.json')
  const calibrationDb = path.join(dir, 'calibrate.duckdb')
  const calDb = await openShadowDb(calibrationDb, {create: true})
  try {
    await ingest(calDb, [offlineFile])
  } finally {
    calDb.close()
  }
  const calibratedConfig = path.join(dir, 'cycles.calibrated.yaml')
  const {result, gates} = await runCalibrate({db: calibrationDb, config: configFile, filter: {}, options: {}, format: 'json', output: calibrationJson, writeConfig: calibratedConfig})
  // The JSON run computed the series and curves: the page renders the same result.
  const calibrationHtml = path.join(dir, 'calibration.html')
  fs.writeFileSync(calibrationHtml, await renderCalibrationHtml(result, gates))
  const calibrated = result.budgets.filter((b) => b.status === 'calibrated')
  const [low, high] = result.band
  const inBand = calibrated.filter((b) => b.suggested_denial_rate !== null && b.suggested_denial_rate >= low && b.suggested_denial_rate <= high).length
  log(`    ${calibrated.length} of ${result.budgets.length} budgets calibrated (${inBand} land in the ${low * 100}–${high * 100} % band jointly), ${result.replay.replays.toLocaleString('en-US')} replays → ${calibratedConfig} [${elapsed()}]`)
  const quotas = result.action_quotas
  if (quotas) {
    const t = quotas.totals
    log(`    action quotas by replay: the suggested quotas stop ${t.loops_stopped} of ${t.loops} flagged loop(s) (${t.loops_stopped_per_run} by a per_run quota) and deny ${t.normal_runs_denied} of ${t.normal_runs.toLocaleString('en-US')} normal runs`)
    // Which quota stops each loop, and why per_run cannot stop one that releases every attempt.
    for (const line of renderLoopLines(quotas)) log(`  ${line}`)
  }
  log(`    HTML calibration report → ${calibrationHtml}`)
  lap('calibrate')

  let rollout: RolloutDemoResult | null = null
  if (options.rollout !== false) {
    rollout = await runRolloutDemo({dir, scenario, fleetConfig, calibrationFile: calibrationJson, log, elapsed})
    stepSeconds.plan = rollout.seconds.plan
    stepSeconds.enforce = rollout.seconds.enforce
    stepSeconds.guard = rollout.seconds.guard
  }
  return {
    dir,
    db: dbPath,
    offline,
    live: {...live, log_dir: logDir},
    ingest: ingested,
    report,
    calibration: {result, db: calibrationDb, config: configFile, calibrated_config: calibratedConfig, json: calibrationJson},
    rollout,
    html: {report: reportHtml, calibration: calibrationHtml},
    step_seconds: stepSeconds,
    seconds: (performance.now() - started) / 1000,
  }
}

export function demoText(result: DemoResult, color: boolean): string {
  const report = renderReportText(result.report, {color, limit: 60, violations: []})
  const times = Object.entries(result.step_seconds).map(([step, sec]) => `${step} ${sec.toFixed(1)}`).join(', ')
  const next = [
    '',
    ...rolloutSummary(result.rollout),
    `HTML reports (open in a browser; self-contained, no network): ${result.html.report} and ${result.html.calibration}`,
    `Done in ${result.seconds.toFixed(1)} s (${times} s). Everything is in ${result.dir}; try:`,
    `  node bin/run.js shadow report --db ${result.db} --by workflow`,
    `  node bin/run.js shadow report --db ${result.db} --format markdown --fail-on too_tight,loops,fanout`,
    `  node bin/run.js shadow ingest --db ${result.db} ${result.live.log_dir}     # again: adds nothing`,
    `  node bin/run.js calibrate --db ${result.calibration.db} --config ${result.calibration.config}     # the limits, verdicts and commands`,
    `  node bin/run.js daemon start --config ${result.calibration.calibrated_config}     # the fleet with calibrated limits`,
    ...rolloutCommands(result),
    '',
  ]
  return `\n${report}${next.join('\n')}`
}

function rolloutSummary(r: RolloutDemoResult | null): string[] {
  if (!r) return []
  const enforced = r.enforced?.step
  const lines = [`Rollout: plan ${r.plan.plan_id} (${r.plan.steps} steps for ${r.plan.tiers.join(', ')}).`]
  if (enforced && enforced.kind === 'enforce') lines.push(`  step ${enforced.step}: tier ${enforced.tier} enforced at ${enforced.enforce_percent} % with its gate passed.`)
  else lines.push('  no tier was enforced (see above why).')
  const g = r.guard
  if (g) lines.push(g.tripped ? `  guard: ${r.tier} back in shadow by itself ${g.seconds_after_cut!.toFixed(1)} s after its budgets were cut to a tenth.` : `  guard: no trip within the demo's wait; ${r.tier} is ${g.tier?.mode ?? 'unknown'}.`)
  return [...lines, '']
}

function rolloutCommands(result: DemoResult): string[] {
  const r = result.rollout
  if (!r) return []
  const cal = result.calibration.json
  return [
    `  node bin/run.js rollout plan --calibration ${cal}     # the plan with the default dwell (24h) and ramp (10,50,100)`,
    `  node bin/run.js daemon start --config ${r.config} --state-dir ${r.state_dir} --admin-port 7979     # the rollout daemon again, where the demo left it`,
    `  CYCLES_ADMIN_API_KEY=$(grep admin_key ${r.config} | cut -d' ' -f2) node bin/run.js rollout status     # then, in another shell: modes, baselines, the guard's trip`,
    `  node bin/run.js rollout apply ${r.plan.file} --dry-run     # (same key) the next step's gate`,
  ]
}
