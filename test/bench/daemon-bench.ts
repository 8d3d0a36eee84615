// Daemon runtime plane: dry-run and decide throughput and latency at 64 connections with the
// decision log on, next to a bare node:http server returning a same-size body, in the same run; and
// the same dry-runs against a second daemon whose log is not hash-chained (decision_log.chain: false),
// interleaved, for what the chain costs a request.
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {PROJECT_ROOT} from '../support/spec.js'
import {type LoadResult, benchConfig, fmt, load, printTable, spawnListening} from './load.js'

const KEY = 'cyc_bench_0123456789abcdef'
const CONFIG = benchConfig(KEY, 'shadow')

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick')
  const duration = quick ? 3 : 5
  // This machine's neighbours make single runs wander by ±30 %: interleave rounds, report medians.
  const rounds = quick ? 1 : 3
  const connections = 64
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-bench-'))
  fs.writeFileSync(path.join(dir, 'cycles.yaml'), CONFIG)
  fs.writeFileSync(path.join(dir, 'unchained.yaml'), `${CONFIG}\ndecision_log: {chain: false}\n`)
  const bin = path.join(PROJECT_ROOT, 'bin', 'run.js')
  let seq = 0
  const subject = {tenant: 'bench', workspace: 'prod', agent: 'a'}
  // Bodies differ only in the idempotency key; keep the generator cheap (it shares the machine).
  const rest = `,"subject":${JSON.stringify(subject)},"action":{"kind":"llm.chat","name":"gpt"},"estimate":{"unit":"USD_MICROCENTS","amount":1000}`
  const dryRunRest = `${rest},"dry_run":true}`
  const decideRest = `${rest}}`
  const dryRun = () => `{"idempotency_key":"b-${++seq}"${dryRunRest}`
  const decide = () => `{"idempotency_key":"d-${++seq}"${decideRest}`

  const daemon = await spawnListening([bin, 'daemon', 'start', '--config', path.join(dir, 'cycles.yaml'), '--port', '0', '--log-dir', path.join(dir, 'log'), '--state-dir', path.join(dir, 'state')])
  // size of a real dry-run answer, for a fair baseline body
  const sample = await fetch(`${daemon.url}/v1/reservations`, {method: 'POST', headers: {'content-type': 'application/json', 'X-Cycles-API-Key': KEY}, body: dryRun()})
  const sampleSize = (await sample.text()).length
  const bare = await spawnListening([path.join(PROJECT_ROOT, 'dist', 'test', 'bench', 'bare-server.js'), String(sampleSize)])
  const unchained = await spawnListening([bin, 'daemon', 'start', '--config', path.join(dir, 'unchained.yaml'), '--port', '0', '--log-dir', path.join(dir, 'log-unchained'), '--state-dir', path.join(dir, 'state-unchained')])

  // Same daemon, plus one webhook subscribed to reservation.denied (its receiver: the bare server),
  // so the line below shows what delivery costs the request path: nothing should wait on it.
  const adminKey = 'bench_admin_key_0123456789abcdef'
  const adminPort = await freePort()
  fs.writeFileSync(path.join(dir, 'hooked.yaml'), `${CONFIG}admin_key: ${adminKey}\n`)
  const hooked = await spawnListening(
    [bin, 'daemon', 'start', '--config', path.join(dir, 'hooked.yaml'), '--port', '0', '--admin-port', String(adminPort), '--log-dir', path.join(dir, 'log-hooked'), '--state-dir', path.join(dir, 'state-hooked')],
    {CYCLES_WEBHOOK_SECRET_KEY: '11'.repeat(32)},
  )
  const hookAdmin = `http://127.0.0.1:${adminPort}`
  await allowLoopback(hookAdmin, adminKey)

  const rows: LoadResult[] = []
  try {
    const headers = {'X-Cycles-API-Key': KEY}
    // warm both
    await load('warmup', {url: bare.url, connections, durationS: 1, path: '/v1/reservations', headers, body: dryRun})
    await load('warmup', {url: daemon.url, connections, durationS: 2, path: '/v1/reservations', headers, body: dryRun})
    await load('warmup', {url: hooked.url, connections, durationS: 2, path: '/v1/reservations', headers, body: dryRun})
    await load('warmup', {url: unchained.url, connections, durationS: 2, path: '/v1/reservations', headers, body: dryRun})
    const runs: LoadResult[][] = [[], [], [], [], [], []]
    for (let round = 0; round < rounds; round++) {
      // The baseline gets the very same request stream (same bodies, same generator cost on the client).
      runs[0].push(await load('bare node:http (same-size body)', {url: bare.url, connections, durationS: duration, path: '/v1/reservations', headers, body: dryRun, serverPid: bare.child.pid}))
      runs[1].push(await load('daemon dry-run reserve', {url: daemon.url, connections, durationS: duration, path: '/v1/reservations', headers, body: dryRun, serverPid: daemon.child.pid}))
      runs[2].push(await load('daemon decide', {url: daemon.url, connections, durationS: duration, path: '/v1/decide', headers, body: decide, serverPid: daemon.child.pid}))
      // The same process with and without the subscription, so only the webhook differs.
      runs[3].push(await load('admin-plane daemon dry-run, no webhook', {url: hooked.url, connections, durationS: duration, path: '/v1/reservations', headers, body: dryRun, serverPid: hooked.child.pid}))
      const webhookId = await subscribeBench(hookAdmin, adminKey, `${bare.url}/hook`)
      runs[4].push(await load('admin-plane daemon dry-run, 1 webhook on reservation.denied', {url: hooked.url, connections, durationS: duration, path: '/v1/reservations', headers, body: dryRun, serverPid: hooked.child.pid}))
      await adminCall(hookAdmin, adminKey, 'DELETE', `/v1/admin/webhooks/${webhookId}`)
      runs[5].push(await load('daemon dry-run reserve, log not chained', {url: unchained.url, connections, durationS: duration, path: '/v1/reservations', headers, body: dryRun, serverPid: unchained.child.pid}))
    }
    for (const series of runs) {
      const sorted = [...series].sort((a, b) => a.rps - b.rps)
      rows.push({...sorted[Math.floor(sorted.length / 2)], label: `${series[0].label}${rounds > 1 ? ` (median of ${rounds})` : ''}`})
      if (rounds > 1) console.log(`${series[0].label}: ${series.map((r) => fmt(r.rps)).join(' / ')} req/s`)
    }
  } finally {
    await daemon.stop()
    await hooked.stop()
    await bare.stop()
    await unchained.stop()
  }
  const logged = fs.readdirSync(path.join(dir, 'log')).filter((f) => f.endsWith('.jsonl')).reduce((n, f) => n + fs.readFileSync(path.join(dir, 'log', f), 'utf8').split('\n').length - 1, 0)
  printTable(rows)
  const [baseline, dry, dec, noHook, withHook, plain] = rows
  console.log('')
  console.log(`response body: ${sampleSize} bytes; connections: ${connections}; duration: ${duration}s × ${rounds} rounds each; machine: ${os.cpus().length} cores`)
  console.log(`decision records written: ${fmt(logged)} (logging on, group commit, fsync 1/s)`)
  console.log(`daemon ready after process start: ${fmt(daemon.readyMs)} ms (target ≤ 1000)`)
  const check = (ok: boolean) => (ok ? 'ok' : 'MISSED')
  console.log(`dry-run: ${fmt(dry.rps)} req/s (target ≥ 10,000: ${check(dry.rps >= 10_000)}), p50 ${fmt(dry.p50, 2)} ms (≤ 1: ${check(dry.p50 <= 1)}), p99 ${fmt(dry.p99, 2)} ms (≤ 5: ${check(dry.p99 <= 5)})`)
  console.log(`dry-run / bare node:http: ${fmt((dry.rps / baseline.rps) * 100, 1)} % (target ≥ 40 %: ${check(dry.rps / baseline.rps >= 0.4)})`)
  console.log(`decide  / bare node:http: ${fmt((dec.rps / baseline.rps) * 100, 1)} %`)
  console.log(`dry-run with 1 webhook on reservation.denied: ${fmt(withHook.rps)} req/s vs ${fmt(noHook.rps)} without (${fmt((withHook.rps / noHook.rps) * 100, 1)} %; same process, same run; delivery runs off the request path)`)
  if (dry.cpuUsPerRequest && baseline.cpuUsPerRequest) {
    // On a busy machine throughput ratios wander; CPU time per request does not.
    console.log(`CPU per request: daemon dry-run ${fmt(dry.cpuUsPerRequest, 1)} µs vs bare ${fmt(baseline.cpuUsPerRequest, 1)} µs → CPU-bound ratio ${fmt((baseline.cpuUsPerRequest / dry.cpuUsPerRequest) * 100, 1)} %`)
  }
  if (dry.cpuUsPerRequest && plain.cpuUsPerRequest) {
    console.log(
      `hash chain (same run, interleaved): dry-run ${fmt(dry.rps)} req/s chained vs ${fmt(plain.rps)} unchained (${fmt((dry.rps / plain.rps) * 100, 1)} %); ` +
        `CPU per request ${fmt(dry.cpuUsPerRequest, 1)} vs ${fmt(plain.cpuUsPerRequest, 1)} µs → the chain costs ≈ ${fmt(dry.cpuUsPerRequest - plain.cpuUsPerRequest, 1)} µs per record (target: a few µs; within this machine's noise when small)`,
    )
  }
  // Closed-loop latency: each of the 64 connections waits for its answer before sending again, so the
  // mean latency is connections / throughput (Little's law), whatever the server does.
  const loadGenUs = baseline.loadGenUsPerRequest
  const cores = os.cpus().length
  console.log(
    `closed loop: mean latency = ${connections} connections / throughput; p50 ≤ 1 ms needs ≈ ${fmt(connections * 1000)} req/s. ` +
      `The load generator alone spends ${fmt(loadGenUs, 1)} µs of CPU per request here, so on ${cores} cores no server, ` +
      `even one that costs nothing, gets past ≈ ${fmt((cores * 1e6) / loadGenUs)} req/s with it; bare node:http (${fmt(baseline.cpuUsPerRequest ?? 0, 1)} µs) ` +
      `tops out near ${fmt((cores * 1e6) / (loadGenUs + (baseline.cpuUsPerRequest ?? 0)))} req/s and measured ${fmt(baseline.rps)} (p50 ${fmt(baseline.p50, 2)} ms).`,
  )
  const failures = rows.filter((r) => r.errors > 0 || r.non2xx > 0)
  if (failures.length > 0) console.log(`WARNING: errors or non-2xx in ${failures.map((f) => f.label).join(', ')}`)
  fs.rmSync(dir, {recursive: true, force: true})
}

