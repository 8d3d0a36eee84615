// `cycles rollout status`: per tier its mode and percent, since when, the live denial rate against
// its baseline, the guard's state, and the steps applied so far — read from GET /v1/admin/rollout.
// Given the plan (`--plan`), the next step and whether its gate passes, evaluated exactly as
// `cycles rollout apply --dry-run` does (nextStepOf).
import chalk from 'chalk'

import {documentLayout, table} from '../cli/render.js'
import type {TierName} from '../client/control-client.js'
import type {RolloutClient, RolloutTierWire, RolloutWire} from '../client/rollout-client.js'
import {type ApplyOutcome, stepWords} from './apply-run.js'
import type {PlanStep} from './plan.js'

export interface TierStatus {
  tier: TierName
  mode: RolloutTierWire['mode']
  effective_mode: RolloutTierWire['effective_mode']
  enforce_percent: number
  since_ms: number | null
  /** Enforced denial rate over the covered span (null without enforced requests). */
  denial_rate: number | null
  /** What full enforcement would have denied over the span (null without requests). */
  would_denial_rate: number | null
  baseline: number | null
  /** denial_rate / baseline (null when either is unknown or the baseline is 0). */
  times_baseline: number | null
  /** The rate at which the guard trips (max(ratio × baseline, min_denial_rate)). */
  guard_threshold: number | null
  guard: RolloutTierWire['guard']
  stats: RolloutTierWire['stats']
}

export interface RolloutStatus {
  at_ms: number
  tiers: TierStatus[]
  killswitch: RolloutWire['killswitch']
  applied_steps: RolloutWire['applied_steps']
  guard_config: RolloutWire['guard_config']
  /** The plan's next step and its gate (with --plan); null without a plan. */
  next_step: NextStep | null
  version: number
}

const TIER_ORDER: TierName[] = ['low', 'medium', 'high']

/** The plan's next step as `rollout status` shows it: what it does and whether its gate passes now. */
export type NextStep =
  | {plan_id: string; complete: true}
  | {plan_id: string; complete: false; step: number; kind: PlanStep['kind']; tier: TierName; action: string; gate_passed: boolean; failing: Array<{gate: string; actual: string; required: string}>}

/** From `rollout apply --dry-run`'s outcome (the same gate evaluation, nothing changed). */
export function nextStepOf(outcome: ApplyOutcome): NextStep {
  if (outcome.status === 'complete' || !outcome.step || !outcome.gate) return {plan_id: outcome.plan_id, complete: true}
  const failing = outcome.gate.checks.filter((c) => !c.passed).map((c) => ({gate: c.gate, actual: c.actual, required: c.required}))
  return {plan_id: outcome.plan_id, complete: false, step: outcome.step.step, kind: outcome.step.kind, tier: outcome.step.tier, action: stepWords(outcome.step), gate_passed: outcome.gate.passed, failing}
}

export function describeNextStep(n: NextStep | null): string[] {
  if (n === null) return ['next step: pass --plan plan.yaml to see it and whether its gate passes']
  if (n.complete) return [`next step: none — every step of plan ${n.plan_id} is applied`]
  if (n.gate_passed) return [`next step ${n.step}: ${n.action} — gate passes (apply: cycles rollout apply <plan.yaml>)`]
  return [`next step ${n.step}: ${n.action} — gate FAILS:`, ...n.failing.map((f) => `  ${f.gate}: ${f.actual} (needs ${f.required})`)]
}

export function rolloutStatusOf(wire: RolloutWire, nextStep: NextStep | null = null): RolloutStatus {
  const tiers = TIER_ORDER.map((tier): TierStatus => {
    const t = wire.tiers[tier]
    const s = t.stats
    const denial = s.enforced_requests > 0 ? s.enforced_denial_rate : null
    const baseline = t.baseline?.denial_rate ?? t.guard.window?.baseline ?? null
    const cfg = wire.guard_config
    return {
      tier,
      mode: t.mode,
      effective_mode: t.effective_mode,
      enforce_percent: t.enforce_percent,
      since_ms: t.since_ms,
      denial_rate: denial,
      would_denial_rate: s.requests > 0 ? s.would_denial_rate : null,
      baseline,
      times_baseline: denial !== null && baseline !== null && baseline > 0 ? denial / baseline : null,
      guard_threshold: t.guard.window?.threshold ?? (cfg ? Math.max(cfg.ratio * (baseline ?? 0), cfg.min_denial_rate) : null),
      guard: t.guard,
      stats: s,
    }
  })
  return {at_ms: wire.now_ms, tiers, killswitch: wire.killswitch, applied_steps: wire.applied_steps, guard_config: wire.guard_config, next_step: nextStep, version: wire.version}
}

