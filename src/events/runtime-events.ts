// Events read off the runtime plane's decision records (the daemon hands over each one as its
// response leaves): reservation.denied, reservation.observed_denied (shadow mode, the v0.1.26
// name), reservation.observed_allowed (v0.1.26 observe mode), reservation.commit_overage, the denial-rate spike, the live loop signature and the store's
// connection going and coming back. Detectors keep O(1) state per tenant / run; no store reads.
import {type DecisionRecord, isDenialReason} from '../decision-log/record.js'
import type {ApiKey, Reservation} from '../protocol/types.js'
import {type EventOrigin, SOURCE_RUNTIME, apiKeyData, authFailedEvent, buildEvent, stableId} from './build.js'
import type {EventThresholds} from './config.js'
import {type EventSink, SYSTEM_TENANT} from './event.js'
import {LoopDetector} from './detectors/loop.js'
import {RateSpikeDetector} from './detectors/rate-spike.js'

/** The live loop signature's event type (`custom.` as the spec asks of types it does not define; filed under reservation). */
export const LOOP_EVENT = 'custom.reservation.loop_detected'
const ADMISSIONS = new Set(['reserve', 'decide', 'event'])
/** Where v0.1.26 observe mode evaluates as a dry-run (an event under it still persists: its observed denial is a would-be one). */
const OBSERVABLE = new Set(['reserve', 'decide'])

export interface RuntimeEventsOptions {
  sink: EventSink
  thresholds: EventThresholds
  now: () => number
  /** Share of observe-mode ALLOWs that emit reservation.observed_allowed (default 1: all). */
  observeAllowSampleRate?: number
  /** [0, 1) uniform; the sampling's coin (default Math.random). */
  random?: () => number
}

export class RuntimeEvents {
  private readonly denials: RateSpikeDetector
  private readonly authFailures: RateSpikeDetector
  private readonly loops = new LoopDetector()
  private storeDown: string | undefined
  /** Keys already announced as expired (a handful: keys are few). */
  private readonly expiredKeys = new Set<string>()

  constructor(private readonly options: RuntimeEventsOptions) {
    const t = options.thresholds
    const windowMs = t.rate_window_seconds * 1000
    this.denials = new RateSpikeDetector({threshold: t.denial_rate_threshold, windowMs, minSamples: t.rate_min_samples})
    this.authFailures = new RateSpikeDetector({threshold: t.auth_failure_rate_threshold, windowMs, minSamples: t.rate_min_samples, maxKeys: 1})
  }

