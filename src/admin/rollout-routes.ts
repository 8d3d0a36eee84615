// The rollout's admin routes (a `cycles` extension; README "Rollout status, rollback and the auto-rollback guard"). The
// rollout's state — applied steps, baselines, guard trips — lives in the control record next to the
// modes it explains, so every instance sharing the store and every operator sees the same, and it
// survives restarts. Every change is one transaction with its audit row (actor and reason).
//   GET  /v1/admin/rollout[?since_ms=N]  per tier: mode, percent, baseline, live stats, guard state
//   POST /v1/admin/rollout/steps         apply one plan step (idempotent on plan_id + step)
//   POST /v1/admin/rollout/rollback      one tier or all back to shadow
import type {RolloutGuardConfig} from '../config/schema.js'
import type {HttpRequest, HttpResponse, JsonServer} from '../daemon/http/json-server.js'
import type {TierStatsView} from '../daemon/tier-stats.js'
import {enforcePercentFor, modeFor} from '../evaluator/tiers.js'
import {invalid} from '../protocol/errors.js'
import {TIERS, type Mode, type Tier} from '../protocol/types.js'
import type {GuardWindow} from '../rollout/guard.js'
import type {TierControl} from '../store/types.js'
import type {AdminCore, AdminCtx, AdminResult} from './context.js'
import {type ControlHooks, changeControl, currentControl} from './control-routes.js'

/** What the daemon lends the admin plane for the rollout: its counters and its guard. */
export interface RolloutHooks {
  guardConfig: RolloutGuardConfig
  /** This instance's figures for a tier over [sinceMs, nowMs]. */
  stats?: (tier: Tier, sinceMs: number, nowMs: number) => TierStatsView
  /** The guard's current window for a tier (undefined while the tier is not watched). */
  guardWindow?: (tier: Tier) => GuardWindow | undefined
}

export type GuardState = 'armed' | 'tripped' | 'idle'

type AdminOnly = (handler: (req: HttpRequest, ctx: AdminCtx) => Promise<AdminResult> | AdminResult) => (req: HttpRequest) => Promise<HttpResponse>

const EMPTY_STATS = (since: number, now: number): TierStatsView => ({
  since_ms: since,
  until_ms: now,
  window_seconds: Math.round((now - since) / 1000),
  requests: 0,
  enforced_requests: 0,
  enforced_denials: 0,
  enforced_denial_rate: 0,
  would_denials: 0,
  would_denial_rate: 0,
  commits: 0,
  reserve_commit_ratio: 0,
  overage_rate: 0,
  overages: 0,
  commit_estimate: 0,
  commit_actual: 0,
})

/** 'tripped': the tier's last change was a guard rollback; 'armed': enforced and watched; else 'idle'. */
export function guardStateOf(c: TierControl, tier: Tier, enabled: boolean): GuardState {
  const trip = c.rollout?.guard_trips?.[tier]
  if (trip && c.tiers[tier] === 'shadow' && trip.at_ms >= (c.tier_changed_at_ms?.[tier] ?? 0)) return 'tripped'
  return enabled && modeFor(c, tier) === 'enforce' ? 'armed' : 'idle'
}

/** The shadow would-deny rate of the last guard window, recorded as a tier's baseline when it is enforced. */
export function baselineNow(hooks: RolloutHooks | undefined, tier: Tier, nowMs: number): {denial_rate: number; at_ms: number; requests: number} {
  const windowMs = (hooks?.guardConfig.window_seconds ?? 600) * 1000
  const v = hooks?.stats?.(tier, nowMs - windowMs, nowMs)
  return {denial_rate: v?.would_denial_rate ?? 0, at_ms: nowMs, requests: v?.requests ?? 0}
}

export function rolloutView(c: TierControl, hooks: RolloutHooks | undefined, nowMs: number, sinceMs?: number) {
  const config = hooks?.guardConfig
  const defaultSince = nowMs - (config?.window_seconds ?? 600) * 1000
  const tiers = Object.fromEntries(
    TIERS.map((t) => {
      const since = sinceMs ?? defaultSince
      const trip = c.rollout?.guard_trips?.[t]
      const window = hooks?.guardWindow?.(t)
      return [
        t,
        {
          mode: c.tiers[t],
          enforce_percent: enforcePercentFor(c, t),
          effective_mode: modeFor(c, t),
          since_ms: c.tier_changed_at_ms?.[t] ?? null,
          baseline: c.rollout?.baselines?.[t] ?? null,
          stats: hooks?.stats?.(t, since, nowMs) ?? EMPTY_STATS(since, nowMs),
          guard: {state: guardStateOf(c, t, config?.enabled ?? true), ...(trip ? {last_trip: trip} : {}), ...(window ? {window} : {})},
        },
      ]
    }),
  ) as Record<Tier, unknown>
  return {
    tiers,
    killswitch: c.killswitch,
    applied_steps: c.rollout?.applied_steps ?? [],
    guard_config: config ?? null,
    version: c.version,
    now_ms: nowMs,
  }
}

