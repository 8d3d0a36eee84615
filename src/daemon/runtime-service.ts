// The runtime plane's behaviour, independent of HTTP: the daemon's HTTP layer and the offline
// simulator both call it. Each method validates, evaluates with the one evaluator against the real
// and the shadow book, applies one atomic transaction and returns the exact wire response plus the
// facts the decision log needs.
//
// RuntimeService is the facade callers use; the paths live in runtime-reserve.ts (reserve, with
// runtime-live-reserve.ts), runtime-decide.ts, runtime-event.ts (these three evaluate through
// runtime-admission.ts), runtime-finalize.ts (commit, release, extend, expiry) and runtime-reads.ts,
// sharing runtime-core.ts.
import type {Action, Mode, Tier} from '../protocol/types.js'
import {lastKnownPolicies} from '../policies/policy-set.js'
import {isStoreUnavailable} from '../store/errors.js'
import {RuntimeCore, type CallContext, type RuntimeDeps, type ServiceResponse} from './runtime-core.js'
import {FinalizePath} from './runtime-finalize.js'
import {ReadPath} from './runtime-reads.js'
import {DecidePath} from './runtime-decide.js'
import {EventPath} from './runtime-event.js'
import {ReservePath} from './runtime-reserve.js'
import {StoreOutageFallback, UNRECORDED} from './store-outage.js'

export type {CallContext, RecordFacts, RuntimeDeps, ServiceResponse} from './runtime-core.js'

export class RuntimeService {
  private readonly core: RuntimeCore
  private readonly outage: StoreOutageFallback
  private readonly reserving: ReservePath
  private readonly deciding: DecidePath
  private readonly debiting: EventPath
  private readonly finalizing: FinalizePath
  private readonly reads: ReadPath

  constructor(deps: RuntimeDeps) {
    this.core = new RuntimeCore(deps)
    this.reserving = new ReservePath(this.core)
    this.deciding = new DecidePath(this.core)
    this.debiting = new EventPath(this.core)
    this.finalizing = new FinalizePath(this.core)
    this.reads = new ReadPath(this.core)
    const onStoreError = deps.onStoreError ?? (() => 'deny' as const)
    this.outage = new StoreOutageFallback({
      tierOf: (a) => this.tierOf(a),
      modeOfRequest: (...args) => this.core.modeOfRequest(...args),
      onStoreError,
      lastKnownPolicies: () => lastKnownPolicies(this.core.store),
      now: this.core.now,
      newId: this.core.newId,
    })
  }

  // ---------------------------------------------------------------- entry points
  // Each runs against the store; while the store is unreachable, store-outage.ts answers instead
  // (admissions per tier mode and on_store_error; `unrecorded_…` reservations from their id).

  async reserve(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    return this.admitting('reserve', ctx, raw, () => this.reserving.reserveStored(ctx, raw))
  }

  async decide(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    return this.admitting('decide', ctx, raw, () => this.deciding.decideStored(ctx, raw))
  }

  async event(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    return this.admitting('event', ctx, raw, () => this.debiting.eventStored(ctx, raw))
  }

  async commit(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    return id.startsWith(UNRECORDED) ? this.outage.answerUnrecorded('commit', ctx, id, raw) : this.finalizing.commitStored(ctx, id, raw)
  }

  async release(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    return id.startsWith(UNRECORDED) ? this.outage.answerUnrecorded('release', ctx, id, raw) : this.finalizing.releaseStored(ctx, id, raw)
  }

  async extend(ctx: CallContext, id: string, raw: unknown): Promise<ServiceResponse> {
    return id.startsWith(UNRECORDED) ? this.outage.answerUnrecorded('extend', ctx, id, raw) : this.finalizing.extendStored(ctx, id, raw)
  }

  private async admitting(
    endpoint: 'reserve' | 'decide' | 'event',
    ctx: CallContext,
    raw: unknown,
    run: () => Promise<ServiceResponse>,
  ): Promise<ServiceResponse> {
    try {
      return await run()
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error
      return this.outage.admit(endpoint, ctx, raw, (error as Error).message)
    }
  }

  tierOf(action: Action): {tier: Tier; mode: Mode} {
    return this.core.tierOf(action)
  }

  // ---------------------------------------------------------------- reads

  balances(ctx: CallContext, query: URLSearchParams): Promise<ServiceResponse> {
    return this.reads.balances(ctx, query)
  }

  listReservations(ctx: CallContext, query: URLSearchParams): Promise<ServiceResponse> {
    return this.reads.listReservations(ctx, query)
  }

  getReservation(ctx: CallContext, id: string): Promise<ServiceResponse> {
    return this.reads.getReservation(ctx, id)
  }

  // ---------------------------------------------------------------- expiry sweep

  /** Expire ACTIVE reservations past expires_at + grace, returning their holds. Returns how many. */
  expireDue(limit = 1000): Promise<number> {
    return this.finalizing.expireDue(limit)
  }
}
