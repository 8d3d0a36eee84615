// `npm run bench -- redis --ledgers [--quick]`: what asking for the ledgers' post-states
// (Tx.returnLedgers, set by the event watch on every transaction that touches the real book) costs
// the Redis store. Live reserve + commit transactions go straight through RedisStore.apply() — the
// daemon's own transactions, captured once from a real lifecycle — with returnLedgers off and on,
// alternating, in one run on one redis-server. Reported per mode: transactions/s, script time per
// transaction (Redis commandstats of EVALSHA), redis-server and client CPU per transaction, and the
// on/off ratios.
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {Redis} from 'ioredis'

import {parseConfig} from '../../src/config/load.js'
import {Daemon} from '../../src/daemon/daemon.js'
import {RedisStore} from '../../src/store/redis/redis-store.js'
import type {Store, Tx} from '../../src/store/types.js'
import {destroyRedis, startRedis} from '../support/redis.js'
import {benchConfig} from './load.js'

const KEY = 'cyc_bench_redis_0123456789abcdef'
/** The request idempotency keys of the captured lifecycle end in this; each replay gets its own. */
const TOKEN = 'capturedtoken0'

interface Lifecycle {
  /** The reserve transaction as JSON, the reservation id and TOKEN to be replaced. */
  reserve: string
  commit: string
  reservationId: string
}

/**
 * One live reserve + commit through a real daemon (in process, enforce mode, three scopes, both
 * books) on the Redis store under `prefix`, recording the transactions the two requests apply. The
 * daemon's config seeding leaves the ledgers the replays then use.
 */
