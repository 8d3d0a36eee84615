// Load generation helpers shared by the bench suites (autocannon, in the bench process).
import {type ChildProcess, spawn} from 'node:child_process'
import fs from 'node:fs'
// autocannon ships no types.
// @ts-expect-error untyped module
import autocannon from 'autocannon'

export interface LoadResult {
  label: string
  /** CPU time the server process spent per request (µs): robust against a busy machine. */
  cpuUsPerRequest?: number
  /** CPU time the load generator (this process) spent per request (µs). */
  loadGenUsPerRequest: number
  rps: number
  p50: number
  p99: number
  errors: number
  non2xx: number
  total: number
}

export interface LoadOptions {
  url: string
  connections: number
  durationS: number
  method?: string
  path?: string
  headers?: Record<string, string>
  /** Body per request (called for every request, e.g. to make idempotency keys unique). */
  body?: () => string
  /** Response statuses that count as success (default 200). */
  okStatuses?: number[]
}

/** utime + stime of a process in ms, from /proc (Linux). */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // USER_HZ = 100
  } catch {
    return undefined
  }
}

export async function load(label: string, o: LoadOptions & {serverPid?: number}): Promise<LoadResult> {
  let n = 0
  const cpuBefore = processCpuMs(o.serverPid)
  const ownBefore = process.cpuUsage()
  const result = await autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.durationS,
    pipelining: 1,
    requests: [
      {
        method: o.method ?? 'POST',
        path: o.path ?? '/',
        headers: {'content-type': 'application/json', ...o.headers},
        setupRequest: (req: Record<string, unknown>) => {
          n++
          if (o.body) req.body = o.body()
          return req
        },
      },
    ],
  })
  const cpuAfter = processCpuMs(o.serverPid)
  const own = process.cpuUsage(ownBefore)
  const served = result.requests.total ?? n
  return {
    label,
    loadGenUsPerRequest: served > 0 ? (own.user + own.system) / served : 0,
    cpuUsPerRequest: cpuBefore !== undefined && cpuAfter !== undefined && served > 0 ? ((cpuAfter - cpuBefore) * 1000) / served : undefined,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total ?? n,
  }
}

export interface Child {
  child: ChildProcess
  url: string
  stop(): Promise<void>
}

/** Spawn a node process that prints `listening on <url>`. */
export async function spawnListening(args: string[], env: Record<string, string> = {}): Promise<Child & {readyMs: number}> {
  const started = performance.now()
  const child = spawn(process.execPath, args, {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, NO_COLOR: '1', ...env}})
  let out = ''
  let err = ''
  child.stderr!.on('data', (c) => (err += c))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c) => {
      out += c
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1])
    })
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${err}`)))
  })
  // ready = readiness endpoint answers 200 (the daemon) or any answer (the baseline)
  for (;;) {
    try {
      const res = await fetch(`${url}/actuator/health/readiness`)
      await res.text()
      if (res.status === 200 || res.status === 404 || args.some((a) => a.includes('bare-server'))) break
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 5))
  }
  const readyMs = performance.now() - started
  return {
    child,
    url,
    readyMs,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', {maximumFractionDigits: digits, minimumFractionDigits: digits})
}

export function printTable(rows: LoadResult[]): void {
  console.log(`${'run'.padEnd(48)} ${'req/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU µs/req'.padStart(11)} ${'gen µs/req'.padStart(11)} ${'errors'.padStart(7)} ${'non-2xx'.padStart(8)}`)
  for (const r of rows) {
    const cpu = r.cpuUsPerRequest === undefined ? '-' : fmt(r.cpuUsPerRequest, 1)
    console.log(`${r.label.padEnd(48)} ${fmt(r.rps).padStart(10)} ${fmt(r.p50, 2).padStart(8)} ${fmt(r.p99, 2).padStart(8)} ${cpu.padStart(11)} ${fmt(r.loadGenUsPerRequest, 1).padStart(11)} ${String(r.errors).padStart(7)} ${String(r.non2xx).padStart(8)}`)
  }
}

/** The benches' config: one tenant with a three-level budget too large to run out, every tier in `mode`. */
export function benchConfig(key: string, mode: 'shadow' | 'enforce'): string {
  return `
tenants: [{id: bench}]
api_keys: [{tenant: bench, secret: ${key}}]
budgets:
  - {scope: "tenant:bench", unit: USD_MICROCENTS, allocated: 9000000000000000}
  - {scope: "tenant:bench/workspace:prod", unit: USD_MICROCENTS, allocated: 9000000000000000}
  - {scope: "tenant:bench/workspace:prod/agent:a", unit: USD_MICROCENTS, allocated: 9000000000000000}
tiers:
  low: {mode: ${mode}, match: ["search.*"]}
  medium: {mode: ${mode}, match: ["llm.*"]}
  high: {mode: ${mode}, match: []}
`
}
