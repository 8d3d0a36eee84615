// `cycles simulate --out FILE`: a scenario run on a simulated clock through the daemon's own
// RuntimeService, an in-memory embedded store seeded like the daemon, and the one record builder —
// so every line is exactly what the daemon would have written. Weeks of traffic in seconds.
import fs from 'node:fs'
import path from 'node:path'

import {buildDecisionRecord, type DecisionRecord, type RecordFacts} from '../decision-log/record.js'
import type {CyclesConfig} from '../config/schema.js'
import {controlFromConfig, seedFromConfig} from '../daemon/config-seed.js'
import {RuntimeService, type ServiceResponse} from '../daemon/runtime-service.js'
import {TierClassifier} from '../evaluator/tiers.js'
import {ProtocolError} from '../protocol/errors.js'
import {EmbeddedStore} from '../store/embedded/embedded-store.js'
import {type SizedBudget, scenarioConfig} from './fleet.js'
import {Rng} from './prng.js'
import {type Scenario, tenantIds} from './scenario.js'
import {type Call, type TimelineOptions, buildTimeline, callsOf} from './timeline.js'

export interface SimulationStats {
  scenario: string
  seed: number
  out: string
  first_ts: string
  last_ts: string
  days: number
  tenants: number
  budgets: number
  runs: number
  records: number
  by_endpoint: Record<string, number>
  would_denials: number
  incidents: Array<{type: string; run_id?: string; tenant?: string; scope?: string}>
  wall_seconds: number
  sized_budgets: SizedBudget[]
}

export function requestBody(call: Call, key: string): Record<string, unknown> {
  const {run, step} = call
  const subject = {
    tenant: run.tenant,
    workspace: run.workspace,
    ...(run.workflow ? {workflow: run.workflow} : {}),
    agent: run.agent,
    dimensions: {run_id: run.run_id, ...(run.parent_run_id ? {parent_run_id: run.parent_run_id} : {})},
  }
  return {
    idempotency_key: key,
    subject,
    action: step.action,
    estimate: {unit: run.unit, amount: step.estimate},
    ...(step.kind === 'dry_run' ? {dry_run: true} : {}),
  }
}

/** `adjustConfig` changes the sized config before seeding (tests: overage policies, overdraft, statuses). */
export async function simulateOffline(s: Scenario, out: string, options: TimelineOptions = {}, adjustConfig?: (config: CyclesConfig) => CyclesConfig): Promise<SimulationStats> {
  const started = performance.now()
  const timeline = buildTimeline(s, options)
  const sized = scenarioConfig(s, timeline)
  const budgets = sized.budgets
  const config = adjustConfig ? adjustConfig(sized.config) : sized.config
  let now = timeline.start_ms
  const clock = () => now
  const store = await EmbeddedStore.open({now: clock})
  await seedFromConfig(store, config, now)
  const control = controlFromConfig(config)
  const service = new RuntimeService({store, classifier: new TierClassifier(config.tiers), control: () => control, now: clock, newId: idGen(new Rng(s.seed ^ 0x5eed))})
  const rng = new Rng(s.seed ^ 0x10c)
  fs.mkdirSync(path.dirname(path.resolve(out)), {recursive: true})
  const fd = fs.openSync(out, 'w')
  const stats: SimulationStats = {
    scenario: s.name,
    seed: s.seed,
    out,
    first_ts: new Date(timeline.start_ms).toISOString(),
    last_ts: '',
    days: (timeline.end_ms - timeline.start_ms) / 86_400_000,
    tenants: tenantIds(s).length,
    budgets: budgets.length,
    runs: timeline.runs.length,
    records: 0,
    by_endpoint: {},
    would_denials: 0,
    incidents: [],
    wall_seconds: 0,
    sized_budgets: budgets,
  }
  let buffer: string[] = []
  const write = (r: DecisionRecord) => {
    buffer.push(JSON.stringify(r))
    stats.records++
    stats.by_endpoint[r.endpoint] = (stats.by_endpoint[r.endpoint] ?? 0) + 1
    if ((r.endpoint === 'reserve' || r.endpoint === 'decide') && r.would_decision === 'DENY') stats.would_denials++
    if (buffer.length >= 10_000) {
      fs.writeSync(fd, `${buffer.join('\n')}\n`)
      buffer = []
    }
  }
  const reservations = new Map<object, string>()
  const seenIncident = new Set<string>()
  let n = 0
  try {
    for (const call of callsOf(timeline)) {
      now = call.t_ms
      if (++n % 2000 === 0) {
        await service.expireDue(10_000)
        if (n % 50_000 === 0) store.state.prune(now)
      }
      if (call.run.incident && !seenIncident.has(call.run.run_id) && !call.run.parent_run_id) {
        seenIncident.add(call.run.run_id)
        stats.incidents.push({type: call.run.incident, run_id: call.run.run_id, tenant: call.run.tenant})
      }
      const ctx = {request_id: `req_${rng.u32().toString(36)}${rng.u32().toString(36)}`, trace_id: rng.uuid().replaceAll('-', ''), tenant: call.run.tenant}
      const key = `sim-${call.run.run_id}-${call.step.t_ms}-${call.phase}`
      let response: ServiceResponse | undefined
      let facts: RecordFacts | undefined
      let status = 200
      try {
        if (call.phase === 'open') {
          const body = requestBody(call, key)
          response = call.step.kind === 'decide' ? await service.decide(ctx, body) : await service.reserve(ctx, body)
          if (call.step.kind === 'reserve') {
            const rid = (JSON.parse(response.body) as {reservation_id?: string}).reservation_id
            if (rid) reservations.set(call.step, rid)
          }
        } else {
          const rid = reservations.get(call.step)
          if (!rid) continue // the reserve was refused (enforce mode): an SDK would not commit
          reservations.delete(call.step)
          response = call.step.release
            ? await service.release(ctx, rid, {idempotency_key: key, reason: 'step failed'})
            : await service.commit(ctx, rid, {idempotency_key: key, actual: {unit: call.run.unit, amount: call.step.actual ?? 0}})
        }
        facts = response.record
        status = response.status
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error
        facts = error.context as RecordFacts | undefined
        status = error.status
      }
      if (!facts) continue
      write(
        buildDecisionRecord(facts, {
          id: rng.uuid(),
          ts_ms: now,
          request_id: ctx.request_id,
          trace_id: ctx.trace_id,
          tenant: ctx.tenant,
          http_status: status,
          latency_us: 150 + rng.int(0, 900),
          seq: stats.records + 1,
        }),
      )
    }
    if (buffer.length > 0) fs.writeSync(fd, `${buffer.join('\n')}\n`)
  } finally {
    fs.closeSync(fd)
    await store.close()
  }
  stats.last_ts = new Date(now).toISOString()
  for (const b of budgets) {
    if (b.headroom !== undefined && b.headroom < 0.98) stats.incidents.push({type: 'tight_budget', scope: b.scope})
    if (b.headroom !== undefined && b.headroom >= 2) stats.incidents.push({type: 'decorative_budget', scope: b.scope})
  }
  stats.wall_seconds = (performance.now() - started) / 1000
  return stats
}

function idGen(rng: Rng): () => string {
  return () => rng.uuid()
}
