// What `cycles simulate` calls: load the scenario, apply overrides, run offline or over HTTP.
import {CliError, EXIT} from '../cli/errors.js'
import {type DriveStats, driveHttp} from './http.js'
import {type SimulationStats, simulateOffline} from './offline.js'
import {loadScenario} from './scenario.js'
import type {TimelineOptions} from './timeline.js'

export interface SimulateFlags {
  scenario: string
  out?: string
  url?: string
  'api-key'?: string
  tenant?: string
  seed?: number
  days?: string
  minutes?: number
  start?: string
  'rate-factor'?: string
  speed?: string
  concurrency?: number
}

function positive(value: string | undefined, flag: string, allowZero = false): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new CliError('USAGE', `${flag}: expected a ${allowZero ? 'non-negative' : 'positive'} number, got ${value}`, {exit: EXIT.USAGE})
  return n
}

export async function runSimulate(flags: SimulateFlags): Promise<(SimulationStats | DriveStats) & {summary: string; mode: 'offline' | 'http'}> {
  const scenario = loadScenario(flags.scenario)
  if (flags.seed !== undefined) scenario.seed = flags.seed
  const options: TimelineOptions = {}
  const days = flags.minutes !== undefined ? flags.minutes / 1440 : positive(flags.days, '--days')
  if (days !== undefined) options.days = days
  if (flags.start) {
    const ms = Date.parse(flags.start)
    if (Number.isNaN(ms)) throw new CliError('USAGE', `--start: not a date/time: ${flags.start}`, {exit: EXIT.USAGE})
    options.start_ms = ms
  }
  const rate = positive(flags['rate-factor'], '--rate-factor')
  if (rate !== undefined) options.rate_factor = rate
  if (flags.out) {
    const stats = await simulateOffline(scenario, flags.out, options)
    const summary =
      `${scenario.name} (seed ${scenario.seed}): ${stats.records.toLocaleString('en-US')} records, ${stats.runs.toLocaleString('en-US')} runs, ` +
      `${stats.tenants} tenants, ${stats.budgets} budgets, ${stats.first_ts} → ${stats.last_ts} in ${stats.wall_seconds.toFixed(1)} s; ` +
      `${stats.would_denials.toLocaleString('en-US')} would-be denials; incidents: ${stats.incidents.map((i) => `${i.type} ${i.run_id ?? i.scope}`).join(', ') || 'none'}\n→ ${flags.out}`
    return {...stats, summary, mode: 'offline'}
  }
  const speed = positive(flags.speed, '--speed', true) ?? 1
  const stats = await driveHttp(scenario, {...options, url: flags.url!, apiKey: flags['api-key'], tenant: flags.tenant, speed, concurrency: flags.concurrency})
  const summary = `${stats.calls.toLocaleString('en-US')} calls (${stats.runs} runs) to ${stats.url} in ${stats.seconds.toFixed(1)} s (${stats.calls_per_second}/s); statuses ${JSON.stringify(stats.by_status)}; ${stats.would_denials} would-be denials (X-Cycles-Shadow-Decision)`
  return {...stats, summary, mode: 'http'}
}