async function captureLifecycle(url: string, prefix: string, dir: string): Promise<Lifecycle> {
  const store = await RedisStore.open({url, prefix})
  const applied: Tx[] = []
  const recording = new Proxy(store, {
    get(target, prop) {
      if (prop === 'apply') return (tx: Tx) => (applied.push(tx), target.apply(tx))
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  }) as Store
  const daemon = await Daemon.start({config: parseConfig(benchConfig(KEY, 'enforce')), port: 0, adminPort: 0, logDir: path.join(dir, 'log'), store: recording, log: () => {}})
  try {
    const post = async (route: string, body: unknown) => {
      const res = await fetch(daemon.url + route, {method: 'POST', headers: {'content-type': 'application/json', 'X-Cycles-API-Key': KEY}, body: JSON.stringify(body)})
      const text = await res.text()
      if (res.status !== 200) throw new Error(`capture: ${route} answered ${res.status}: ${text}`)
      return JSON.parse(text) as Record<string, unknown>
    }
    applied.length = 0
    const reserved = await post('/v1/reservations', {
      idempotency_key: `r-${TOKEN}`,
      subject: {tenant: 'bench', workspace: 'prod', agent: 'a'},
      action: {kind: 'llm.chat', name: 'gpt'},
      estimate: {unit: 'USD_MICROCENTS', amount: 1000},
    })
    const reservationId = String(reserved.reservation_id)
    const reserveTx = applied.find((tx) => tx.reservation?.value.status === 'ACTIVE')
    applied.length = 0
    await post(`/v1/reservations/${reservationId}/commit`, {idempotency_key: `c-${TOKEN}`, actual: {unit: 'USD_MICROCENTS', amount: 800}})
    const commitTx = applied.find((tx) => tx.reservation?.value.status === 'COMMITTED')
    if (!reserveTx || !commitTx) throw new Error('capture: the daemon applied no reserve or commit transaction')
    if (!reserveTx.deltas?.some((d) => d.book === 'real') || !commitTx.deltas?.some((d) => d.book === 'real')) throw new Error('capture: the lifecycle did not touch the real book')
    // Without the flag the event watch (on by default) may have set: each mode sets its own.
    const template = ({returnLedgers: _asked, ...tx}: Tx) => JSON.stringify(tx)
    return {reserve: template(reserveTx), commit: template(commitTx), reservationId}
  } finally {
    await daemon.stop()
  }
}

interface ModeRun {
  returnLedgers: boolean
  transactions: number
  failed: number
  seconds: number
  scriptUs: number
  scriptCalls: number
  redisCpuUs: number
  clientCpuUs: number
  /** Reply bytes (the INFO calls' few hundred bytes included). */
  bytesFromRedis: number
  /** Calls of the ledger commands the script makes (COUNTED), from commandstats: exact, unlike the times. */
  commands: Record<string, number>
}

/** Ledger commands made inside the script, counted per transaction: HMGET loads, HSET writes, HGETALL post-state reads. */
const COUNTED = ['hmget', 'hset', 'hgetall']

/** Closed loop for `seconds`: `inFlight` workers each applying reserve → commit → reserve ... with fresh ids. */
async function replay(store: Store, admin: Redis, life: Lifecycle, returnLedgers: boolean, inFlight: number, seconds: number): Promise<ModeRun> {
  const run = randomBytes(4).toString('hex')
  let seq = 0
  const fresh = (template: string, n: string): Tx => {
    const tx = JSON.parse(template.replaceAll(life.reservationId, `bench-${run}-${n}`).replaceAll(TOKEN, `${run}-${n}`)) as Tx
    return returnLedgers ? {...tx, returnLedgers: 'real'} : tx // what the event watch asks for
  }
  const stats = async () => {
    const commands = String(await admin.info('commandstats'))
    const usec = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+),usec=(\\d+)`).exec(commands)?.[2] ?? 0)
    const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(commands)?.[1] ?? 0)
    const cpu = String(await admin.info('cpu'))
    const v = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? Number.NaN)
    const inScript = Object.fromEntries(COUNTED.map((cmd) => [cmd, calls(cmd)]))
    const net = String(await admin.info('stats'))
    const bytesOut = Number(/total_net_output_bytes:(\d+)/.exec(net)?.[1] ?? Number.NaN)
    return {scriptUs: usec('evalsha') + usec('eval'), calls: calls('evalsha') + calls('eval'), redisCpuS: v('used_cpu_user') + v('used_cpu_sys'), inScript, bytesOut}
  }
  await admin.config('RESETSTAT')
  const before = await stats()
  const clientBefore = process.cpuUsage()
  let transactions = 0
  let failed = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  await Promise.all(
    Array.from({length: inFlight}, async () => {
      while (performance.now() < deadline) {
        const n = String(++seq)
        for (const template of [life.reserve, life.commit]) {
          const result = await store.apply(fresh(template, n))
          transactions++
          if (!result.ok) failed++
          else if (returnLedgers && result.ledgers.size === 0) throw new Error('returnLedgers on, but no post-states came back')
        }
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  const client = process.cpuUsage(clientBefore)
  const after = await stats()
  return {
    returnLedgers,
    transactions,
    failed,
    seconds: elapsed,
    scriptUs: after.scriptUs - before.scriptUs,
    scriptCalls: after.calls - before.calls,
    redisCpuUs: (after.redisCpuS - before.redisCpuS) * 1e6,
    clientCpuUs: client.user + client.system,
    bytesFromRedis: after.bytesOut - before.bytesOut,
    commands: Object.fromEntries(COUNTED.map((cmd) => [cmd, after.inScript[cmd] - before.inScript[cmd]])),
  }
}

const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', {maximumFractionDigits: d, minimumFractionDigits: d}) : '-')

export async function runPostStateBench(args: string[]): Promise<void> {
  const quick = args.includes('--quick')
  // Many short rounds: on this shared machine the load from others moves within seconds, and the
  // median of the per-round on/off ratios is what stays put.
  const seconds = quick ? 2 : 3
  const rounds = quick ? 3 : 8
  const inFlight = 32
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-redis-post-state-'))
  const redis = await startRedis()
  const prefix = 'bench:'
  let store: RedisStore | undefined
  const admin = new Redis(redis.url)
  try {
    const life = await captureLifecycle(redis.url, prefix, dir)
    store = await RedisStore.open({url: redis.url, prefix})
    await replay(store, admin, life, false, inFlight, 1) // warm-up
    const runs: ModeRun[] = []
    const roundRatios: Array<{throughput: number; script: number}> = []
    // Each round runs both modes back to back, in alternating order, so drift hits both alike.
    for (let i = 0; i < rounds; i++) {
      const pair: ModeRun[] = []
      for (const on of i % 2 === 0 ? [false, true] : [true, false]) pair.push(await replay(store, admin, life, on, inFlight, seconds))
      runs.push(...pair)
      const [offRun, onRun] = pair[0].returnLedgers ? [pair[1], pair[0]] : pair
      const rate = (r: ModeRun) => r.transactions / r.seconds
      roundRatios.push({throughput: rate(onRun) / rate(offRun), script: onRun.scriptUs / onRun.transactions / (offRun.scriptUs / offRun.transactions)})
    }
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b)
      return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
    }
    const total = (on: boolean) => {
      const rs = runs.filter((r) => r.returnLedgers === on)
      const sum = (pick: (r: ModeRun) => number) => rs.reduce((s, r) => s + pick(r), 0)
      const tx = sum((r) => r.transactions)
      return {
        perSecond: tx / sum((r) => r.seconds),
        failed: sum((r) => r.failed),
        scriptUsPerTx: sum((r) => r.scriptUs) / tx,
        txPerCall: tx / sum((r) => r.scriptCalls),
        redisCpuUsPerTx: sum((r) => r.redisCpuUs) / tx,
        clientCpuUsPerTx: sum((r) => r.clientCpuUs) / tx,
        bytesPerTx: sum((r) => r.bytesFromRedis) / tx,
        commandsPerTx: COUNTED.map((cmd) => `${cmd} ${f(sum((r) => r.commands[cmd]) / tx, 2)}`).join(', '),
      }
    }
    const off = total(false)
    const on = total(true)
    console.log(`${'returnLedgers'.padEnd(14)} ${'tx/s'.padStart(8)} ${'script µs/tx'.padStart(13)} ${'tx/call'.padStart(8)} ${'redis CPU µs/tx'.padStart(16)} ${'client CPU µs/tx'.padStart(17)} failed; Redis commands`)
    for (const [label, t] of [['off', off], ['on', on]] as const) {
      console.log(`${label.padEnd(14)} ${f(t.perSecond).padStart(8)} ${f(t.scriptUsPerTx, 1).padStart(13)} ${f(t.txPerCall, 1).padStart(8)} ${f(t.redisCpuUsPerTx, 1).padStart(16)} ${f(t.clientCpuUsPerTx, 1).padStart(17)} ${t.failed}; per tx: ${t.commandsPerTx}, ${f(t.bytesPerTx)} bytes from Redis`)
    }
    console.log(
      `on/off, all rounds: throughput ×${f(on.perSecond / off.perSecond, 3)}, script time per transaction ×${f(on.scriptUsPerTx / off.scriptUsPerTx, 3)}, ` +
        `redis CPU per transaction ×${f(on.redisCpuUsPerTx / off.redisCpuUsPerTx, 3)}, client CPU per transaction ×${f(on.clientCpuUsPerTx / off.clientCpuUsPerTx, 3)}`,
    )
    console.log(
      `per-round on/off, median of ${rounds}: throughput ×${f(median(roundRatios.map((r) => r.throughput)), 3)} (${roundRatios.map((r) => f(r.throughput, 2)).join(' ')}), ` +
        `script time per transaction ×${f(median(roundRatios.map((r) => r.script)), 3)} (${roundRatios.map((r) => f(r.script, 2)).join(' ')})`,
    )
    console.log(`live reserve + commit transactions (enforce, 3 scopes, both books) through RedisStore.apply() in process; ${inFlight} in flight; ${rounds} rounds of ${seconds}s per mode, alternating; one redis-server`)
  } finally {
    admin.disconnect()
    await store?.close().catch(() => {})
    await destroyRedis(redis)
    fs.rmSync(dir, {recursive: true, force: true})
  }
}
