// Many connections against the daemon (dry-run reserve): latency (p50/p99/max), throughput, peak
// RSS and shed counts, with shedding by count only (`--max-queue-ms 0`, the behaviour before
// queueing-time shedding) and with the queueing-time budget. `npm run bench -- shedding
// [--connections 9000] [--duration 15]`.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
// @ts-expect-error untyped module
import autocannon from 'autocannon'

import {PROJECT_ROOT} from '../support/spec.js'
import {benchConfig, fmt, spawnListening} from './load.js'

const KEY = 'cyc_bench_0123456789abcdef'

function argOf(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : fallback
}

/** Peak resident memory of a process (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : Number.NaN
}

export async function run(args: string[]): Promise<void> {
  const connections = argOf(args, '--connections', 9000)
  const duration = argOf(args, '--duration', 15)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-shed-'))
  fs.writeFileSync(path.join(dir, 'cycles.yaml'), benchConfig(KEY, 'shadow'))
  const bin = path.join(PROJECT_ROOT, 'bin', 'run.js')
  let seq = 0
  const rest = ',"subject":{"tenant":"bench","workspace":"prod","agent":"a"},"action":{"kind":"llm.chat","name":"gpt"},"estimate":{"unit":"USD_MICROCENTS","amount":1000},"dry_run":true}'
  const variants: Array<{label: string; flags: string[]}> = [
    {label: 'in-flight count only (--max-queue-ms 0)', flags: ['--max-queue-ms', '0']},
    {label: 'queueing budget 1000 ms (default)', flags: []},
    {label: 'queueing budget 250 ms', flags: ['--max-queue-ms', '250']},
  ]
  const rows: string[] = []
  for (const [i, variant] of variants.entries()) {
    const daemon = await spawnListening([bin, 'daemon', 'start', '--config', path.join(dir, 'cycles.yaml'), '--port', '0', '--admin-port', '0', '--log-dir', path.join(dir, `log${i}`), '--state-dir', path.join(dir, `state${i}`), ...variant.flags])
    try {
      const result = await autocannon({
        url: daemon.url,
        connections,
        duration,
        pipelining: 1,
        timeout: 60,
        requests: [{
          method: 'POST', path: '/v1/reservations', headers: {'content-type': 'application/json', 'X-Cycles-API-Key': KEY},
          setupRequest: (req: Record<string, unknown>) => ({...req, body: `{"idempotency_key":"s-${++seq}"${rest}`}),
        }],
      })
      const status = (await (await fetch(`${daemon.url}/actuator/cycles/status`)).json()) as {shed: number; shed_by_reason: Record<string, number>}
      const rss = peakRssMiB(daemon.child.pid!)
      const codes = `2xx ${result['2xx']}, 429 ${status.shed}, errors ${result.errors + result.timeouts}`
      rows.push(`${variant.label.padEnd(42)} ${fmt(result.requests.average).padStart(8)} ${fmt(result.latency.p50).padStart(7)} ${fmt(result.latency.p99).padStart(7)} ${fmt(result.latency.max).padStart(8)} ${fmt(rss).padStart(9)}  ${codes} ${JSON.stringify(status.shed_by_reason)}`)
    } finally {
      await daemon.stop()
    }
  }
  console.log(`${connections} connections, ${duration} s each, dry-run reserve`)
  console.log(`${'run'.padEnd(42)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(8)} ${'peak RSS'.padStart(9)}  responses`)
  for (const row of rows) console.log(row)
  fs.rmSync(dir, {recursive: true, force: true})
}
