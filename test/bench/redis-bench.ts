// Live reserve + commit lifecycles (enforce mode, three-level scope) against daemons on the Redis
// store — one instance and two sharing one Redis — and on the embedded store, next to the raw Redis
// round trip (a PING loop at the same concurrency, and redis-benchmark when installed), in one run.
// Closed loop: each connection runs reserve → commit → reserve ... for the duration (autocannon).
// `--ledgers`: the cost of Tx.returnLedgers (the event watch's post-states) on the store alone
// (redis-post-state-bench.ts).
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

// autocannon ships no types.
// @ts-expect-error untyped module
import autocannon from 'autocannon'
import {Redis} from 'ioredis'

import {destroyRedis, startRedis} from '../support/redis.js'
import {benchConfig, processCpuMs} from './load.js'
import {runPostStateBench} from './redis-post-state-bench.js'

const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname)
const KEY = 'cyc_bench_redis_0123456789abcdef'
const CONFIG = benchConfig(KEY, 'enforce')

interface Row {
  label: string
  perSecond: number
  unit: string
  p50: number
  p99: number
  reqP50?: number
  reqP99?: number
  errors: number
  /** Commits sent (with a reservation to commit) and how many of them failed. */
  commits?: number
  commitFailures?: number
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

interface Child {
  url: string
  proc: ChildProcess
  stop(): Promise<void>
}

async function spawnDaemon(args: string[], dir: string): Promise<Child> {
  const env = {...process.env}
  delete env.CYCLES_ADMIN_API_KEY
  // CYCLES_BENCH_NODE_ARGS: extra node flags for the daemons (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const nodeArgs = (process.env.CYCLES_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const proc = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'bin', 'run.js'), 'daemon', 'start', ...args], {cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start: ${out}`)), 20_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    proc.once('exit', (code) => reject(new Error(`daemon exited ${code}: ${out}`)))
  })
  return {
    url,
    proc,
    stop: async () => {
      if (proc.exitCode !== null) return
      const exited = new Promise<void>((r) => proc.once('exit', () => r()))
      proc.kill('SIGTERM')
      await exited
    },
  }
}

/**
 * Closed-loop reserve+commit lifecycles for `seconds`: `connections` split evenly over `urls`, each
 * connection running reserve → commit → reserve ... (autocannon, the daemon bench's load generator:
 * on this shared 2-core machine a cheaper client leaves more CPU to what is measured). Latencies are
 * taken from when a request is set up (sent at once: one request in flight per connection) to its
 * response.
 */
async function lifecycles(
  label: string,
  urls: string[],
  connections: number,
  seconds: number,
  {actual = 800, policy}: {actual?: number; policy?: string} = {},
): Promise<Row> {
  const lifeLat: number[] = []
  const reqLat: number[] = []
  let errors = 0
  let commits = 0
  let commitFailures = 0
  const failures = new Map<string, number>()
  const fail = (what: string, status: number, body: string) => {
    errors++
    const key = `${what} ${status} ${/"error":"(\w+)"/.exec(body)?.[1] ?? ''}`.trim()
    failures.set(key, (failures.get(key) ?? 0) + 1)
  }
  // Keys unique across runs too: a daemon replays a reused key's first answer (a finished reservation).
  const run = randomBytes(6).toString('hex')
  let seq = 0
  const policyField = policy ? `,"overage_policy":"${policy}"` : ''
  const rest = `,"subject":{"tenant":"bench","workspace":"prod","agent":"a"},"action":{"kind":"llm.chat","name":"gpt"},"estimate":{"unit":"USD_MICROCENTS","amount":1000}${policyField}}`
  const headers = {'content-type': 'application/json', 'X-Cycles-API-Key': KEY}
  interface Context {
    id?: string
    lifeStart: number
    sent: number
  }
  const start = performance.now()
  await Promise.all(
    urls.map((url, i) =>
      autocannon({
        url,
        connections: Math.floor(connections / urls.length) + (i < connections % urls.length ? 1 : 0),
        duration: seconds,
        pipelining: 1,
        requests: [
          {
            method: 'POST',
            path: '/v1/reservations',
            headers,
            setupRequest: (req: Record<string, unknown>, context: Context) => {
              context.id = undefined
              context.lifeStart = context.sent = performance.now()
              return {...req, body: `{"idempotency_key":"r-${run}-${++seq}"${rest}`}
            },
            onResponse: (status: number, body: string, context: Context) => {
              reqLat.push(performance.now() - context.sent)
              if (status === 200) context.id = (JSON.parse(body) as {reservation_id: string}).reservation_id
              else fail('reserve', status, body)
            },
          },
          {
            method: 'POST',
            headers,
            setupRequest: (req: Record<string, unknown>, context: Context) => {
              context.sent = performance.now()
              return {...req, path: `/v1/reservations/${context.id ?? 'none'}/commit`, body: `{"idempotency_key":"c-${run}-${++seq}","actual":{"unit":"USD_MICROCENTS","amount":${actual}}}`}
            },
            onResponse: (status: number, body: string, context: Context) => {
              const now = performance.now()
              reqLat.push(now - context.sent)
              if (context.id) commits++
              if (status === 200 && context.id) lifeLat.push(now - context.lifeStart)
              else if (context.id) {
                commitFailures++
                fail('commit', status, body)
              }
            },
          },
        ],
      }),
    ),
  )
  const elapsed = (performance.now() - start) / 1000
  lifeLat.sort((a, b) => a - b)
  reqLat.sort((a, b) => a - b)
  if (failures.size > 0) console.log(`${label}: failed requests: ${[...failures].map(([k, n]) => `${k} ×${n}`).join(', ')}`)
  return {
    label,
    perSecond: lifeLat.length / elapsed,
    unit: 'lifecycles/s',
    p50: quantile(lifeLat, 0.5),
    p99: quantile(lifeLat, 0.99),
    reqP50: quantile(reqLat, 0.5),
    reqP99: quantile(reqLat, 0.99),
    errors,
    commits,
    commitFailures,
  }
}

