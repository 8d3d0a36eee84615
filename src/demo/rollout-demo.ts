// The demo's rollout half, after calibration: plan the rollout from the calibration JSON (what
// `cycles rollout plan` does), start a daemon with the admin plane and the fleet's budgets, drive the
// rolled-out tier's traffic live, apply the plan's steps up to the first enforce step through the
// admin API (what `cycles rollout apply` does: the real gate on the daemon's live figures), then plant
// a regression — the tier's budgets cut to a tenth — and let the daemon's auto-rollback guard put
// the tier back in shadow by itself. Nothing is forced: where a demo cannot wait a day, the plan is
// built with a short dwell and a small minimum of requests, and the output says so.
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import YAML from 'yaml'

import {AdminClient, auditHeaders} from '../client/admin-client.js'
import {HttpClient} from '../client/http.js'
import {RolloutClient, type RolloutWire} from '../client/rollout-client.js'
import {CliError} from '../cli/errors.js'
import {type CyclesConfig, configSchema} from '../config/schema.js'
import {Daemon} from '../daemon/daemon.js'
import type {Tier} from '../protocol/types.js'
import {type StepGateResult} from '../rollout/apply-gates.js'
import {type ApplyOutcome, runRolloutApply, stepWords} from '../rollout/apply-run.js'
import type {PlanStep, RolloutPlan, TierReadiness} from '../rollout/plan.js'
import {describeStep} from '../rollout/plan-yaml.js'
import {readCalibration, runRolloutPlan} from '../rollout/plan-run.js'
import {type TierStatus, fetchRolloutStatus, rate} from '../rollout/status.js'
import type {Scenario} from '../simulate/scenario.js'
import {startTierTraffic} from './tier-traffic.js'

/** Demo-sized plan and guard: seconds instead of a day, a few dozen requests instead of hundreds. */
export const DEMO_ROLLOUT = {
  dwell: '3s',
  ramp: '50,100',
  minRequests: 20,
  guard: {enabled: true, ratio: 3, min_denial_rate: 0.01, min_requests: 10, window_seconds: 3},
  requestsPerSecond: 16,
  /** Longest wait for a gate, a full guard window, or the trip. */
  waitMs: 60_000,
}

const ACTOR = 'cycles demo'

export interface RolloutDemoInput {
  dir: string
  scenario: Scenario
  /** The fleet's daemon config (budgets sized for the offline fortnight), before parsing. */
  fleetConfig: Record<string, unknown>
  calibrationFile: string
  log: (line: string) => void
  elapsed: () => string
}

/** One plan step as `rollout apply` left it: applied with its gate, or refused by it (nothing forced; the demo stops there). */
export interface StepResult {
  status: ApplyOutcome['status'] | 'refused'
  step: PlanStep
  gate: StepGateResult
  fundings?: ApplyOutcome['fundings']
}

export interface GuardResult {
  tripped: boolean
  cut: Array<{scope: string; unit: string; from: number; to: number}>
  /** Seconds from the cut to the tier back in shadow (null: no trip within the wait). */
  seconds_after_cut: number | null
  healthy_window: {requests: number; denials: number}
  tier: TierStatus | null
  daemon_log: string[]
}

export interface RolloutDemoResult {
  plan: {plan_id: string; file: string; tiers: Tier[]; ramp: number[]; dwell_ms: number; steps: number; readiness: TierReadiness[]}
  /** The tier rolled out: the first whose budgets are ready (null: none is; nothing was enforced). */
  tier: Tier | null
  config: string
  state_dir: string
  steps: StepResult[]
  /** The first enforce step, applied with its gate passed. */
  enforced: StepResult | null
  guard: GuardResult | null
  traffic: {agents: string[]; speed: number; calls: number; by_status: Record<string, number>} | null
  seconds: {plan: number; enforce: number; guard: number}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until<T>(timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined || Date.now() > deadline) return v
    await sleep(200)
  }
}