/** A port free right now (bound, then released). */
async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function adminCall(adminUrl: string, adminKey: string, method: string, p: string, body?: unknown): Promise<any> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(adminUrl + p, {method, headers: {'X-Admin-API-Key': adminKey, 'Content-Type': 'application/json'}, ...(body === undefined ? {} : {body: JSON.stringify(body)})})
      const text = await res.text()
      if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text}`)
      return text === '' ? undefined : JSON.parse(text)
    } catch (error) {
      if (attempt > 50) throw error
      await new Promise((resolve) => setTimeout(resolve, 100)) // the admin plane starts just after the runtime plane
    }
  }
}

/** The local-development opt-in: the receiver is the bare server on 127.0.0.1 over http. */
async function allowLoopback(adminUrl: string, adminKey: string): Promise<void> {
  await adminCall(adminUrl, adminKey, 'PUT', '/v1/admin/config/webhook-security', {allow_http: true, blocked_cidr_ranges: []})
}

/** One subscription to reservation.denied; returns its id. */
async function subscribeBench(adminUrl: string, adminKey: string, receiver: string): Promise<string> {
  const created = await adminCall(adminUrl, adminKey, 'POST', '/v1/admin/webhooks?tenant_id=bench', {url: receiver, event_types: ['reservation.denied']})
  return created.subscription.subscription_id as string
}
