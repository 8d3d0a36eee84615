// `npm run bench -- analyzer [--records=N]`: the shadow analyzer on a generated log of N records
// (default 10 M, cached under $TMPDIR/cycles-bench). Measured in the same run, each phase in its own
// process (so its peak RSS is its own): raw DuckDB `CREATE TABLE AS SELECT * FROM read_json(...,
// columns = {...})` on the same file, `cycles shadow ingest`, and the full report.
// Targets: ingest ≥ 500,000 records/s and within 2× of raw; report ≤ 10 s; peak RSS ≤ 2 GiB.
//
// Many small files (`--small-files=N`, default 10,000 files of 10 records; `--case=small|large`
// runs one case): `cycles shadow ingest` of the folder against raw DuckDB reading the same files in
// one CTAS, and against ingesting them one file per transaction (as before batching).
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {buildReport} from '../../src/analytics/report.js'
import {runReport} from '../../src/analytics/run.js'
import {columnsLiteral, sqlString} from '../../src/analytics/schema.js'
import {type BenchLogTruth, writeBenchLog} from '../../src/simulate/synthetic.js'

const SELF = fileURLToPath(import.meta.url)

interface PhaseResult {
  seconds: number
  max_rss_mb: number
  rows?: number
  loops?: string[]
  fanouts?: string[]
  scopes?: number
}

function arg(args: string[], name: string): string | undefined {
  const eq = args.find((a) => a.startsWith(`${name}=`))
  if (eq) return eq.slice(name.length + 1)
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}

async function phase(name: string, file: string, db: string): Promise<PhaseResult> {
  const t = performance.now()
  const out: PhaseResult = {seconds: 0, max_rss_mb: 0}
  if (name === 'raw') {
    const shadow = await openShadowDb(db, {create: true})
    const [{n}] = await shadow.all<{n: number}>(
      `CREATE TABLE raw AS SELECT * FROM read_json(${sqlString(file)}, format = 'newline_delimited', columns = ${columnsLiteral()}); SELECT count(*)::DOUBLE AS n FROM raw`,
    )
    await shadow.run('CHECKPOINT')
    shadow.close()
    out.rows = n
  } else if (name === 'small-raw') {
    const shadow = await openShadowDb(db, {create: true})
    const files = fs.readdirSync(file).map((f) => path.join(file, f))
    const [{n}] = await shadow.all<{n: number}>(
      `CREATE TABLE raw AS SELECT * FROM read_json([${files.map((f) => sqlString(f)).join(', ')}], format = 'newline_delimited', columns = ${columnsLiteral()}); SELECT count(*)::DOUBLE AS n FROM raw`,
    )
    await shadow.run('CHECKPOINT')
    shadow.close()
    out.rows = n
  } else if (name === 'small-per-file') {
    const shadow = await openShadowDb(db, {create: true})
    const r = await ingest(shadow, [file], {batchFiles: 1})
    shadow.close()
    out.rows = r.ingested
  } else if (name === 'ingest') {
    const shadow = await openShadowDb(db, {create: true})
    const r = await ingest(shadow, [file])
    shadow.close()
    out.rows = r.ingested
  } else if (name === 'report-html') {
    // what `cycles shadow report --format html` does: the report, its daily series and sources, charts, the page
    const r = await runReport(db, {format: 'html', output: `${db}.report.html`})
    out.loops = r.report.loops.map((l) => l.run_id)
    out.scopes = r.report.scopes.length
    out.rows = fs.statSync(`${db}.report.html`).size
  } else {
    const shadow = await openShadowDb(db, {create: false})
    const r = await buildReport(shadow, {})
    shadow.close()
    out.loops = r.loops.map((l) => l.run_id)
    out.fanouts = r.fanout.filter((f) => f.flagged).map((f) => f.run_id)
    out.scopes = r.scopes.length
  }
  out.seconds = (performance.now() - t) / 1000
  out.max_rss_mb = Math.round(process.resourceUsage().maxRSS / 1024)
  return out
}

