// Client for the admin plane's rollout routes (a cycles extension; README "Rollout status, rollback and the auto-rollback guard").
import type {TierStatsView} from '../daemon/tier-stats.js'
import type {GuardTripRecord} from '../store/types.js'
import type {HttpClient} from './http.js'
import type {ModeName, TierName} from './control-client.js'

/** The wire shapes are the daemon's own (type-only imports: nothing is loaded at run time). */
export type TierStatsWire = TierStatsView

export type GuardTripWire = GuardTripRecord

export interface GuardWindowWire {
  requests: number
  denials: number
  denial_rate: number
  baseline: number
  threshold: number
  breach_since_ms?: number
}

export interface RolloutTierWire {
  mode: ModeName
  enforce_percent: number
  effective_mode: ModeName
  /** When the tier's mode or percent last changed (null: not since the control record was created). */
  since_ms: number | null
  baseline: {denial_rate: number; at_ms: number; requests?: number} | null
  stats: TierStatsWire
  guard: {state: 'armed' | 'tripped' | 'idle'; last_trip?: GuardTripWire; window?: GuardWindowWire}
}

export interface AppliedStepWire {
  plan_id: string
  step: number
  at_ms: number
  actor?: string
  reason?: string
  forced?: boolean
  tier?: TierName
  mode?: ModeName
  enforce_percent?: number
}

export interface RolloutWire {
  tiers: Record<TierName, RolloutTierWire>
  killswitch: {engaged: boolean; reason?: string; actor?: string; changed_at_ms?: number; engagements?: Array<{reason: string; actor?: string; at_ms: number}>}
  applied_steps: AppliedStepWire[]
  guard_config: {enabled: boolean; ratio: number; min_denial_rate: number; min_requests: number; window_seconds: number} | null
  version: number
  /** The daemon's clock when it answered. */
  now_ms: number
  /** Set by POST /v1/admin/rollout/steps: true when this (plan_id, step) had been applied before (nothing changed). */
  already_applied?: boolean
}

export interface StepRequest {
  plan_id: string
  step: number
  tier: TierName
  mode: ModeName
  enforce_percent: number
  reason: string
  actor?: string
  forced?: boolean
}

export class RolloutClient {
  constructor(private readonly http: HttpClient) {}

  /** The rollout's state; `sinceMs` makes each tier's stats cover [sinceMs, now] (default: the guard's window). */
  status(sinceMs?: number): Promise<RolloutWire> {
    return this.http.request<RolloutWire>('GET', '/v1/admin/rollout', {query: {since_ms: sinceMs === undefined ? undefined : Math.max(0, Math.floor(sinceMs))}})
  }

  applyStep(step: StepRequest): Promise<RolloutWire> {
    return this.http.request<RolloutWire>('POST', '/v1/admin/rollout/steps', {body: step})
  }

  rollback(reason: string, tier?: TierName, actor?: string): Promise<RolloutWire> {
    return this.http.request<RolloutWire>('POST', '/v1/admin/rollout/rollback', {body: {reason, ...(tier ? {tier} : {}), ...(actor ? {actor} : {})}})
  }
}