  /** Every decision record of the runtime plane. */
  observeDecision(r: DecisionRecord): void {
    const now = this.options.now()
    const emit = (type: string, f: {scope?: string; data: Record<string, unknown>; correlation_id?: string}) =>
      this.options.sink.emit(buildEvent(now, type, {tenant_id: r.tenant, source: SOURCE_RUNTIME, actor: {type: 'api_key'}, request_id: r.request_id, trace_id: r.trace_id, ...f}))

    // An admission answered by the outage fallback says the store is down; any other answer came from the store.
    // (Commits of `unrecorded_` reservations carry store_error too, but say nothing about the store now.)
    if (r.store_error === undefined) this.storeReachable(true)
    else if (ADMISSIONS.has(r.endpoint)) this.storeReachable(false, r.store_error)
    const attempt = r.endpoint === 'reserve' || r.endpoint === 'decide'
    const denied = r.decision === 'DENY' && isDenialReason(r.reason_code, r.policy_id)
    // Every reserve answered DENY (budget or policy: the reason code is an open string), except under
    // observe mode (v0.1.26), whose denials are reservation.observed_denied.
    if (r.endpoint === 'reserve' && r.decision === 'DENY' && r.reason_code !== undefined && r.observe_mode !== 'OBSERVE') {
      emit('reservation.denied', {
        scope: r.scope_path,
        data: {scope: r.scope_path, unit: r.unit, reason_code: r.reason_code, requested_amount: r.estimate, action: r.action, subject: r.subject, ...(r.policy_id ? {policy_id: r.policy_id} : {}), ...(r.dry_run ? {dry_run: true} : {})},
      })
    }
    if (OBSERVABLE.has(r.endpoint) && r.observe_mode === 'OBSERVE' && r.decision === 'DENY' && r.reason_code) {
      const scope = r.denied_scope ?? r.scope_path
      emit('reservation.observed_denied', {
        scope,
        data: {scope, unit: r.unit, deny_detail: {reason_code: r.reason_code, ...(r.denied_scope ? {blocked_by_scope: r.denied_scope} : {})}, observe_mode: 'OBSERVE', action: r.action, subject: r.subject, estimated_amount: r.estimate ?? r.actual, ...(r.policy_id ? {policy_id: r.policy_id} : {})},
        correlation_id: stableId('obs', r.tenant, scope, r.action?.kind, Math.floor(now / 60_000), r.reason_code),
      })
    }
    // Its ALLOW counterpart (v0.1.26 SIDE-EFFECT CONTRACT), the denominator of the observed denial
    // rate: on the same records as the observed denial above. Sampled by events.observe_allow_sample_rate
    // (the spec's volume rule: a sampled event carries sample_rate).
    const sampleRate = this.options.observeAllowSampleRate ?? 1
    if (OBSERVABLE.has(r.endpoint) && r.observe_mode === 'OBSERVE' && (r.decision === 'ALLOW' || r.decision === 'ALLOW_WITH_CAPS') && (sampleRate >= 1 || (this.options.random ?? Math.random)() < sampleRate)) {
      const scope = r.scope_path
      emit('reservation.observed_allowed', {
        scope,
        data: {
          scope,
          decision: r.decision,
          unit: r.unit,
          action: r.action,
          subject: r.subject,
          estimated_amount: r.estimate ?? r.actual,
          observe_mode: 'OBSERVE',
          ...(r.decision === 'ALLOW_WITH_CAPS' && r.caps ? {caps_applied: r.caps} : {}),
          ...(sampleRate < 1 ? {sample_rate: sampleRate} : {}),
        },
        // The spec's rule: a hash of (tenant, scope, run); without a run, none.
        ...(r.run_id ? {correlation_id: stableId('oba', r.tenant, scope, r.run_id)} : {}),
      })
    }
    if (ADMISSIONS.has(r.endpoint) && r.decision !== 'DENY' && r.would_decision === 'DENY' && r.would_reason_code) {
      const scope = r.denied_scope ?? r.scope_path
      emit('reservation.observed_denied', {
        scope,
        data: {
          scope,
          unit: r.unit,
          deny_detail: {reason_code: r.would_reason_code, ...(r.denied_scope ? {blocked_by_scope: r.denied_scope} : {})},
          observe_mode: 'OBSERVE',
          action: r.action,
          subject: r.subject,
          estimated_amount: r.estimate ?? r.actual,
          ...(r.denied_scope ? {would_have_blocked_at: r.denied_scope} : {}),
        },
        // The spec's rule: a hash of (tenant, scope, action kind, window, reason), the window a minute.
        correlation_id: stableId('obs', r.tenant, scope, r.action?.kind, Math.floor(now / 60_000), r.would_reason_code),
      })
    }
    if (r.endpoint === 'commit' && r.decision !== 'DENY' && r.http_status < 300 && r.actual !== undefined && r.estimate !== undefined && r.actual > r.estimate) {
      emit('reservation.commit_overage', {
        scope: r.scope_path,
        data: {reservation_id: r.reservation_id, scope: r.scope_path, unit: r.unit, estimated_amount: r.estimate, actual_amount: r.actual, overage: r.actual - r.estimate, overage_policy: r.overage_policy},
        correlation_id: r.reservation_id,
      })
    }
    if (attempt && r.store_error === undefined && r.http_status < 500) {
      const spike = this.denials.observe(r.tenant, denied, now)
      if (spike) emit('reservation.denial_rate_spike', {data: this.spikeData('denial_rate', spike, this.denials.options)})
    }
    if (attempt && r.run_id) {
      const loop = this.loops.observe(`${r.tenant}|${r.run_id}`, now)
      if (loop) {
        emit(LOOP_EVENT, {
          scope: r.scope_path,
          data: {run_id: r.run_id, count: loop.count, window_seconds: loop.window_seconds, first_at: new Date(loop.first_at_ms).toISOString(), scope: r.scope_path, action: r.action},
          correlation_id: `run:${r.run_id}`,
        })
      }
    }
  }

