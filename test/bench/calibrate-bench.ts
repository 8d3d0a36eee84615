// `npm run bench -- calibrate [--records=N] [--threads=N]` (search worker threads; default min(2, components, cores)): replay rate and a full `cycles calibrate` on the
// analyzer bench's log (default 10 M records, cached under $TMPDIR/cycles-bench), each phase in its
// own process so its peak RSS is its own, printed next to the same run's ingest time.
// Budgets: one per tenant and unit, and one per tenant workspace ws-0 and unit (a hierarchy), sized
// at 95 % of the traffic's demand so they bind. Targets (2 cores): full calibrate over 10 M records
// ≤ 60 s and ≤ 2 GiB RSS.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {calibrateParallel} from '../../src/calibration/parallel-search.js'
import {loadReplayLog} from '../../src/calibration/replay-log.js'
import {type BudgetSpec, bookLayout, replay} from '../../src/calibration/replay.js'
import type {Unit} from '../../src/protocol/types.js'
import {writeBenchLog} from '../../src/simulate/synthetic.js'

const SELF = fileURLToPath(import.meta.url)

interface PhaseResult {
  seconds: number
  /** user + system CPU of the phase's process: what the phase costs whatever else the machine runs. */
  cpu_seconds: number
  max_rss_mb: number
  records?: number
  load_seconds?: number
  replay_seconds?: number
  replays?: number
  records_replayed?: number
  budgets?: number
  calibrated?: number
  in_band?: number
}

function arg(args: string[], name: string): string | undefined {
  const eq = args.find((a) => a.startsWith(`${name}=`))
  if (eq) return eq.slice(name.length + 1)
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}

async function budgetsFor(dbFile: string): Promise<BudgetSpec[]> {
  const db = await openShadowDb(dbFile, {create: false})
  try {
    const rows = await db.all<{scope: string; unit: Unit; demand: number}>(`
      SELECT scope, unit, sum(estimate)::DOUBLE AS demand FROM (
        SELECT 'tenant:' || tenant AS scope, unit, estimate FROM records WHERE endpoint IN ('reserve', 'decide')
        UNION ALL
        SELECT 'tenant:' || tenant || '/workspace:ws-0' AS scope, unit, estimate FROM records
          WHERE endpoint IN ('reserve', 'decide') AND scope_path LIKE 'tenant:%/workspace:ws-0/%')
      GROUP BY ALL ORDER BY scope, unit`)
    return rows.map((r) => ({scope: r.scope, unit: r.unit, allocated: Math.max(1, Math.round(r.demand * 0.95)), overdraft_limit: 0, status: 'ACTIVE' as const}))
  } finally {
    db.close()
  }
}

async function phase(name: string, file: string, dbFile: string, threadsArg?: number): Promise<PhaseResult> {
  let t = performance.now()
  let cpu0 = process.cpuUsage()
  const out: PhaseResult = {seconds: 0, cpu_seconds: 0, max_rss_mb: 0}
  if (name === 'ingest') {
    const db = await openShadowDb(dbFile, {create: true})
    out.records = (await ingest(db, [file])).ingested
    db.close()
  } else {
    const budgets = await budgetsFor(dbFile) // what --config would give; not part of the timed phase
    const started = performance.now()
    t = started
    cpu0 = process.cpuUsage()
    const db = await openShadowDb(dbFile, {create: false})
    const log = await loadReplayLog(db)
    db.close()
    out.load_seconds = (performance.now() - started) / 1000
    out.records = log.n
    if (name === 'replay') {
      const r0 = performance.now()
      replay(log, bookLayout(log, budgets, []))
      out.replay_seconds = (performance.now() - r0) / 1000
    } else {
      const result = await calibrateParallel({log, budgets, tenants: []}, {threads: threadsArg})
      const calibrated = result.budgets.filter((b) => b.status === 'calibrated')
      out.budgets = budgets.length
      out.calibrated = calibrated.length
      out.in_band = calibrated.filter((b) => b.suggested_denial_rate! >= 0.01 && b.suggested_denial_rate! <= 0.03).length
      out.replays = result.replay.replays
      out.records_replayed = result.replay.records_replayed
    }
  }
  out.seconds = (performance.now() - t) / 1000
  const cpu = process.cpuUsage(cpu0)
  out.cpu_seconds = (cpu.user + cpu.system) / 1e6
  out.max_rss_mb = Math.round(process.resourceUsage().maxRSS / 1024)
  return out
}

