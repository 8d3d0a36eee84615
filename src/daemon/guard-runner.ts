// The auto-rollback guard inside the daemon (README "Auto-rollback guard"). It watches every tier in
// enforce however it got there, with nobody running a command: each enforced decision record feeds
// the pure DenialRateGuard (O(1)); a timer judges the windows; an enforced BUDGET_FROZEN on a budget
// nobody froze is checked against the audit log and the config. A trip sends the tier back to shadow
// through the control record (every instance sharing the store applies it within a second), with an
// audit row `rollout.guard.rollback` carrying the figures, a log line, and `rollout.guard_trips`.
import {randomUUID} from 'node:crypto'
import os from 'node:os'

import {AdminCore} from '../admin/context.js'
import {changeControl} from '../admin/control-routes.js'
import {ledgerId} from '../admin/wire.js'
import type {RolloutGuardConfig} from '../config/schema.js'
import type {DecisionRecord} from '../decision-log/record.js'
import {modeFor} from '../evaluator/tiers.js'
import {TIERS, type Tier} from '../protocol/types.js'
import {DenialRateGuard, type GuardWindow, isUnexpectedFreeze} from '../rollout/guard.js'
import type {GuardTripRecord, Store, TierControl} from '../store/types.js'
import {type TierStats, isDenial, recordKind, wouldDenyRate} from './tier-stats.js'
import type {EventSink} from '../events/event.js'
import {guardRollbackEvent} from '../events/build.js'

export interface GuardRunnerDeps {
  store: Store
  config: RolloutGuardConfig
  stats: TierStats
  control: () => TierControl
  /** Apply a control record in this process (the daemon's one place for it). */
  applyControl: (c: TierControl) => void
  /** Budgets the config file declares FROZEN (`scope|unit`). */
  frozenByConfig: ReadonlySet<string>
  now: () => number
  log?: (line: string) => void
  /** Where a trip is announced (custom.rollout.guard_rollback). */
  events?: EventSink
}

/** An enforced BUDGET_FROZEN on one budget is looked into at most this often. */
const FREEZE_RECHECK_MS = 5000

export class GuardRunner {
  /** Names the daemon in trip records: host, process and a per-start suffix (tests run several in one process). */
  readonly instance = `${os.hostname()}/${process.pid}/${randomUUID().slice(0, 6)}`
  private readonly rate: DenialRateGuard
  private readonly core: AdminCore
  private readonly windows = new Map<Tier, GuardWindow>()
  private readonly tripping = new Set<Tier>()
  private readonly freezeChecked = new Map<string, number>()
  private readonly fallback = new Map<Tier, {changedAt: number; rate: number}>()
  private timer: NodeJS.Timeout | undefined
  private pending: Promise<unknown> = Promise.resolve()

  constructor(private readonly deps: GuardRunnerDeps) {
    this.rate = new DenialRateGuard(deps.config)
    this.core = new AdminCore({store: deps.store, now: deps.now, ...(deps.events ? {events: deps.events} : {})})
  }

  /** Judge the windows every half slice (at most every second). */
  start(): void {
    if (!this.deps.config.enabled || this.timer) return
    const every = Math.min(1000, Math.max(50, this.rate.sliceMs / 2))
    this.timer = setInterval(() => this.tick(), every)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.pending.catch(() => {})
  }

  /** Resolves once the guard's queued store work (freeze checks, rollbacks) is done. */
  settled(): Promise<void> {
    return this.pending.then(() => undefined)
  }

  /** One decision record as it is written (the request path: constant time, no I/O). */
  observe(r: DecisionRecord, nowMs: number): void {
    if (!this.deps.config.enabled || r.mode !== 'enforce' || recordKind(r) !== 'decision') return
    // Budget and policy denials alike: a quota or rate limit too tight for the tier's traffic trips it too.
    const denied = isDenial(r)
    this.rate.record(r.tier, nowMs, denied)
    if (denied && r.reason_code === 'BUDGET_FROZEN' && r.unit) this.checkFreeze(r.tier, r.denied_scope ?? r.scope_path ?? '', r.unit, nowMs)
  }

  /** A new control record: a tier entering or leaving enforce starts from an empty window. */
  onControl(before: TierControl, after: TierControl): void {
    for (const t of TIERS) {
      if (modeFor(before, t) !== modeFor(after, t)) {
        this.rate.reset(t)
        this.windows.delete(t)
      }
    }
  }

  /** The window the guard judged last for a tier (undefined while the tier is not in enforce). */
  window(tier: Tier): GuardWindow | undefined {
    return this.windows.get(tier)
  }