  /** One authentication on the runtime plane (a 401 is a failure); the auth-failure rate is over all of them. */
  observeAuthentication(failed: boolean): void {
    const now = this.options.now()
    const spike = this.authFailures.observe('runtime', failed, now)
    if (spike) {
      this.options.sink.emit(
        buildEvent(now, 'api_key.auth_failure_rate_spike', {tenant_id: SYSTEM_TENANT, source: SOURCE_RUNTIME, actor: {type: 'system'}, data: this.spikeData('auth_failure_rate', spike, this.authFailures.options)}),
      )
    }
  }

  /** api_key.auth_failed on the runtime plane. */
  authFailed(origin: EventOrigin & {source_ip?: string}, reason: string, key: ApiKey | undefined): void {
    const now = this.options.now()
    // A key is found expired when it is next presented (nothing sweeps keys): api_key.expired once
    // per key and instance, before the auth failure it causes.
    if (reason === 'key_expired' && key && !this.expiredKeys.has(key.key_id)) {
      this.expiredKeys.add(key.key_id)
      this.options.sink.emit(
        buildEvent(now, 'api_key.expired', {
          tenant_id: key.tenant_id,
          source: SOURCE_RUNTIME,
          actor: {type: 'system'},
          request_id: origin.request_id,
          trace_id: origin.trace_id,
          data: {...apiKeyData({...key, status: 'EXPIRED'}, key), ...(key.expires_at_ms === undefined ? {} : {expired_at: new Date(key.expires_at_ms).toISOString()})},
        }),
      )
    }
    this.options.sink.emit(authFailedEvent(now, SOURCE_RUNTIME, origin, reason, key))
  }

  /** reservation.expired, from the expiry sweep (no request behind it). */
  expired(r: Reservation): void {
    const now = this.options.now()
    this.options.sink.emit(
      buildEvent(now, 'reservation.expired', {
        tenant_id: r.tenant,
        scope: r.scope_path,
        source: SOURCE_RUNTIME,
        actor: {type: 'system'},
        correlation_id: r.reservation_id,
        data: {
          reservation_id: r.reservation_id,
          scope: r.scope_path,
          unit: r.reserved.unit,
          estimated_amount: r.reserved.amount,
          created_at: new Date(r.created_at_ms).toISOString(),
          expired_at: new Date(now).toISOString(),
          ttl_ms: r.ttl_ms,
          extensions_used: r.extension_count,
        },
      }),
    )
  }

  /** system.store_connection_lost / _restored, once per change (records, the sweep and the event writer all report). */
  storeReachable(reachable: boolean, detail?: string): void {
    if (reachable === (this.storeDown === undefined)) return
    const now = this.options.now()
    const lostSince = this.storeDown
    this.storeDown = reachable ? undefined : new Date(now).toISOString()
    this.options.sink.emit(
      buildEvent(now, reachable ? 'system.store_connection_restored' : 'system.store_connection_lost', {
        tenant_id: SYSTEM_TENANT,
        source: SOURCE_RUNTIME,
        actor: {type: 'system'},
        data: {
          component: 'store',
          severity: reachable ? 'info' : 'critical',
          message: reachable ? 'the budget store answers again' : `the budget store is unreachable: ${detail ?? 'unknown error'}`,
          ...(reachable && lostSince ? {details: {lost_since: lostSince}} : {}),
        },
      }),
    )
  }

  private spikeData(metric: string, spike: {rate: number; samples: number}, o: {threshold: number; windowMs: number}): Record<string, unknown> {
    return {metric, current_rate: spike.rate, threshold_rate: o.threshold, window_seconds: Math.round(o.windowMs / 1000), sample_count: spike.samples}
  }
}
