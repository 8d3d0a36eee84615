// Runtime modes and the kill switch on the admin plane (a `cycles` extension, not in the Cycles admin
// spec). The control record lives in the store: with Redis every instance sharing it applies a change
// within a second (pub/sub plus a periodic re-read); with the embedded store the one daemon applies
// it at once through `onControl`. Every change is written together with its audit row, reason included.
import type {JsonServer, HttpRequest, HttpResponse} from '../daemon/http/json-server.js'
import {enforcePercentFor, modeFor} from '../evaluator/tiers.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {TIERS, type Mode, type Tier} from '../protocol/types.js'
import type {TierControl} from '../store/types.js'
import type {AdminCore, AdminCtx, AdminResult} from './context.js'
import {type RolloutHooks, baselineNow} from './rollout-routes.js'

export interface ControlHooks {
  /** The daemon's current control record (fallback when the store has none yet). */
  control?: () => TierControl
  /** Apply a new control record in this process at once. */
  onControl?: (control: TierControl) => void
  /** The daemon's counters and guard, for baselines and the rollout view. */
  rollout?: RolloutHooks
}

type AdminOnly = (handler: (req: HttpRequest, ctx: AdminCtx) => Promise<AdminResult> | AdminResult) => (req: HttpRequest) => Promise<HttpResponse>

export const DEFAULT_CONTROL: TierControl = {tiers: {low: 'shadow', medium: 'shadow', high: 'shadow'}, killswitch: {engaged: false}, version: 0}

export function controlView(c: TierControl) {
  return {
    tiers: c.tiers,
    enforce_percent: Object.fromEntries(TIERS.map((t) => [t, enforcePercentFor(c, t)])) as Record<Tier, number>,
    ...(c.tier_changed_at_ms ? {tier_changed_at_ms: c.tier_changed_at_ms} : {}),
    effective: Object.fromEntries(TIERS.map((t) => [t, modeFor(c, t)])) as Record<Tier, Mode>,
    killswitch: c.killswitch,
    version: c.version,
    ...(c.rollout ? {rollout: c.rollout} : {}),
  }
}

/** The control record as it is now: the store's, else the daemon's, else all shadow. */
export async function currentControl(core: AdminCore, hooks: ControlHooks): Promise<TierControl> {
  return (await core.store.getControl()) ?? hooks.control?.() ?? DEFAULT_CONTROL
}

/**
 * One audited change of the control record: the next record (version + 1) and its audit row in one
 * transaction, durable before it returns, applied in this process at once (other instances: pub/sub).
 * `next` answering undefined means "nothing to change": nothing is written, `changed` is false.
 */
export async function changeControl(
  core: AdminCore,
  hooks: ControlHooks,
  ctx: AdminCtx,
  operation: string,
  resourceId: string,
  next: (c: TierControl) => TierControl | undefined,
  metadata: Record<string, unknown>,
  actorType = 'admin',
): Promise<{control: TierControl; changed: boolean}> {
  // One change at a time per store in this process (the admin plane and the guard share it), so two
  // changes never both build on the same version and one of them is lost. Across instances sharing
  // Redis the read-then-write is not atomic: near-simultaneous changes on two instances race.
  const previous = changesInFlight.get(core.store) ?? Promise.resolve()
  const turn = previous.catch(() => {}).then(async () => {
    const before = await currentControl(core, hooks)
    const proposed = next(before)
    if (!proposed) return {control: before, changed: false}
    const after = {...proposed, version: before.version + 1}
    const audit = core.audit(ctx, {operation, resource_type: 'control', resource_id: resourceId, status: 200, metadata: {...metadata, version: after.version}})
    const applied = await core.store.apply({control: after, audit: [{...audit, actor_type: actorType}]})
    if (!applied.ok) throw new ProtocolError('INTERNAL_ERROR', `could not store the control change: ${applied.failed}`)
    await core.store.flushed()
    hooks.onControl?.(after)
    return {control: after, changed: true}
  })
  changesInFlight.set(core.store, turn)
  return turn
}

const changesInFlight = new WeakMap<object, Promise<unknown>>()