function runPhase(name: string, file: string, db: string, threads?: string): PhaseResult {
  const r = spawnSync(process.execPath, [SELF, '--phase', name, '--file', file, '--db', db, ...(threads ? ['--threads', threads] : [])], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']})
  if (r.status !== 0) throw new Error(`bench phase ${name} failed (${r.status})`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as PhaseResult
}

export async function run(args: string[]): Promise<void> {
  const n = Number(arg(args, '--records') ?? 10_000_000)
  const cache = path.join(os.tmpdir(), 'cycles-bench')
  fs.mkdirSync(cache, {recursive: true})
  const file = path.join(cache, `analyzer-${n}.jsonl`)
  if (!fs.existsSync(file)) {
    const t = performance.now()
    const truth = await writeBenchLog(file, n)
    fs.writeFileSync(`${file}.truth.json`, JSON.stringify(truth))
    console.log(`log: generated ${truth.records.toLocaleString('en-US')} records in ${((performance.now() - t) / 1000).toFixed(1)} s → ${file}`)
  } else console.log(`log: ${file} (cached, ${(fs.statSync(file).size / 2 ** 30).toFixed(2)} GiB)`)
  const work = fs.mkdtempSync(path.join(cache, 'calibrate-'))
  try {
    const db = path.join(work, 'shadow.duckdb')
    const load0 = os.loadavg().map((x) => x.toFixed(1)).join(' ')
    const ing = runPhase('ingest', file, db)
    const rep = runPhase('replay', file, db)
    const cal = runPhase('calibrate', file, db, arg(args, '--threads'))
    const rate = Math.round(rep.records! / rep.replay_seconds!)
    const check = (ok: boolean) => (ok ? 'ok' : 'MISSED')
    const cpu = (x: PhaseResult) => `cpu ${x.cpu_seconds.toFixed(1)} s`
    console.log(`  load average ${load0} at the start, ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at the end (${os.cpus().length} cores; wall times stretch with it, CPU times less)`)
    console.log(`  cycles shadow ingest                ${ing.seconds.toFixed(2).padStart(8)} s  ${Math.round(ing.records! / ing.seconds).toLocaleString('en-US').padStart(12)} rec/s  ${cpu(ing)}  peak RSS ${ing.max_rss_mb} MiB`)
    console.log(`  replay log load from DuckDB         ${rep.load_seconds!.toFixed(2).padStart(8)} s  ${rep.records!.toLocaleString('en-US').padStart(12)} records`)
    console.log(`  one full replay                     ${rep.replay_seconds!.toFixed(2).padStart(8)} s  ${rate.toLocaleString('en-US').padStart(12)} rec/s  peak RSS ${rep.max_rss_mb} MiB`)
    console.log(`  full calibrate (load + search)      ${cal.seconds.toFixed(2).padStart(8)} s  ${cal.replays!.toLocaleString('en-US').padStart(12)} replays, ${cal.records_replayed!.toLocaleString('en-US')} records stepped (load ${cal.load_seconds!.toFixed(1)} s)  ${cpu(cal)}  peak RSS ${cal.max_rss_mb} MiB`)
    console.log(`  budgets ${cal.budgets}, calibrated ${cal.calibrated}, in band jointly ${cal.in_band}`)
    console.log(`  calibrate ${cal.seconds.toFixed(1)} s wall, ${cal.cpu_seconds.toFixed(1)} s CPU (target ≤ 60 s at 10 M: ${n >= 10_000_000 ? check(cal.seconds <= 60) : 'n/a at this size'}); peak RSS ${cal.max_rss_mb} MiB (target ≤ 2048: ${check(cal.max_rss_mb <= 2048)})`)
  } finally {
    fs.rmSync(work, {recursive: true, force: true})
  }
}

if (process.argv.includes('--phase')) {
  const a = process.argv
  const threads = arg(a, '--threads')
  const result = await phase(arg(a, '--phase')!, arg(a, '--file')!, arg(a, '--db')!, threads ? Number(threads) : undefined)
  console.log(JSON.stringify(result))
}