function runPhase(name: string, file: string, db: string): PhaseResult {
  const r = spawnSync(process.execPath, [SELF, '--phase', name, '--file', file, '--db', db], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']})
  if (r.status !== 0) throw new Error(`bench phase ${name} failed (${r.status})`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as PhaseResult
}

export async function run(args: string[]): Promise<void> {
  const only = arg(args, '--case')
  const cache = path.join(os.tmpdir(), 'cycles-bench')
  fs.mkdirSync(cache, {recursive: true})
  if (only !== 'small') await runLarge(args, cache)
  if (only !== 'large') await runSmallFiles(args, cache)
}

/** Split a generated log into `count` files of `perFile` records (cached). */
async function smallFiles(cache: string, count: number, perFile: number): Promise<string> {
  const dir = path.join(cache, `analyzer-small-${count}x${perFile}`)
  if (fs.existsSync(path.join(dir, '.done'))) return dir
  fs.rmSync(dir, {recursive: true, force: true})
  fs.mkdirSync(dir, {recursive: true})
  const source = path.join(cache, `analyzer-small-source-${count * perFile}.jsonl`)
  await writeBenchLog(source, count * perFile)
  const lines = fs.readFileSync(source, 'utf8').split('\n').filter((l) => l !== '')
  for (let i = 0; i < count; i++) {
    fs.writeFileSync(path.join(dir, `decisions-${String(i).padStart(6, '0')}.jsonl`), `${lines.slice(i * perFile, (i + 1) * perFile).join('\n')}\n`)
  }
  fs.rmSync(source)
  fs.writeFileSync(path.join(dir, '.done'), '')
  return dir
}

async function runSmallFiles(args: string[], cache: string): Promise<void> {
  const count = Number(arg(args, '--small-files') ?? 10_000)
  const perFile = 10
  const dir = await smallFiles(cache, count, perFile)
  console.log(`small files: ${count.toLocaleString('en-US')} files of ${perFile} records in ${dir}`)
  const work = fs.mkdtempSync(path.join(cache, 'run-'))
  try {
    const raw = runPhase('small-raw', dir, path.join(work, 'raw.duckdb'))
    const ing = runPhase('ingest', dir, path.join(work, 'shadow.duckdb'))
    const again = runPhase('ingest', dir, path.join(work, 'shadow.duckdb'))
    const perCall = runPhase('small-per-file', dir, path.join(work, 'per-file.duckdb'))
    const rows = [
      ['raw DuckDB read_json CTAS, all files (baseline)', raw],
      ['cycles shadow ingest (batched)', ing],
      ['cycles shadow ingest again (all unchanged)', again],
      ['ingest one file per transaction (batchFiles: 1)', perCall],
    ] as const
    for (const [label, r] of rows) {
      console.log(`  ${label.padEnd(50)} ${`${r.seconds.toFixed(2)} s`.padStart(9)}  ${`${Math.round(count / r.seconds).toLocaleString('en-US')} files/s`.padStart(16)}  rows ${r.rows}  peak RSS ${r.max_rss_mb} MiB`)
    }
    const expected = count * perFile
    const check = (ok: boolean) => (ok ? 'ok' : 'MISSED')
    console.log(`  batched ingest ${(ing.seconds / raw.seconds).toFixed(2)}× raw, ${(perCall.seconds / ing.seconds).toFixed(1)}× faster than one file per transaction; ingested rows ${check(ing.rows === expected && perCall.rows === expected)}; re-ingest added ${again.rows} (${check(again.rows === 0)})`)
  } finally {
    fs.rmSync(work, {recursive: true, force: true})
  }
}

async function runLarge(args: string[], cache: string): Promise<void> {
  const n = Number(arg(args, '--records') ?? 10_000_000)
  const file = path.join(cache, `analyzer-${n}.jsonl`)
  const truthFile = `${file}.truth.json`
  let truth: BenchLogTruth
  if (fs.existsSync(file) && fs.existsSync(truthFile)) {
    truth = JSON.parse(fs.readFileSync(truthFile, 'utf8')) as BenchLogTruth
    console.log(`log: ${file} (cached, ${truth.records.toLocaleString('en-US')} records, ${(fs.statSync(file).size / 2 ** 30).toFixed(2)} GiB)`)
  } else {
    const t = performance.now()
    truth = await writeBenchLog(file, n)
    fs.writeFileSync(truthFile, JSON.stringify(truth))
    console.log(`log: generated ${truth.records.toLocaleString('en-US')} records in ${((performance.now() - t) / 1000).toFixed(1)} s → ${file} (${(fs.statSync(file).size / 2 ** 30).toFixed(2)} GiB)`)
  }
  const work = fs.mkdtempSync(path.join(cache, 'run-'))
  try {
    // raw before and after ingest (page cache and machine load shift over a run); the faster is the baseline
    const raw1 = runPhase('raw', file, path.join(work, 'raw.duckdb'))
    fs.rmSync(path.join(work, 'raw.duckdb'), {force: true})
    const ing = runPhase('ingest', file, path.join(work, 'shadow.duckdb'))
    const rep = runPhase('report', file, path.join(work, 'shadow.duckdb'))
    const html = runPhase('report-html', file, path.join(work, 'shadow.duckdb'))
    const raw2 = runPhase('raw', file, path.join(work, 'raw.duckdb'))
    console.log(`  raw runs: ${raw1.seconds.toFixed(2)} s before ingest, ${raw2.seconds.toFixed(2)} s after`)
    const raw = raw1.seconds <= raw2.seconds ? raw1 : raw2
    const rate = (x: PhaseResult) => Math.round(truth.records / x.seconds)
    const rows = [
      ['raw DuckDB read_json CTAS (baseline)', `${raw.seconds.toFixed(2)} s`, `${rate(raw).toLocaleString('en-US')} rec/s`, `${raw.max_rss_mb} MiB`],
      ['cycles shadow ingest', `${ing.seconds.toFixed(2)} s`, `${rate(ing).toLocaleString('en-US')} rec/s`, `${ing.max_rss_mb} MiB`],
      ['cycles shadow report (full)', `${rep.seconds.toFixed(2)} s`, `${rep.scopes} scopes`, `${rep.max_rss_mb} MiB`],
      ['cycles shadow report --format html', `${html.seconds.toFixed(2)} s`, `${((html.rows ?? 0) / 2 ** 20).toFixed(1)} MiB page`, `${html.max_rss_mb} MiB`],
    ]
    for (const r of rows) console.log(`  ${r[0].padEnd(40)} ${r[1].padStart(9)}  ${r[2].padStart(18)}  peak RSS ${r[3]}`)
    const ratio = ing.seconds / raw.seconds
    const peak = Math.max(ing.max_rss_mb, rep.max_rss_mb, html.max_rss_mb)
    const found = (want: string[], got: string[] = []) => want.every((x) => got.includes(x))
    const check = (ok: boolean) => (ok ? 'ok' : 'MISSED')
    console.log(`  ingest ${rate(ing).toLocaleString('en-US')} rec/s (target ≥ 500,000: ${check(rate(ing) >= 500_000)}); ingest/raw time ratio ${ratio.toFixed(2)}× (target ≤ 2: ${check(ratio <= 2)})`)
    console.log(`  report ${rep.seconds.toFixed(2)} s, with HTML ${html.seconds.toFixed(2)} s (target ≤ 10: ${check(rep.seconds <= 10 && html.seconds <= 10)}); peak RSS of ingest and reports ${peak} MiB (target ≤ 2048: ${check(peak <= 2048)})`)
    console.log(`  planted: ${truth.loops.length} loops (${check(found(truth.loops, rep.loops))}, ${rep.loops?.length} reported), ${truth.fanouts.length} fan-outs (${check(found(truth.fanouts, rep.fanouts))}, ${rep.fanouts?.length} flagged); ingested rows ${ing.rows === truth.records ? 'ok' : `MISMATCH ${ing.rows}`}`)
  } finally {
    fs.rmSync(work, {recursive: true, force: true})
  }
}

if (process.argv.includes('--phase')) {
  const a = process.argv
  const result = await phase(arg(a, '--phase')!, arg(a, '--file')!, arg(a, '--db')!)
  console.log(JSON.stringify(result))
}