export function registerControlRoutes(server: JsonServer, adminOnly: AdminOnly, core: AdminCore, hooks: ControlHooks): void {
  const current = () => currentControl(core, hooks)

  const change = async (ctx: AdminCtx, operation: string, resourceId: string, next: (c: TierControl) => TierControl, metadata: Record<string, unknown>): Promise<AdminResult> => {
    const {control} = await changeControl(core, hooks, ctx, operation, resourceId, next, metadata)
    return {status: 200, body: controlView(control)}
  }

  const body = (req: HttpRequest): Record<string, unknown> => {
    if (req.body === undefined || req.body === null) return {}
    if (typeof req.body !== 'object' || Array.isArray(req.body)) throw invalid('Request body must be a JSON object')
    return req.body as Record<string, unknown>
  }
  const reasonOf = (b: Record<string, unknown>, required: boolean): string | undefined => {
    const r = b.reason
    if (r === undefined && !required) return undefined
    if (typeof r !== 'string' || r.trim() === '' || r.length > 512) throw invalid('Validation failed: reason: a non-empty string of at most 512 characters is required')
    return r
  }
  const actorOf = (b: Record<string, unknown>): string | undefined => (typeof b.actor === 'string' && b.actor.length <= 128 ? b.actor : undefined)

  server
    .route('GET', '/v1/admin/control', adminOnly(async () => ({status: 200, body: controlView(await current())})))
    .route(
      'PUT',
      '/v1/admin/control/tiers/:tier',
      adminOnly(async (req, ctx) => {
        const tier = req.params.tier as Tier
        if (!TIERS.includes(tier)) throw invalid(`Validation failed: tier: expected one of ${TIERS.join(', ')}`)
        const b = body(req)
        if (b.mode !== 'shadow' && b.mode !== 'enforce') throw invalid('Validation failed: mode: expected shadow or enforce')
        const mode = b.mode as Mode
        const percent = b.enforce_percent
        if (percent !== undefined && (typeof percent !== 'number' || !Number.isInteger(percent) || percent < 0 || percent > 100)) {
          throw invalid('Validation failed: enforce_percent: expected an integer from 0 to 100')
        }
        const reason = reasonOf(b, false)
        const actor = actorOf(b)
        const now = core.now()
        // Entering enforce records the tier's baseline for the guard (the shadow would-deny rate of the last window).
        const baseline = mode === 'enforce' ? baselineNow(hooks.rollout, tier, now) : undefined
        return change(
          ctx,
          'control.tier.set',
          `tier:${tier}`,
          (c) => ({
            ...c,
            tiers: {...c.tiers, [tier]: mode},
            // A mode change without a percent keeps the tier's current percent.
            enforce_percent: {...c.enforce_percent, [tier]: (percent as number | undefined) ?? enforcePercentFor(c, tier)},
            tier_changed_at_ms: {...c.tier_changed_at_ms, [tier]: now},
            ...(baseline && c.tiers[tier] !== 'enforce' ? {rollout: {...c.rollout, baselines: {...c.rollout?.baselines, [tier]: baseline}}} : {}),
          }),
          {tier, mode, ...(percent !== undefined ? {enforce_percent: percent} : {}), ...(reason ? {reason} : {}), ...(actor ? {actor} : {}), ...(baseline ? {baseline} : {})},
        )
      }),
    )
    .route('GET', '/v1/admin/killswitch', adminOnly(async () => ({status: 200, body: controlView(await current())})))
    .route(
      'POST',
      '/v1/admin/killswitch/engage',
      adminOnly(async (req, ctx) => {
        const b = body(req)
        const reason = reasonOf(b, true)!
        const actor = actorOf(b)
        const now = core.now()
        // Engaging an engaged switch keeps the first reason (and since when) and adds this one.
        const again = (await currentControl(core, hooks)).killswitch.engaged
        return change(
          ctx,
          'control.killswitch.engage',
          'killswitch',
          (c) => {
            const entry = {reason, ...(actor ? {actor} : {}), at_ms: now}
            if (!c.killswitch.engaged) return {...c, killswitch: {engaged: true, reason, ...(actor ? {actor} : {}), changed_at_ms: now, engagements: [entry]}}
            const first = {reason: c.killswitch.reason ?? '', ...(c.killswitch.actor ? {actor: c.killswitch.actor} : {}), at_ms: c.killswitch.changed_at_ms ?? now}
            return {...c, killswitch: {...c.killswitch, engagements: [...(c.killswitch.engagements ?? [first]), entry]}}
          },
          {reason, ...(actor ? {actor} : {}), ...(again ? {already_engaged: true} : {})},
        )
      }),
    )
    .route(
      'POST',
      '/v1/admin/killswitch/release',
      adminOnly(async (req, ctx) => {
        const b = body(req)
        const reason = reasonOf(b, false)
        const actor = actorOf(b)
        return change(
          ctx,
          'control.killswitch.release',
          'killswitch',
          (c) => ({...c, killswitch: {engaged: false, ...(reason ? {reason} : {}), ...(actor ? {actor} : {}), changed_at_ms: core.now()}}),
          {...(reason ? {reason} : {}), ...(actor ? {actor} : {})},
        )
      }),
      {bodyOptional: true},
    )
}