const body = (req: HttpRequest): Record<string, unknown> => {
  if (req.body === undefined || req.body === null) return {}
  if (typeof req.body !== 'object' || Array.isArray(req.body)) throw invalid('Request body must be a JSON object')
  return req.body as Record<string, unknown>
}
const text = (b: Record<string, unknown>, field: string, max: number, required: boolean): string | undefined => {
  const v = b[field]
  if (v === undefined && !required) return undefined
  if (typeof v !== 'string' || v.trim() === '' || v.length > max) throw invalid(`Validation failed: ${field}: a non-empty string of at most ${max} characters is required`)
  return v
}
const tierOf = (v: unknown, field = 'tier'): Tier => {
  if (!TIERS.includes(v as Tier)) throw invalid(`Validation failed: ${field}: expected one of ${TIERS.join(', ')}`)
  return v as Tier
}

export function registerRolloutRoutes(server: JsonServer, adminOnly: AdminOnly, core: AdminCore, hooks: ControlHooks & {rollout?: RolloutHooks}): void {
  const view = (c: TierControl, sinceMs?: number) => rolloutView(c, hooks.rollout, core.now(), sinceMs)

  server
    .route(
      'GET',
      '/v1/admin/rollout',
      adminOnly(async (req) => {
        const raw = req.query.get('since_ms')
        let since: number | undefined
        if (raw !== null) {
          since = Number(raw)
          if (!/^\d+$/.test(raw) || !Number.isSafeInteger(since)) throw invalid('Validation failed: since_ms: expected epoch milliseconds (a non-negative integer)')
        }
        return {status: 200, body: view(await currentControl(core, hooks), since)}
      }),
    )
    .route(
      'POST',
      '/v1/admin/rollout/steps',
      adminOnly(async (req, ctx) => {
        const b = body(req)
        const planId = text(b, 'plan_id', 128, true)!
        const step = b.step
        if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) throw invalid('Validation failed: step: expected an integer ≥ 0')
        const tier = tierOf(b.tier)
        if (b.mode !== 'shadow' && b.mode !== 'enforce') throw invalid('Validation failed: mode: expected shadow or enforce')
        const mode = b.mode as Mode
        const percent = b.enforce_percent ?? 100
        if (typeof percent !== 'number' || !Number.isInteger(percent) || percent < 0 || percent > 100) throw invalid('Validation failed: enforce_percent: expected an integer from 0 to 100')
        const reason = text(b, 'reason', 512, true)!
        const actor = text(b, 'actor', 128, false)
        if (b.forced !== undefined && typeof b.forced !== 'boolean') throw invalid('Validation failed: forced: expected a boolean')
        const forced = b.forced === true
        const now = core.now()
        const baseline = mode === 'enforce' ? baselineNow(hooks.rollout, tier, now) : undefined
        // The (plan_id, step) check runs inside the change, so two concurrent posts apply it once.
        const applied = (c: TierControl) => c.rollout?.applied_steps?.some((s) => s.plan_id === planId && s.step === step) ?? false
        const {control: after, changed} = await changeControl(
          core,
          hooks,
          ctx,
          'rollout.step',
          `tier:${tier}`,
          (c) =>
            applied(c)
              ? undefined
              : {
                  ...c,
                  tiers: {...c.tiers, [tier]: mode},
                  enforce_percent: {...c.enforce_percent, [tier]: percent},
                  tier_changed_at_ms: {...c.tier_changed_at_ms, [tier]: now},
                  rollout: {
                    ...c.rollout,
                    applied_steps: [
                      ...(c.rollout?.applied_steps ?? []),
                      {plan_id: planId, step, tier, mode, enforce_percent: percent, at_ms: now, reason, ...(actor ? {actor} : {}), ...(forced ? {forced} : {})},
                    ],
                    ...(baseline ? {baselines: {...c.rollout?.baselines, [tier]: baseline}} : {}),
                  },
                },
          {plan_id: planId, step, tier, mode, enforce_percent: percent, reason, ...(actor ? {actor} : {}), ...(forced ? {forced} : {}), ...(baseline ? {baseline} : {})},
        )
        if (changed) core.emit(ctx, 'custom.rollout.step_applied', {data: {plan_id: planId, step, tier, mode, enforce_percent: percent, reason, ...(actor ? {actor} : {}), ...(forced ? {forced} : {}), ...(baseline ? {baseline} : {})}})
        return {status: 200, body: {...view(after), already_applied: !changed}}
      }),
    )
    .route(
      'POST',
      '/v1/admin/rollout/rollback',
      adminOnly(async (req, ctx) => {
        const b = body(req)
        const tier = b.tier === undefined ? undefined : tierOf(b.tier)
        const reason = text(b, 'reason', 512, true)!
        const actor = text(b, 'actor', 128, false)
        const targets = tier ? [tier] : [...TIERS]
        const before = await currentControl(core, hooks)
        const now = core.now()
        const {control: after} = await changeControl(
          core,
          hooks,
          ctx,
          'rollout.rollback',
          tier ? `tier:${tier}` : 'tiers',
          (c) => ({
            ...c,
            tiers: {...c.tiers, ...Object.fromEntries(targets.map((t) => [t, 'shadow']))},
            // Only a tier whose mode changes gets a new change time.
            tier_changed_at_ms: {...c.tier_changed_at_ms, ...Object.fromEntries(targets.filter((t) => c.tiers[t] !== 'shadow').map((t) => [t, now]))},
          }),
          {tiers: targets, previous: Object.fromEntries(targets.map((t) => [t, before.tiers[t]])), reason, ...(actor ? {actor} : {})},
        )
        return {status: 200, body: view(after)}
      }),
    )
}