/** "12 blocker(s): 12 estimates" — the verdicts that keep a tier from being ready. */
function blockerWords(r: TierReadiness): string {
  const by = new Map<string, number>()
  for (const b of r.blockers) {
    const verdict = b.slice(b.lastIndexOf(': ') + 2)
    by.set(verdict, (by.get(verdict) ?? 0) + 1)
  }
  return `${r.blockers.length} budget(s) not ready: ${[...by].map(([v, n]) => `${n} ${v}`).join(', ')}`
}

/** Checks that only need more time or traffic; any other failure is a real refusal. */
function onlyWaiting(gate: StepGateResult, state: RolloutWire['tiers'][Tier]): boolean {
  return gate.checks.every((c) => c.passed || c.gate === 'dwell' || c.gate === 'min_requests' || (state.stats.commits === 0 && (c.gate === 'reserve_commit_ratio' || c.gate === 'overage')))
}

/** The gate's checks with their figures, a few to a line. */
function gateLines(gate: StepGateResult, indent: string): string[] {
  const parts = gate.checks.map((c) => `${c.passed ? '✓' : '✗'} ${c.gate}: ${c.actual}`)
  const lines: string[] = []
  for (const p of parts) {
    const last = lines.at(-1)
    if (last !== undefined && last.length + p.length < 110) lines[lines.length - 1] = `${last} · ${p}`
    else lines.push(`${indent}${p}`)
  }
  return lines
}