async function pingLoop(url: string, connections: number, seconds: number): Promise<Row> {
  const redis = new Redis(url, {enableAutoPipelining: false})
  const lat: number[] = []
  const deadline = performance.now() + seconds * 1000
  const start = performance.now()
  await Promise.all(
    Array.from({length: connections}, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now()
        await redis.ping()
        lat.push(performance.now() - t0)
      }
    }),
  )
  const elapsed = (performance.now() - start) / 1000
  redis.disconnect()
  lat.sort((a, b) => a - b)
  return {label: `raw Redis PING loop (ioredis, ${connections} in flight)`, perSecond: lat.length / elapsed, unit: 'PING/s', p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), errors: 0}
}

function redisBenchmark(port: number, connections: number): string | undefined {
  const r = spawnSync('redis-benchmark', ['-p', String(port), '-t', 'ping', '-n', '100000', '-c', String(connections), '-q'], {encoding: 'utf8', timeout: 60_000})
  if (r.status !== 0) return undefined
  return r.stdout
    .split(/\r|\n/)
    .map((l) => l.trim())
    .filter((l) => l.includes('requests per second'))
    .join('; ')
}

/** utime and stime of a process in ms, from /proc (Linux). */
function userSysMs(pid: number | undefined): {user: number; sys: number} | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return {user: Number(fields[11]) * 10, sys: Number(fields[12]) * 10} // USER_HZ = 100
  } catch {
    return undefined
  }
}

const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', {maximumFractionDigits: d, minimumFractionDigits: d}) : '-')

/**
 * `npm run bench -- redis --overage [--clients 16,32,128] [--policy ALLOW_WITH_OVERDRAFT] [--quick]`:
 * lifecycles whose commit is above the estimate (actual 1,200 on an estimate of 1,000) next to the
 * same lifecycles with actual ≤ estimate (800), at each client count, on one daemon and on two
 * sharing one Redis; prints the share of commits that failed and the throughput of each.
 */
