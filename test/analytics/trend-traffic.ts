// Planted traffic for the trend tests: ten days whose truth is known by construction.
// - tenant:acme (USD_MICROCENTS) is funded 10,000; its workflow spends 2,000 a day (10 reserve/commit
//   pairs of 200), so its committed spend reaches the allocation on day 5 (2026-11-06), and the shadow
//   ledger would deny every reservation from day 6 (2026-11-07) on (BUDGET_EXCEEDED at tenant:acme).
// - tenant:globex (TOKENS) estimates its `tool.search` action right (1,000 for 1,000) for four days;
//   from day 5 (2026-11-06) the actual is 1,600: estimates drift out of the 0.8–1.2 band that day.
//   Its `llm.completion chat` stays exact throughout (no drift), and `llm.embed vectors` is off from
//   the start (out of band, but no drift).
// - run loop-late makes 50 identical reservations in 60 s on day 9 (a loop signature).
import path from 'node:path'

import {type DecisionRecord} from '../../src/decision-log/record.js'
import {Rng} from '../../src/simulate/prng.js'
import {makeRecord, writeJsonl} from '../../src/simulate/synthetic.js'

export const DAY_MS = 86_400_000
export const START_MS = Date.parse('2026-11-02T00:00:00.000Z')
export const DAYS = 10
export const ACME = {tenant: 'acme', scope_path: 'tenant:acme/workflow:spend', budget: 'tenant:acme', unit: 'USD_MICROCENTS' as const, allocated: 10_000, perDay: 2_000}
export const RUNS_OUT_ON = '2026-11-06'
export const FIRST_DENIAL_ON = '2026-11-07'
export const GLOBEX = {tenant: 'globex', scope_path: 'tenant:globex/workflow:research', unit: 'TOKENS' as const}
export const DRIFT_FROM = '2026-11-06'
export const LOOP_DAY = 8

export const dayIso = (d: number) => new Date(START_MS + d * DAY_MS).toISOString().slice(0, 10)

/** The planted records of days [fromDay, toDay). */
export function trendRecords(fromDay = 0, toDay = DAYS, seed = 5): DecisionRecord[] {
  const rng = new Rng(seed)
  const out: DecisionRecord[] = []
  let res = 0
  const pair = (ts: number, p: {tenant: string; scope_path: string; unit: 'USD_MICROCENTS' | 'TOKENS'}, estimate: number, actual: number, action: {kind: string; name: string}, deny: boolean, run: string) => {
    const reservation_id = `res-${seed}-${res++}`
    out.push(makeRecord(rng, {ts_ms: ts, endpoint: 'reserve', ...p, estimate, run_id: run, action, reservation_id, would_decision: deny ? 'DENY' : 'ALLOW', would_reason_code: deny ? 'BUDGET_EXCEEDED' : undefined}))
    out.push(makeRecord(rng, {ts_ms: ts + 1000, endpoint: 'commit', ...p, estimate, actual, run_id: run, action, reservation_id}))
  }
  for (let d = fromDay; d < toDay; d++) {
    const day = START_MS + d * DAY_MS
    // acme: 10 pairs of 200 a day; from the day after the allocation is reached, the shadow ledger denies.
    for (let i = 0; i < 10; i++) pair(day + 3_600_000 + i * 60_000, ACME, 200, 200, {kind: 'llm.completion', name: 'chat'}, d >= 5, `acme-${d}-${i}`)
    for (let i = 0; i < 8; i++) {
      const ts = day + 7_200_000 + i * 60_000
      pair(ts, GLOBEX, 1000, d >= 4 ? 1600 : 1000, {kind: 'tool', name: 'search'}, false, `g-s-${d}-${i}`)
      pair(ts + 10_000, GLOBEX, 500, 500, {kind: 'llm.completion', name: 'chat'}, false, `g-c-${d}-${i}`)
      pair(ts + 20_000, GLOBEX, 300, 600, {kind: 'llm.embed', name: 'vectors'}, false, `g-e-${d}-${i}`)
    }
    if (d === LOOP_DAY) {
      for (let i = 0; i < 50; i++) out.push(makeRecord(rng, {ts_ms: day + 36_000_000 + i * 1200, endpoint: 'reserve', ...GLOBEX, estimate: 50, run_id: 'loop-late', action: {kind: 'tool', name: 'retry'}}))
    }
  }
  return out.sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts))
}

export function writeTrendLog(dir: string, name = 'trend.jsonl', fromDay = 0, toDay = DAYS, seed = 5): string {
  const file = path.join(dir, name)
  writeJsonl(file, trendRecords(fromDay, toDay, seed))
  return file
}

/** A daemon config with the planted allocations (calibrate's --config). */
export function trendConfigYaml(): string {
  return [
    'tenants:',
    '  - {id: acme, name: Acme}',
    '  - {id: globex, name: Globex}',
    'budgets:',
    `  - {scope: ${ACME.budget}, unit: ${ACME.unit}, allocated: ${ACME.allocated}}`,
    `  - {scope: tenant:globex, unit: TOKENS, allocated: 100000000}`,
    '',
  ].join('\n')
}
