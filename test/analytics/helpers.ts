import path from 'node:path'

import {openShadowDb, type ShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {type PlantedSpec, plantedLog, writeJsonl} from '../../src/simulate/synthetic.js'
import {tempDir} from '../support/daemon.js'

export const T0 = Date.parse('2026-11-02T00:00:00.000Z')

/** The spec most report tests share: every number below is the truth the report must find. */
export const PLANTED: PlantedSpec = {
  seed: 11,
  start_ms: T0,
  scopes: [
    // 8 % → too_tight; 10 dry-runs, 4 denied by the real ledger
    {tenant: 'acme', scope_path: 'tenant:acme/workspace:prod/workflow:support/agent:triage', unit: 'USD_MICROCENTS', requests: 200, denials: 16, dry_runs: {count: 10, denials: 4},
      commits: Array.from({length: 100}, (_, i) => ({estimate: 3000, actual: i < 10 ? 4000 : 1000}))},
    // 4 % → warm
    {tenant: 'acme', scope_path: 'tenant:acme/workspace:prod/workflow:billing', unit: 'TOKENS', requests: 100, denials: 4,
      commits: Array.from({length: 50}, () => ({estimate: 1000, actual: 1000}))},
    // 2 % → goldilocks
    {tenant: 'globex', scope_path: 'tenant:globex/workspace:lab', unit: 'CREDITS', requests: 150, denials: 3,
      commits: Array.from({length: 40}, (_, i) => ({estimate: 800, actual: i % 2 === 0 ? 1000 : 600}))},
    // 0.5 % → loose
    {tenant: 'globex', scope_path: 'tenant:globex/workspace:prod', unit: 'USD_MICROCENTS', requests: 400, denials: 2},
    // 0 → decorative
    {tenant: 'initech', scope_path: 'tenant:initech', unit: 'RISK_POINTS', requests: 60, denials: 0},
    // below the sample floor
    {tenant: 'initech', scope_path: 'tenant:initech/agent:rare', unit: 'RISK_POINTS', requests: 12, denials: 5},
  ],
  loops: [
    // the Cycles signature: 47 reservations from one run in 90 s (identical: also a repeat)
    {tenant: 'acme', scope_path: 'tenant:acme/workflow:crawler', unit: 'CREDITS', run_id: 'loop-47', count: 47, seconds: 89, start_ms: T0 + 86_400_000},
    // 46 varied reservations in 90 s: below both thresholds
    {tenant: 'acme', scope_path: 'tenant:acme/workflow:crawler', unit: 'CREDITS', run_id: 'busy-46', count: 46, seconds: 89, start_ms: T0 + 2 * 86_400_000, identical: false},
    // 200 varied reservations over 5 minutes: every 90 s holds 60
    {tenant: 'acme', scope_path: 'tenant:acme/workflow:crawler', unit: 'CREDITS', run_id: 'storm-200', count: 200, seconds: 300, start_ms: T0 + 3 * 86_400_000, identical: false},
    // 6 identical reservations over an hour: a repeat signature only
    {tenant: 'acme', scope_path: 'tenant:acme/workflow:crawler', unit: 'CREDITS', run_id: 'repeat-6', count: 6, seconds: 3600, start_ms: T0 + 4 * 86_400_000},
  ],
  fanouts: [
    {tenant: 'globex', scope_path: 'tenant:globex/workflow:research', unit: 'TOKENS', root: 'fan-deep', branching: [3, 3, 3], start_ms: T0 + 5 * 86_400_000},
    {tenant: 'globex', scope_path: 'tenant:globex/workflow:research', unit: 'TOKENS', root: 'fan-wide', branching: [12], start_ms: T0 + 6 * 86_400_000},
    {tenant: 'globex', scope_path: 'tenant:globex/workflow:research', unit: 'TOKENS', root: 'fan-small', branching: [2, 1], start_ms: T0 + 7 * 86_400_000},
  ],
}

export function writePlanted(dir: string, name = 'planted.jsonl', spec: PlantedSpec = PLANTED): string {
  const file = path.join(dir, name)
  writeJsonl(file, plantedLog(spec))
  return file
}

export async function plantedDb(): Promise<{db: ShadowDb; dir: string; file: string}> {
  const dir = tempDir('cycles-analytics-')
  const file = writePlanted(dir)
  const db = await openShadowDb(path.join(dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
  await ingest(db, [file])
  return {db, dir, file}
}