async function overage(args: string[]): Promise<void> {
  const quick = args.includes('--quick')
  const seconds = quick ? 3 : 8
  const option = (name: string) => {
    const i = args.indexOf(name)
    return i >= 0 ? args[i + 1] : undefined
  }
  const clients = (option('--clients') ?? '16,32,128').split(',').map(Number)
  const policy = option('--policy') ?? 'ALLOW_IF_AVAILABLE'
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-redis-bench-'))
  const configPath = path.join(dir, 'cycles.yaml')
  fs.writeFileSync(configPath, CONFIG)
  const redis = await startRedis()
  const children: Child[] = []
  const lines: string[] = []
  try {
    const daemonArgs = (name: string) => ['--config', configPath, '--port', '0', '--admin-port', '0', '--log-dir', path.join(dir, `log-${name}`), '--redis', redis.url, '--state-dir', path.join(dir, `unused-${name}`)]
    const one = await spawnDaemon(daemonArgs('o1'), dir)
    const two = await spawnDaemon(daemonArgs('o2'), dir)
    children.push(one, two)
    await lifecycles('warmup', [one.url, two.url], 32, 2)
    for (const n of clients) {
      for (const urls of [[one.url], [one.url, two.url]]) {
        const where = urls.length === 1 ? '1 daemon' : '2 daemons'
        const within = await lifecycles(`${n} clients, ${where}, actual ≤ estimate`, urls, n, seconds, {policy})
        const above = await lifecycles(`${n} clients, ${where}, actual > estimate`, urls, n, seconds, {actual: 1200, policy})
        const share = (r: Row) => (r.commits ? (100 * (r.commitFailures ?? 0)) / r.commits : Number.NaN)
        lines.push(
          `${String(n).padStart(4)} clients, ${where.padEnd(9)}: over-estimate commits failed ${f(share(above), 2).padStart(6)} % (${above.commitFailures} of ${above.commits}); ` +
            `lifecycles/s ${f(above.perSecond).padStart(6)} above vs ${f(within.perSecond).padStart(6)} within estimate (failed ${within.commitFailures} of ${within.commits}); ` +
            `p99 ${f(above.p99, 1)} vs ${f(within.p99, 1)} ms`,
        )
      }
    }
    console.log(`policy ${policy}; ${seconds}s per run; estimate 1,000, actual 1,200 (above) or 800 (within)`)
    for (const line of lines) console.log(line)
  } finally {
    for (const c of children) await c.stop().catch(() => {})
    await destroyRedis(redis)
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

export async function run(args: string[]): Promise<void> {
  if (args.includes('--overage')) return overage(args)
  if (args.includes('--ledgers')) return runPostStateBench(args)
  const quick = args.includes('--quick')
  const seconds = quick ? 3 : 8
  const connections = 32
  if (!fs.existsSync(path.join(ROOT, 'dist', 'commands', 'daemon', 'start.js'))) throw new Error('run `npm run build` first (npm run bench does)')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-redis-bench-'))
  const configPath = path.join(dir, 'cycles.yaml')
  fs.writeFileSync(configPath, CONFIG)
  const redis = await startRedis()
  const rows: Row[] = []
  const diagnostics: string[] = []
  const children: Child[] = []
  try {
    const daemonArgs = (name: string, store: string[]) => ['--config', configPath, '--port', '0', '--admin-port', '0', '--log-dir', path.join(dir, `log-${name}`), ...store]
    rows.push(await pingLoop(redis.url, connections, quick ? 2 : 4))
    const bench = redisBenchmark(redis.port, connections)

    const one = await spawnDaemon(daemonArgs('r1', ['--redis', redis.url, '--state-dir', path.join(dir, 'unused')]), dir)
    children.push(one)
    await lifecycles('warmup', [one.url], connections, 2)
    const admin = new Redis(redis.url)
    await admin.config('RESETSTAT')
    const redisCpu = async () => {
      const info = String(await admin.info('cpu'))
      const v = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN)
      return v('used_cpu_user') + v('used_cpu_sys')
    }
    const netBytes = async () => {
      const info = String(await admin.info('stats'))
      const v = (name: string) => Number(new RegExp(`${name}:(\\d+)`).exec(info)?.[1] ?? Number.NaN)
      return {input: v('total_net_input_bytes'), output: v('total_net_output_bytes')}
    }
    const netBefore = await netBytes()
    const redisCpuBefore = await redisCpu()
    const cpuBefore = processCpuMs(one.proc.pid)
    const splitBefore = userSysMs(one.proc.pid)
    const loadCpuBefore = process.cpuUsage()
    const r1run = await lifecycles('redis store, 1 daemon', [one.url], connections, seconds)
    const loadCpu = process.cpuUsage(loadCpuBefore)
    const cpuAfter = processCpuMs(one.proc.pid)
    const splitAfter = userSysMs(one.proc.pid)
    rows.push(r1run)
    // Where a lifecycle's time goes: CPU of the daemon, redis-server and the load generator (they share
    // the machine's cores), bytes on the wire, and Redis commands per lifecycle with their server time.
    const lifecyclesDone = r1run.perSecond * seconds
    const perLifecycle = (ms: number) => (ms * 1000) / lifecyclesDone
    const daemonUs = cpuBefore !== undefined && cpuAfter !== undefined ? perLifecycle(cpuAfter - cpuBefore) : Number.NaN
    const split = splitBefore && splitAfter ? ` (user ${f(perLifecycle(splitAfter.user - splitBefore.user), 0)}, sys ${f(perLifecycle(splitAfter.sys - splitBefore.sys), 0)})` : ''
    diagnostics.push(`daemon CPU per lifecycle (redis store): ${f(daemonUs, 0)} µs${split}`)
    const redisCpuUsed = (await redisCpu()) - redisCpuBefore
    const netAfter = await netBytes()
    const redisUs = (redisCpuUsed * 1e6) / lifecyclesDone
    const loadUs = (loadCpu.user + loadCpu.system) / lifecyclesDone
    diagnostics.push(`bytes per lifecycle: ${f((netAfter.input - netBefore.input) / lifecyclesDone)} to Redis, ${f((netAfter.output - netBefore.output) / lifecyclesDone)} from Redis`)
    diagnostics.push(`redis-server CPU per lifecycle (user+sys, all commands and networking): ${f(redisUs, 0)} µs`)
    diagnostics.push(`load generator CPU per lifecycle (redis run): ${f(loadUs, 0)} µs`)
    diagnostics.push(
      `CPU per lifecycle, redis run, all three processes: ${f(daemonUs + redisUs + loadUs, 0)} µs (${os.cpus().length} cores at 3,000 lifecycles/s allow ${f((os.cpus().length * 1e6) / 3000, 0)} µs)`,
    )
    const stats = String(await admin.info('commandstats'))
    for (const line of stats.split('\n')) {
      const m = /^cmdstat_(\w+):calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/.exec(line.trim())
      if (m && Number(m[2]) > 0) diagnostics.push(`  redis ${m[1]}: ${(Number(m[2]) / lifecyclesDone).toFixed(2)} calls/lifecycle, ${m[4]} µs/call, ${f(Number(m[3]) / lifecyclesDone, 0)} µs/lifecycle`)
    }
    admin.disconnect()

    const two = await spawnDaemon(daemonArgs('r2', ['--redis', redis.url, '--state-dir', path.join(dir, 'unused2')]), dir)
    children.push(two)
    await lifecycles('warmup', [two.url], connections, 1)
    rows.push(await lifecycles('redis store, 2 daemons (one Redis)', [one.url, two.url], connections, seconds))
    await one.stop()
    await two.stop()

    const emb = await spawnDaemon(daemonArgs('e1', ['--state-dir', path.join(dir, 'state-e1')]), dir)
    children.push(emb)
    await lifecycles('warmup', [emb.url], connections, 2)
    const embCpuBefore = processCpuMs(emb.proc.pid)
    const benchCpuBefore = process.cpuUsage()
    const embRun = await lifecycles('embedded store, 1 daemon', [emb.url], connections, seconds)
    const benchCpu = process.cpuUsage(benchCpuBefore)
    const embCpuAfter = processCpuMs(emb.proc.pid)
    rows.push(embRun)
    const embDone = embRun.perSecond * seconds
    if (embCpuBefore !== undefined && embCpuAfter !== undefined) diagnostics.push(`daemon CPU per lifecycle (embedded store): ${f(((embCpuAfter - embCpuBefore) * 1000) / embDone, 0)} µs`)
    diagnostics.push(`load generator CPU per lifecycle (embedded run): ${f((benchCpu.user + benchCpu.system) / embDone, 0)} µs`)
    await emb.stop()

    console.log(`${'measurement'.padEnd(44)} ${'rate'.padStart(12)} ${'unit'.padEnd(13)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'req p50'.padStart(8)} ${'req p99'.padStart(8)} errors`)
    for (const r of rows) {
      console.log(
        `${r.label.padEnd(44)} ${f(r.perSecond).padStart(12)} ${r.unit.padEnd(13)} ${f(r.p50, 2).padStart(8)} ${f(r.p99, 2).padStart(8)} ${f(r.reqP50 ?? Number.NaN, 2).padStart(8)} ${f(r.reqP99 ?? Number.NaN, 2).padStart(8)} ${r.errors}`,
      )
    }
    console.log('')
    if (bench) console.log(`redis-benchmark -t ping -c ${connections}: ${bench}`)
    for (const line of diagnostics) console.log(line)
    console.log(`connections: ${connections}; ${seconds}s per run; a lifecycle = live reserve (enforce, 3 scopes, both books) + commit; machine: ${os.cpus().length} cores, load generator in the same machine`)
    const r1 = rows.find((r) => r.label === 'redis store, 1 daemon')!
    const check = (ok: boolean) => (ok ? 'ok' : 'MISSED')
    console.log(`redis, 1 daemon: ${f(r1.perSecond)} lifecycles/s (target ≥ 3,000: ${check(r1.perSecond >= 3000)}); per-request p99 ${f(r1.reqP99 ?? Number.NaN, 2)} ms (target ≤ 10: ${check((r1.reqP99 ?? Infinity) <= 10)})`)
  } finally {
    for (const c of children) await c.stop().catch(() => {})
    await destroyRedis(redis)
    fs.rmSync(dir, {recursive: true, force: true})
  }
}
