import {createHash} from 'node:crypto'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {buildReport} from '../../src/analytics/report.js'
import {recordProblems} from '../../src/analytics/schema.js'
import {Daemon} from '../../src/daemon/daemon.js'
import {scenarioConfig} from '../../src/simulate/fleet.js'
import {driveHttp} from '../../src/simulate/http.js'
import {simulateOffline} from '../../src/simulate/offline.js'
import {Rng} from '../../src/simulate/prng.js'
import {loadScenario, parseScenario} from '../../src/simulate/scenario.js'
import {buildTimeline} from '../../src/simulate/timeline.js'
import {tempDir} from '../support/daemon.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const SMALL = path.join(ROOT, 'fixtures/scenarios/small.yaml')
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex')

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
const isString = (x: unknown) => typeof x === 'string' && x !== ''
const isCount = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0
/** Field → check, from the README's "Decision log (schema v1)" table. */
const SCHEMA_V1: Record<string, (x: any) => boolean> = {
  v: (x) => x === 1,
  id: (x) => UUID.test(x),
  ts: (x) => ISO_MS.test(x),
  endpoint: (x) => ['reserve', 'decide', 'commit', 'release', 'extend', 'event'].includes(x),
  request_id: isString,
  trace_id: isString,
  tenant: isString,
  dry_run: (x) => typeof x === 'boolean',
  mode: (x) => x === 'shadow' || x === 'enforce',
  tier: (x) => ['low', 'medium', 'high'].includes(x),
  subject: (x) => typeof x === 'object' && x !== null && !Array.isArray(x),
  scope_path: isString,
  affected_scopes: (x) => Array.isArray(x) && x.length > 0 && x.every(isString),
  run_id: isString,
  parent_run_id: isString,
  action: (x) => typeof x === 'object' && isString(x?.kind) && isString(x?.name) && Object.keys(x).length === 2,
  unit: (x) => ['USD_MICROCENTS', 'TOKENS', 'CREDITS', 'RISK_POINTS'].includes(x),
  estimate: isCount,
  actual: isCount,
  reservation_id: isString,
  decision: (x) => ['ALLOW', 'ALLOW_WITH_CAPS', 'DENY'].includes(x),
  reason_code: isString,
  would_decision: (x) => ['ALLOW', 'ALLOW_WITH_CAPS', 'DENY'].includes(x),
  would_reason_code: isString,
  denied_scope: isString,
  http_status: (x) => Number.isSafeInteger(x) && x >= 100 && x <= 599,
  latency_us: isCount,
  store_error: isString,
  overage_policy: (x) => ['REJECT', 'ALLOW_IF_AVAILABLE', 'ALLOW_WITH_OVERDRAFT'].includes(x),
  seq: (x) => Number.isSafeInteger(x) && x > 0,
  enforce_percent: (x) => Number.isInteger(x) && x >= 0 && x <= 100,
}
const REQUIRED = ['v', 'id', 'ts', 'endpoint', 'request_id', 'trace_id', 'tenant', 'dry_run', 'mode', 'tier', 'action', 'unit', 'decision', 'would_decision', 'http_status', 'latency_us']

function schemaV1Problems(r: Record<string, unknown>): string[] {
  const out: string[] = []
  for (const k of REQUIRED) if (!(k in r)) out.push(`missing ${k}`)
  for (const [k, v] of Object.entries(r)) {
    const check = SCHEMA_V1[k]
    if (!check) out.push(`unknown field ${k}`)
    else if (!check(v)) out.push(`bad ${k}: ${JSON.stringify(v)}`)
  }
  if (r.endpoint !== 'event' && !('estimate' in r)) out.push(`${String(r.endpoint)} without estimate`)
  if ((r.endpoint === 'commit' || r.endpoint === 'event') && !('actual' in r)) out.push(`${String(r.endpoint)} without actual`)
  if (['commit', 'release', 'extend'].includes(r.endpoint as string) && !('reservation_id' in r)) out.push(`${String(r.endpoint)} without reservation_id`)
  if (r.decision === 'DENY' && !('reason_code' in r)) out.push('DENY without reason_code')
  if (r.would_decision === 'DENY' && !('would_reason_code' in r)) out.push('would DENY without would_reason_code')
  return out
}

