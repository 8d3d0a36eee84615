// Events: how many events per second the writer stores (in process, embedded store with its journal
// on disk), and the daemon's dry-run throughput with the event writer on and off in the same run —
// for traffic that emits nothing (budgets too large to deny) and for traffic where every dry-run
// emits one event (a shadow book that would deny everything: reservation.observed_denied).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {buildEvent} from '../../src/events/build.js'
import {EventWriter} from '../../src/events/writer.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {PROJECT_ROOT} from '../support/spec.js'
import {type Child, type LoadResult, fmt, load, printTable, spawnListening} from './load.js'

const KEY = 'cyc_bench_0123456789abcdef'

function config(eventsOn: boolean): string {
  return `
tenants: [{id: bench}]
api_keys: [{tenant: bench, secret: ${KEY}}]
budgets:
  - {scope: "tenant:bench", unit: USD_MICROCENTS, allocated: 9000000000000000}
  - {scope: "tenant:bench/workspace:prod", unit: USD_MICROCENTS, allocated: 9000000000000000}
  - {scope: "tenant:bench/workspace:deny", unit: USD_MICROCENTS, allocated: 1}
tiers:
  low: {mode: shadow, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: shadow, match: []}
events: {enabled: ${eventsOn}}
`
}

async function writerThroughput(count: number): Promise<{emitUs: number; perSecond: number}> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-events-bench-'))
  const store = await EmbeddedStore.open({stateDir: dir})
  try {
    const writer = new EventWriter({store, retentionMs: 7 * 86_400_000, maxBuffer: count})
    const now = Date.now()
    const events = Array.from({length: count}, (_, i) => buildEvent(now + Math.floor(i / 100), 'reservation.observed_denied', {tenant_id: 'bench', scope: 'tenant:bench/workspace:deny', source: 'cycles-server', data: {scope: 'tenant:bench/workspace:deny', unit: 'USD_MICROCENTS', deny_detail: {reason_code: 'BUDGET_EXCEEDED'}, observe_mode: 'OBSERVE', estimated_amount: 1000}}))
    const started = performance.now()
    for (const e of events) writer.emit(e)
    const emitted = performance.now()
    await writer.flush()
    await store.flushed()
    const done = performance.now()
    return {emitUs: ((emitted - started) * 1000) / count, perSecond: count / ((done - started) / 1000)}
  } finally {
    await store.close()
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick')
  const duration = quick ? 3 : 5
  const rounds = quick ? 1 : 3
  const connections = 64
  const count = quick ? 100_000 : 500_000
  const w = await writerThroughput(count)
  console.log(`event writer (in process, embedded store, journal on disk): ${fmt(count)} events stored at ${fmt(w.perSecond)} events/s; emit() ${fmt(w.emitUs, 2)} µs each`)

  const bin = path.join(PROJECT_ROOT, 'bin', 'run.js')
  const daemons: Record<'on' | 'off', Child> = {} as never
  const dirs: string[] = []
  for (const mode of ['on', 'off'] as const) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cycles-events-bench-${mode}-`))
    dirs.push(dir)
    fs.writeFileSync(path.join(dir, 'cycles.yaml'), config(mode === 'on'))
    daemons[mode] = await spawnListening([bin, 'daemon', 'start', '--config', path.join(dir, 'cycles.yaml'), '--port', '0', '--log-dir', path.join(dir, 'log'), '--state-dir', path.join(dir, 'state')])
  }
  let seq = 0
  const body = (workspace: string) => {
    const rest = `,"subject":{"tenant":"bench","workspace":"${workspace}"},"action":{"kind":"llm.chat","name":"gpt"},"estimate":{"unit":"USD_MICROCENTS","amount":1000},"dry_run":true}`
    return () => `{"idempotency_key":"e-${++seq}"${rest}`
  }
  const headers = {'X-Cycles-API-Key': KEY}
  const status = async (d: Child) => (await (await fetch(`${d.url}/actuator/cycles/status`)).json()) as {events: {written?: number; emitted?: number; dropped?: number}}
  const series: Record<string, LoadResult[]> = {}
  let eventsPerSecond: number[] = []
  try {
    for (const d of Object.values(daemons)) await load('warmup', {url: d.url, connections, durationS: 1, path: '/v1/reservations', headers, body: body('prod')})
    for (let round = 0; round < rounds; round++) {
      for (const [kind, workspace] of [['no events', 'prod'], ['1 event per request', 'deny']] as const) {
        for (const mode of ['on', 'off'] as const) {
          const label = `dry-run, ${kind}, events ${mode}`
          const before = mode === 'on' ? await status(daemons.on) : undefined
          const result = await load(label, {url: daemons[mode].url, connections, durationS: duration, path: '/v1/reservations', headers, body: body(workspace), serverPid: daemons[mode].child.pid})
          ;(series[label] ??= []).push(result)
          if (before && workspace === 'deny') {
            await new Promise((r) => setTimeout(r, 300)) // the writer's last batch
            const after = await status(daemons.on)
            eventsPerSecond.push(((after.events.written ?? 0) - (before.events.written ?? 0)) / duration)
          }
        }
      }
    }
    const final = await status(daemons.on)
    const rows = Object.values(series).map((s) => {
      const sorted = [...s].sort((a, b) => a.rps - b.rps)
      return {...sorted[Math.floor(sorted.length / 2)], label: `${s[0].label}${rounds > 1 ? ` (median of ${rounds})` : ''}`}
    })
    printTable(rows)
    eventsPerSecond = eventsPerSecond.sort((a, b) => a - b)
    console.log('')
    console.log(`events emitted and stored by the daemon: ${fmt(eventsPerSecond[Math.floor(eventsPerSecond.length / 2)])} events/s (median; one reservation.observed_denied per dry-run); dropped: ${fmt(final.events.dropped ?? 0)}`)
    const ratio = (a: string, b: string) => {
      const x = rows.find((r) => r.label.startsWith(a))!
      const y = rows.find((r) => r.label.startsWith(b))!
      return `${fmt((x.rps / y.rps) * 100, 1)} % of the throughput${x.cpuUsPerRequest && y.cpuUsPerRequest ? `, CPU ${fmt(x.cpuUsPerRequest, 1)} vs ${fmt(y.cpuUsPerRequest, 1)} µs/req` : ''}`
    }
    console.log(`writer on vs off, no events:        ${ratio('dry-run, no events, events on', 'dry-run, no events, events off')}`)
    console.log(`writer on vs off, 1 event/request:  ${ratio('dry-run, 1 event per request, events on', 'dry-run, 1 event per request, events off')}`)
    console.log(`connections: ${connections}; duration: ${duration}s × ${rounds} round(s) each; machine: ${os.cpus().length} cores`)
  } finally {
    for (const d of Object.values(daemons)) await d.stop()
    for (const dir of dirs) fs.rmSync(dir, {recursive: true, force: true})
  }
}