export async function runRolloutDemo(input: RolloutDemoInput): Promise<RolloutDemoResult> {
  const {dir, log, elapsed} = input
  const t0 = performance.now()
  const secondsSince = (t: number) => (performance.now() - t) / 1000

  // 6. The plan, as `cycles rollout plan` builds it: readiness of every tier, then the plan of the ready ones.
  log(`6/8 planning the rollout from the calibration (cycles rollout plan; demo-sized: dwell ${DEMO_ROLLOUT.dwell}, ramp ${DEMO_ROLLOUT.ramp}, ≥ ${DEMO_ROLLOUT.minRequests} requests per step)…`)
  const planOptions = {calibration: input.calibrationFile, ramp: DEMO_ROLLOUT.ramp, dwell: DEMO_ROLLOUT.dwell, minRequests: DEMO_ROLLOUT.minRequests}
  const all = runRolloutPlan(planOptions).plan
  log(`    readiness with the plan's limits: ${all.readiness.map((r) => `${r.tier} ${r.ready ? `ready (${r.budgets} budget(s))` : `NOT ready — ${blockerWords(r)}`}`).join('; ')}`)
  const ready = all.readiness.filter((r) => r.ready).map((r) => r.tier)
  const chosen = ready.length > 0 && ready.length < all.tiers.length ? runRolloutPlan({...planOptions, tiers: ready.join(',')}) : runRolloutPlan(planOptions)
  const plan: RolloutPlan = chosen.plan
  const planFile = path.join(dir, 'plan.yaml')
  fs.writeFileSync(planFile, chosen.yaml)
  const waiting = all.tiers.filter((t) => !ready.includes(t))
  log(`    plan ${plan.plan_id} for ${plan.tiers.join(', ')}${ready.length > 0 && waiting.length > 0 ? ` (the ready tiers; ${waiting.join(' and ')} wait until calibration says ready)` : ''}: ${plan.steps.length} steps → ${planFile}`)
  for (const s of plan.steps) log(`      ${describeStep(plan, s)}`)
  const planSummary = {plan_id: plan.plan_id, file: planFile, tiers: plan.tiers, ramp: plan.ramp, dwell_ms: plan.dwell_ms, steps: plan.steps.length, readiness: all.readiness}
  const tier = ready[0] ?? null
  const tPlan = secondsSince(t0)

  // The rollout daemon's config: the fleet's budgets, the admin plane, a demo-sized guard. Kept for the next commands.
  const adminKey = `demo_admin_${randomBytes(12).toString('hex')}`
  const rawConfig = {...input.fleetConfig, rollout: {guard: DEMO_ROLLOUT.guard}, admin_key: adminKey}
  const configFile = path.join(dir, 'cycles.rollout.yaml')
  fs.writeFileSync(configFile, `# The demo's rollout daemon: the fleet's budgets, the admin plane, a guard with a ${DEMO_ROLLOUT.guard.window_seconds} s window.\n${YAML.stringify(rawConfig)}`)
  const stateDir = path.join(dir, 'rollout', 'state')
  const base = {plan: planSummary, tier, config: configFile, state_dir: stateDir}
  if (tier === null) {
    log('    no tier is ready: the demo stops before enforcement (fix what calibration reports, then plan again)')
    return {...base, steps: [], enforced: null, guard: null, traffic: null, seconds: {plan: tPlan, enforce: 0, guard: 0}}
  }

  // 7. A daemon with the admin plane; the tier's traffic in shadow; the plan's steps through the admin API.
  const t7 = performance.now()
  const config: CyclesConfig = configSchema.parse(rawConfig)
  const daemonLog: string[] = []
  const daemon = await Daemon.start({config, port: 0, adminPort: 0, logDir: path.join(dir, 'rollout', 'live'), stateDir, fsyncIntervalMs: 1000, log: (l) => daemonLog.push(l)})
  const http = new HttpClient({baseUrl: daemon.adminUrl, headers: {'X-Admin-API-Key': adminKey, ...auditHeaders({actor: 'cycles-demo', reason: 'npm run demo'})}, timeoutMs: 30_000, label: 'admin API', urlHint: '--admin-url'})
  const deps = {admin: new AdminClient(http), rollout: new RolloutClient(http)}
  const traffic = startTierTraffic(input.scenario, config.tiers, tier, {url: daemon.url, requestsPerSecond: DEMO_ROLLOUT.requestsPerSecond})
  log(`7/8 daemon with the admin plane on ${daemon.url} (admin ${daemon.adminUrl}); driving tier ${tier}'s traffic (${traffic.agents.join(', ')}) live in shadow (${(traffic.speed / 3600).toFixed(1)} simulated hours per second); applying the plan (cycles rollout apply)…`)
  const steps: StepResult[] = []
  let enforced: StepResult | null = null
  let guard: GuardResult | null = null
  let tEnforce = 0
  try {
    await until(DEMO_ROLLOUT.waitMs, async () => ((await deps.rollout.status()).tiers[tier].stats.requests > 0 ? true : undefined))
    for (const step of plan.steps) {
      // Wait while the gate only lacks time or traffic (the CI way: re-run until it passes); a real refusal stops the demo.
      const dry = await until(DEMO_ROLLOUT.waitMs, async () => {
        const o = await runRolloutApply({planFile, step: step.step, dryRun: true, force: false, actor: ACTOR}, deps)
        return o.gate!.passed || !onlyWaiting(o.gate!, o.tiers![tier]) ? o : undefined
      })
      let outcome: ApplyOutcome
      try {
        outcome = await runRolloutApply({planFile, step: step.step, dryRun: false, force: false, actor: ACTOR}, deps)
      } catch (error) {
        if (!(error instanceof CliError) || error.code !== 'GATE_FAILED') throw error
        const refused = (error.details as {gate: StepGateResult}).gate
        steps.push({status: 'refused', step, gate: refused})
        log(`    step ${step.step} (${stepWords(step)}) REFUSED by its gate:`)
        for (const l of gateLines(refused, '      ')) log(l)
        log(`    (the demo does not force it${dry?.gate?.passed ? '' : '; it waited for traffic and time first'})`)
        break
      }
      const fundings = outcome.fundings ?? []
      const result: StepResult = {status: outcome.status, step, gate: outcome.gate!, ...(fundings.length > 0 ? {fundings} : {})}
      steps.push(result)
      log(`    step ${step.step}: ${stepWords(step)} — applied, its gate passed [${elapsed()}]:`)
      for (const l of gateLines(outcome.gate!, '      ')) log(l)
      if (fundings.length > 0) log(`      ${fundings.length} funding RESET(s), e.g. ${fundings[0].scope} ${fundings[0].unit} ${fundings[0].previous_allocated.toLocaleString('en-US')} → ${fundings[0].new_allocated.toLocaleString('en-US')}`)
      if (step.kind === 'enforce') {
        enforced = result
        break
      }
    }
    tEnforce = secondsSince(t7)

    // 8. The guard: a healthy enforced window first, then the regression, then the daemon's own rollback.
    if (enforced) guard = await plantRegression({tier, calibrationFile: input.calibrationFile, deps, log, elapsed, daemonLog})
  } finally {
    await traffic.stop().catch(() => {})
    await daemon.stop()
  }
  return {
    ...base,
    steps,
    enforced,
    guard,
    traffic: {agents: traffic.agents, speed: traffic.speed, calls: traffic.calls(), by_status: traffic.by_status},
    seconds: {plan: tPlan, enforce: tEnforce, guard: guard ? secondsSince(t7) - tEnforce : 0},
  }
}

