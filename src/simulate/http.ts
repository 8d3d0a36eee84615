// `cycles simulate --url`: drive a running daemon over HTTP as Cycles SDKs would — live reserve
// then commit with the actual cost (or release), dry-runs and decides — paced in real time
// (`speed` simulated seconds per second; 0 = as fast as the daemon answers).
import {CliError, EXIT} from '../cli/errors.js'
import {apiKeyFor} from './fleet.js'
import {requestBody} from './offline.js'
import {type Scenario, tenantIds} from './scenario.js'
import {type Run, type TimelineOptions, buildTimeline} from './timeline.js'

export interface DriveOptions extends TimelineOptions {
  url: string
  /** One key for all traffic (then only `tenant`'s runs are sent); default: the scenario's keys. */
  apiKey?: string
  tenant?: string
  speed?: number
  concurrency?: number
  maxRuns?: number
}

export interface DriveStats {
  url: string
  runs: number
  calls: number
  by_status: Record<string, number>
  would_denials: number
  seconds: number
  calls_per_second: number
}

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve())

export async function driveHttp(s: Scenario, options: DriveOptions): Promise<DriveStats> {
  const base = options.url.replace(/\/+$/, '')
  const timeline = buildTimeline(s, {...options, start_ms: options.start_ms ?? Date.now()})
  let runs = timeline.runs
  if (options.apiKey) {
    const tenant = options.tenant ?? tenantIds(s)[0]
    runs = runs.filter((r) => r.tenant === tenant)
  }
  if (options.maxRuns !== undefined) runs = runs.slice(0, options.maxRuns)
  const speed = options.speed ?? 1
  const stats: DriveStats = {url: base, runs: runs.length, calls: 0, by_status: {}, would_denials: 0, seconds: 0, calls_per_second: 0}
  const started = Date.now()
  const at = (simMs: number) => (speed > 0 ? started + (simMs - timeline.start_ms) / speed : 0)

  const send = async (run: Run, path: string, body: unknown) => {
    const key = options.apiKey ?? apiKeyFor(s, run.tenant)
    let res: Response
    try {
      res = await fetch(base + path, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-Cycles-API-Key': key}, body: JSON.stringify(body)})
    } catch (error) {
      throw new CliError('UNREACHABLE', `cannot reach the daemon at ${base}: ${(error as Error).message}`, {
        exit: EXIT.UNREACHABLE,
        suggestions: ['start it: cycles daemon start --config <config>', 'or pass --url (env CYCLES_BASE_URL)'],
      })
    }
    stats.calls++
    stats.by_status[res.status] = (stats.by_status[res.status] ?? 0) + 1
    if (res.headers.get('x-cycles-shadow-decision') === 'DENY' && !path.includes('/commit')) stats.would_denials++
    if (res.status === 401) {
      throw new CliError('AUTH', `the daemon rejected the API key for tenant ${run.tenant} (401)`, {
        exit: EXIT.AUTH,
        suggestions: ['pass --api-key (env CYCLES_API_KEY) and --tenant, or put the tenants\' secrets under api_keys: in the scenario'],
      })
    }
    return res.json().catch(() => ({})) as Promise<Record<string, unknown>>
  }

  const runOne = async (run: Run) => {
    let n = 0
    for (const step of run.steps) {
      await sleep(at(step.t_ms) - Date.now())
      const key = `drive-${started}-${run.run_id}-${n++}`
      const body = requestBody({t_ms: step.t_ms, run, step, phase: 'open'}, key)
      const answer = await send(run, step.kind === 'decide' ? '/v1/decide' : '/v1/reservations', body)
      if (step.kind !== 'reserve' || typeof answer.reservation_id !== 'string') continue
      await sleep(at(step.t_ms + (step.hold_ms ?? 0)) - Date.now())
      if (step.release) await send(run, `/v1/reservations/${answer.reservation_id}/release`, {idempotency_key: `${key}-r`, reason: 'step failed'})
      else await send(run, `/v1/reservations/${answer.reservation_id}/commit`, {idempotency_key: `${key}-c`, actual: {unit: run.unit, amount: step.actual ?? 0}})
    }
  }

  const queue = [...runs]
  const workers = Array.from({length: Math.max(1, options.concurrency ?? 16)}, async () => {
    for (;;) {
      const run = queue.shift()
      if (!run) return
      await sleep(at(run.start_ms) - Date.now())
      await runOne(run)
    }
  })
  await Promise.all(workers)
  stats.seconds = (Date.now() - started) / 1000
  stats.calls_per_second = stats.seconds > 0 ? Math.round(stats.calls / stats.seconds) : stats.calls
  return stats
}