export async function fetchRolloutStatus(client: RolloutClient, sinceMs?: number, next?: () => Promise<ApplyOutcome>): Promise<RolloutStatus> {
  return rolloutStatusOf(await client.status(sinceMs), next ? nextStepOf(await next()) : null)
}

export const rate = (x: number | null): string => (x === null ? '—' : `${(x * 100).toFixed(2)} %`)
export const ago = (ms: number | null, now: number): string => {
  if (ms === null) return '—'
  const s = Math.max(0, Math.round((now - ms) / 1000))
  const span = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172_800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} d`
  return `${new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')} (${span} ago)`
}

function guardText(t: TierStatus): string {
  if (t.guard.state === 'tripped') return chalk.red(`TRIPPED ${t.guard.last_trip?.kind ?? ''}`.trim())
  if (t.guard.state === 'idle') return 'idle'
  const w = t.guard.window
  if (w?.breach_since_ms !== undefined) return chalk.yellow('armed, breaching')
  return chalk.green('armed')
}

export function renderRolloutStatus(r: RolloutStatus): string[] {
  const lines: string[] = []
  if (r.killswitch.engaged) {
    lines.push(chalk.red(`kill switch ENGAGED since ${ago(r.killswitch.changed_at_ms ?? null, r.at_ms)}: every tier answers in shadow — ${r.killswitch.reason ?? ''}`))
  }
  const span = r.tiers[0]?.stats
  lines.push(
    table(
      ['tier', 'mode', 'percent', 'since', 'denial rate', 'baseline', '× baseline', 'would deny', 'requests', 'guard'],
      r.tiers.map((t) => [
        t.tier,
        t.effective_mode === t.mode ? t.mode : `${t.mode} (effective ${t.effective_mode})`,
        t.mode === 'enforce' ? `${t.enforce_percent} %` : '—',
        ago(t.since_ms, r.at_ms),
        rate(t.denial_rate),
        rate(t.baseline),
        t.times_baseline === null ? '—' : `${t.times_baseline.toFixed(1)}×`,
        rate(t.would_denial_rate),
        `${t.stats.enforced_requests}/${t.stats.requests}`,
        guardText(t),
      ]),
      documentLayout(),
    ),
  )
  if (span) lines.push(`figures of this daemon instance over the last ${span.window_seconds} s (requests: enforced/all live reservations and events)`)
  for (const t of r.tiers) {
    const trip = t.guard.last_trip
    if (trip) lines.push(`${t.tier}: last guard trip ${ago(trip.at_ms, r.at_ms)}: ${trip.reason}`)
    if (t.guard.state === 'armed' && t.guard.window?.breach_since_ms !== undefined) {
      lines.push(chalk.yellow(`${t.tier}: denial rate at or above ${rate(t.guard_threshold)} since ${ago(t.guard.window.breach_since_ms, r.at_ms)}`))
    }
  }
  const g = r.guard_config
  if (g) {
    lines.push(
      g.enabled
        ? `guard: trips at ${g.ratio} × baseline and ≥ ${rate(g.min_denial_rate)} with ≥ ${g.min_requests} enforced requests, sustained ${g.window_seconds} s`
        : 'guard: disabled (rollout.guard.enabled: false)',
    )
  }
  if (r.applied_steps.length === 0) lines.push('applied steps: none')
  else {
    lines.push('applied steps:')
    for (const s of r.applied_steps) {
      const what = s.tier ? `${s.tier} ${s.mode ?? ''}${s.mode === 'enforce' && s.enforce_percent !== undefined ? ` ${s.enforce_percent} %` : ''}` : ''
      lines.push(`  ${s.plan_id} #${s.step} ${what} at ${ago(s.at_ms, r.at_ms)}${s.actor ? ` by ${s.actor}` : ''}${s.forced ? ' (forced)' : ''}${s.reason ? ` — ${s.reason}` : ''}`)
    }
  }
  lines.push(...describeNextStep(r.next_step))
  return lines
}