async function plantRegression(o: {
  tier: Tier
  calibrationFile: string
  deps: {admin: AdminClient; rollout: RolloutClient}
  log: (line: string) => void
  elapsed: () => string
  daemonLog: string[]
}): Promise<GuardResult> {
  const {tier, deps, log} = o
  const g = DEMO_ROLLOUT.guard
  log(`8/8 the auto-rollback guard (demo window ${g.window_seconds} s, ≥ ${g.min_requests} enforced requests): a healthy enforced window, then a planted regression…`)
  const healthy = await until(DEMO_ROLLOUT.waitMs, async () => {
    const w = (await deps.rollout.status()).tiers[tier].guard.window
    return w && w.requests >= g.min_requests ? w : undefined
  })
  log(`    enforced: ${healthy?.requests ?? 0} request(s) in the guard's window, ${healthy?.denials ?? 0} denied — guard armed`)
  // Every budget the tier's traffic touches (calibration lists them), cut to a tenth: a bad push of limits.
  // One budget of several would not do in a few seconds: a slice of the window without its traffic resets the guard's clock.
  const budgets = readCalibration(o.calibrationFile).budgets.filter((b) => b.tiers.includes(tier))
  const cut: GuardResult['cut'] = []
  const cutAt = Date.now()
  for (const b of budgets) {
    const ledger = await deps.admin.lookupBudget(b.scope, b.unit)
    const from = ledger.allocated.amount
    const to = Math.max(1, Math.floor(from / 10))
    const tenant = /^tenant:([^/]+)/.exec(b.scope)?.[1] ?? ''
    await deps.admin.fundBudget(tenant, b.scope, b.unit, {operation: 'RESET', amount: {unit: b.unit, amount: to}, reason: 'cycles demo: planted regression (limit cut to a tenth)'})
    cut.push({scope: b.scope, unit: b.unit, from, to})
  }
  log(`    regression: ${cut.length} budget(s) of tier ${tier} cut to a tenth through the admin API (e.g. ${cut[0]?.scope} ${cut[0]?.from.toLocaleString('en-US')} → ${cut[0]?.to.toLocaleString('en-US')}); traffic keeps flowing`)
  const back = await until(DEMO_ROLLOUT.waitMs, async () => ((await deps.rollout.status()).tiers[tier].mode === 'shadow' ? Date.now() : undefined))
  const status = await fetchRolloutStatus(deps.rollout)
  const t = status.tiers.find((x) => x.tier === tier) ?? null
  const trip = t?.guard.last_trip
  const seconds = back === undefined ? null : (back - cutAt) / 1000
  if (back !== undefined && trip) {
    log(`    the guard put ${tier} back in shadow by itself ${seconds!.toFixed(1)} s after the cut [${o.elapsed()}]: ${trip.reason}`)
  } else {
    log(`    the guard did not trip within ${DEMO_ROLLOUT.waitMs / 1000} s (tier ${tier} is ${t?.mode ?? '?'})`)
  }
  if (t) log(`    rollout status: ${tier} ${t.mode}, guard ${t.guard.state}; denial rate ${rate(t.denial_rate)} over ${t.stats.enforced_requests} enforced request(s), baseline ${rate(t.baseline)}, trips at ${rate(t.guard_threshold)}; applied steps ${status.applied_steps.map((s) => s.step).join(', ')}`)
  return {
    tripped: back !== undefined && trip !== undefined,
    cut,
    seconds_after_cut: seconds,
    healthy_window: {requests: healthy?.requests ?? 0, denials: healthy?.denials ?? 0},
    tier: t,
    daemon_log: o.daemonLog.filter((l) => l.includes('rollout guard')),
  }
}