  tick(): void {
    const c = this.deps.control()
    const now = this.deps.now()
    for (const t of TIERS) {
      if (modeFor(c, t) !== 'enforce') {
        this.windows.delete(t)
        continue
      }
      const {window, trip} = this.rate.evaluate(t, now, this.baselineOf(c, t))
      this.windows.set(t, window)
      if (trip) {
        const {tier: _tier, breach_since_ms: _since, ...figures} = trip
        this.trip(t, {...figures, instance: this.instance})
      }
    }
  }

  /** A step's recorded baseline, else the shadow would-deny rate over the window before the change (0 without one). */
  private baselineOf(c: TierControl, tier: Tier): number {
    const recorded = c.rollout?.baselines?.[tier]
    if (recorded) return recorded.denial_rate
    const changedAt = c.tier_changed_at_ms?.[tier]
    if (changedAt === undefined) return 0
    const cached = this.fallback.get(tier)
    if (cached?.changedAt === changedAt) return cached.rate
    const rate = wouldDenyRate(this.deps.stats, tier, changedAt - this.deps.config.window_seconds * 1000, changedAt).denial_rate
    this.fallback.set(tier, {changedAt, rate})
    return rate
  }

  private checkFreeze(tier: Tier, scope: string, unit: string, nowMs: number): void {
    const key = `${scope}|${unit}`
    const last = this.freezeChecked.get(key)
    if (last !== undefined && nowMs - last < FREEZE_RECHECK_MS) return
    this.freezeChecked.set(key, nowMs)
    this.chain(async () => {
      const id = ledgerId(scope, unit)
      const [frozen, unfrozen] = await Promise.all([
        this.deps.store.listAudit({resource_id: id, operation: 'freezeBudget', limit: 1}),
        this.deps.store.listAudit({resource_id: id, operation: 'unfreezeBudget', limit: 1}),
      ])
      const f = frozen.entries[0]?.timestamp_ms
      const u = unfrozen.entries[0]?.timestamp_ms
      const newest = f === undefined && u === undefined ? undefined : (f ?? -1) >= (u ?? -1) ? 'freezeBudget' : 'unfreezeBudget'
      if (!isUnexpectedFreeze({newestFreezeOperation: newest, frozenByConfig: this.deps.frozenByConfig.has(key)})) return
      const w = this.windows.get(tier)
      await this.rollback(tier, {
        kind: 'budget_frozen',
        at_ms: this.deps.now(),
        denial_rate: w?.denial_rate ?? 0,
        baseline: w?.baseline ?? 0,
        requests: w?.requests ?? 0,
        scope,
        unit,
        instance: this.instance,
        reason: `budget ${scope} ${unit} answered BUDGET_FROZEN to an enforced request, and nobody froze it (no freeze in the audit log, not FROZEN in the config)`,
      })
    })
  }

  private trip(tier: Tier, record: GuardTripRecord): void {
    if (this.tripping.has(tier)) return // one rollback per tier in flight; ticks go on meanwhile
    this.tripping.add(tier)
    this.chain(() => this.rollback(tier, record).finally(() => this.tripping.delete(tier)))
  }

  /** Run admin-store work one piece at a time, off the request path; a failure is logged, never thrown. */
  private chain(work: () => Promise<void>): void {
    this.pending = this.pending.then(work).catch((error) => this.deps.log?.(`rollout guard: ${(error as Error).message}`))
  }

  private async rollback(tier: Tier, record: GuardTripRecord): Promise<void> {
    const id = `guard_${this.core.newId().replaceAll('-', '')}`
    const {changed} = await changeControl(
      this.core,
      {control: this.deps.control, onControl: this.deps.applyControl},
      {request_id: id, trace_id: id.slice(6).padEnd(32, '0').slice(0, 32)},
      'rollout.guard.rollback',
      `tier:${tier}`,
      // Decided on the record as stored: another instance or an operator may have been first.
      (c) =>
        c.tiers[tier] !== 'enforce'
          ? undefined
          : {
              ...c,
              tiers: {...c.tiers, [tier]: 'shadow'},
              tier_changed_at_ms: {...c.tier_changed_at_ms, [tier]: record.at_ms},
              rollout: {...c.rollout, guard_trips: {...c.rollout?.guard_trips, [tier]: record}},
            },
      {tier, actor: 'cycles-guard', ...record},
      'system',
    )
    this.rate.reset(tier)
    if (changed) this.deps.log?.(`rollout guard: tier ${tier} back to shadow (${record.kind}): ${record.reason}`)
    if (changed) this.core.events.emit(guardRollbackEvent(this.deps.now(), id, tier, record))
  }
}