describe('prng', () => {
  it('is deterministic per seed and uniform enough', () => {
    const a = new Rng(42)
    const b = new Rng(42)
    const xs = Array.from({length: 1000}, () => a.next())
    expect(Array.from({length: 1000}, () => b.next())).toEqual(xs)
    expect(new Rng(43).next()).not.toBe(xs[0])
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length
    expect(mean).toBeGreaterThan(0.45)
    expect(mean).toBeLessThan(0.55)
    expect(new Rng(1).uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})

describe('cycles simulate --out', () => {
  it('writes schema-v1 records, byte-identical for the same seed, different for another', async () => {
    const dir = tempDir('cycles-sim-')
    const s = loadScenario(SMALL)
    const a = await simulateOffline(s, path.join(dir, 'a.jsonl'))
    const b = await simulateOffline(loadScenario(SMALL), path.join(dir, 'b.jsonl'))
    expect(sha(path.join(dir, 'a.jsonl'))).toBe(sha(path.join(dir, 'b.jsonl')))
    expect(a.records).toBe(b.records)
    const other = loadScenario(SMALL)
    other.seed = 8
    await simulateOffline(other, path.join(dir, 'c.jsonl'))
    expect(sha(path.join(dir, 'c.jsonl'))).not.toBe(sha(path.join(dir, 'a.jsonl')))

    const lines = fs.readFileSync(path.join(dir, 'a.jsonl'), 'utf8').trim().split('\n')
    expect(lines.length).toBe(a.records)
    const records = lines.map((l) => JSON.parse(l))
    // Checked against the README's schema-v1 table, written out here (not the analyzer's own checker).
    const problems = records.flatMap((r, i) => schemaV1Problems(r).map((p) => `record ${i}: ${p}`))
    expect(problems.slice(0, 10)).toEqual([])
    expect(new Set(records.map((r) => r.id)).size).toBe(records.length)
    // Timestamps never go backwards, and each commit / release follows its own reserve.
    const order: string[] = []
    for (let i = 1; i < records.length; i++) if (records[i].ts < records[i - 1].ts) order.push(`record ${i} goes back in time`)
    expect(order.slice(0, 5)).toEqual([])
    const reserved = new Map<string, Record<string, any>>()
    const orphans: string[] = []
    let finalized = 0
    for (const r of records) {
      if (r.endpoint === 'reserve' && !r.dry_run && r.reservation_id) reserved.set(r.reservation_id, r)
      if (r.endpoint === 'commit' || r.endpoint === 'release') {
        finalized++
        const origin = reserved.get(r.reservation_id)
        const same = origin && [r.estimate, r.unit, r.scope_path, r.run_id].every((v, k) => v === [origin.estimate, origin.unit, origin.scope_path, origin.run_id][k])
        if (!same) orphans.push(`${r.endpoint} of ${r.reservation_id}: ${JSON.stringify([r.estimate, r.unit, r.scope_path, r.run_id])}`)
      }
    }
    expect(finalized).toBeGreaterThan(100)
    expect(orphans.slice(0, 5)).toEqual([])
    // The analyzer's own checker agrees: none of these lines is a malformed record.
    for (const l of lines.slice(0, 200)) expect(recordProblems(l)).toEqual(['rejected by the JSON reader (a field has the wrong type)'])
    expect(new Set(records.map((r) => r.endpoint))).toEqual(new Set(['reserve', 'decide', 'commit', 'release']))
    expect(records.some((r) => r.dry_run === true)).toBe(true)
    expect(records[0].ts >= '2026-11-02T00:00:00.000Z').toBe(true)
    expect(records.at(-1).ts < '2026-11-05T01:00:00.000Z').toBe(true)
    // commits carry the reservation's estimate and the actual
    const commit = records.find((r) => r.endpoint === 'commit')
    expect(typeof commit.estimate).toBe('number')
    expect(typeof commit.actual).toBe('number')
  })

  it('the report finds the scenario incidents: loop, fan-out, too-tight and decorative budgets', async () => {
    const dir = tempDir('cycles-sim-')
    const file = path.join(dir, 'sim.jsonl')
    await simulateOffline(loadScenario(SMALL), file)
    const db = await openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
    try {
      const ing = await ingest(db, [file])
      expect(ing.malformed).toBe(0)
      const report = await buildReport(db, {})
      expect(report.loops.map((l) => l.run_id)).toEqual([expect.stringMatching(/^acme-.*-loop-0$/)])
      expect(report.loops[0]).toMatchObject({count: 47, scope: 'tenant:acme/workspace:prod/workflow:research/agent:researcher'})
      const flagged = report.fanout.filter((f) => f.flagged)
      expect(flagged.map((f) => [f.children, f.depth, f.amplification])).toEqual([[3, 3, 27]])
      expect(flagged[0].run_id).toMatch(/^globex-.*-fanout-1$/)
      const band = (scope: string, unit: string) => report.scopes.find((s) => s.scope === scope && s.unit === unit)?.band
      expect(band('tenant:acme/workspace:prod/workflow:support/agent:triage', 'USD_MICROCENTS')).toBe('too_tight')
      expect(band('tenant:initech/workspace:prod/workflow:research/agent:researcher', 'CREDITS')).toBe('decorative')
      // estimate accuracy reflects the scenario's actual/estimate ratio (median 0.8 → R:C above 1)
      const triage = report.scopes.find((s) => s.scope === 'tenant:globex/workspace:prod/workflow:support/agent:triage')!
      expect(triage.reserve_commit_ratio).toBeGreaterThan(1.05)
      expect(triage.reserve_commit_ratio).toBeLessThan(1.4)
    } finally {
      db.close()
    }
  })

  it('rejects a bad scenario with the field named', () => {
    expect(() => parseScenario('tenants: [a]\nagents: [{name: x, unit: DOLLARS, action: {kind: a, name: b}, runs_per_day: 1, estimate: {median: 1}}]')).toThrow(/agents\.0\.unit/)
  })
})

describe('cycles simulate --url', () => {
  it('drives a running daemon over HTTP: reserves, commits, dry-runs, decides land in its decision log', async () => {
    const dir = tempDir('cycles-drive-')
    const s = loadScenario(SMALL)
    const burst = {start_ms: Date.now(), days: 2 / 1440, rate_factor: 150}
    const {config} = scenarioConfig(s, buildTimeline(s, burst))
    const daemon = await Daemon.start({config, port: 0, logDir: path.join(dir, 'log'), stateDir: path.join(dir, 'state')})
    let stats
    try {
      stats = await driveHttp(s, {...burst, url: daemon.url, speed: 0, concurrency: 8})
    } finally {
      await daemon.stop()
    }
    expect(stats.calls).toBeGreaterThan(100)
    expect(Object.keys(stats.by_status).sort()).toEqual(['200'])
    const records = fs
      .readdirSync(path.join(dir, 'log'))
      .filter((f) => f.endsWith('.jsonl')) // the segments, not the checkpoint file
      .flatMap((f) => fs.readFileSync(path.join(dir, 'log', f), 'utf8').trim().split('\n'))
      .map((l) => JSON.parse(l))
    expect(records.length).toBe(stats.calls)
    const endpoints = new Set(records.map((r) => r.endpoint))
    expect(endpoints).toEqual(new Set(['reserve', 'commit', 'release', 'decide']))
    expect(records.filter((r) => r.run_id?.includes('-loop-0')).length).toBe(47 * 2)
  })

  it('cycles simulate via the built binary: --out with --seed, --json summary', () => {
    const dir = tempDir('cycles-sim-cli-')
    const out = path.join(dir, 'x.jsonl')
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/run.js'), 'simulate', '--scenario', SMALL, '--out', out, '--days', '1', '--seed', '3', '--json'], {cwd: ROOT, encoding: 'utf8'})
    expect(r.status, r.stderr).toBe(0)
    const summary = JSON.parse(r.stdout)
    expect(summary).toMatchObject({mode: 'offline', seed: 3, tenants: 3, budgets: 6})
    expect(fs.readFileSync(out, 'utf8').trim().split('\n').length).toBe(summary.records)
    const bad = spawnSync(process.execPath, [path.join(ROOT, 'bin/run.js'), 'simulate', '--scenario', SMALL], {cwd: ROOT, encoding: 'utf8'})
    expect(bad.status).toBe(2)
  })
})
