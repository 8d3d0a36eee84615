// Policies of the Cycles admin spec (v0.1.25 Policy) with the v0.1.26 governance extensions
// (allowed/denied action kinds, action and risk-class quotas) and one `cycles` extension
// (approval_required_action_kinds). Stored as docs of the `policies` collection, one per policy.
import type {Caps, OveragePolicy} from '../protocol/types.js'

export const POLICIES_COLLECTION = 'policies'
export const CUSTOM_KINDS_COLLECTION = 'action-kinds'
export const QUOTA_COUNTERS_COLLECTION = 'quota-counters'
export const RATE_COUNTERS_COLLECTION = 'rate-counters'

export const RISK_CLASSES = ['read_only', 'local_mutation', 'side_effect', 'external_side_effect', 'high_risk'] as const
export type RiskClass = (typeof RISK_CLASSES)[number]

export const QUOTA_WINDOWS = ['per_run', 'per_minute_tumbling', 'per_hour_tumbling', 'per_day_tumbling', 'per_tenant_per_day'] as const
export type QuotaWindow = (typeof QUOTA_WINDOWS)[number]

export const OBSERVE_MODES = ['DISABLED', 'OBSERVE', 'ENFORCE'] as const
export type ObserveMode = (typeof OBSERVE_MODES)[number]

export const DEFAULT_PER_RUN_TTL_MS = 86_400_000

export interface ActionQuota {
  action_kind: string
  max_calls: number
  window: QuotaWindow
  host_allowlist?: string[]
  recipient_domain_allowlist?: string[]
  resource_type_allowlist?: string[]
  per_run_counter_ttl_ms?: number
  threshold_pct?: number
}

export interface RiskClassQuota {
  risk_class: RiskClass
  max_calls: number
  window: QuotaWindow
  per_run_counter_ttl_ms?: number
  threshold_pct?: number
}

export interface Policy {
  policy_id: string
  tenant_id: string
  name: string
  description?: string
  scope_pattern: string
  priority: number
  caps?: Caps
  commit_overage_policy?: OveragePolicy
  reservation_ttl_override?: {default_ttl_ms?: number; max_ttl_ms?: number; max_extensions?: number}
  rate_limits?: {max_reservations_per_minute?: number; max_commits_per_minute?: number}
  status: 'ACTIVE' | 'DISABLED'
  effective_from_ms?: number
  effective_until_ms?: number
  created_at_ms: number
  updated_at_ms?: number
  allowed_action_kinds: string[]
  denied_action_kinds: string[]
  action_quotas: ActionQuota[]
  risk_class_quotas: RiskClassQuota[]
  /** A `cycles` extension: reservations of these kinds need an approved grant (src/approvals/gate.ts). */
  approval_required_action_kinds: string[]
}

/** Which response shape a caller asked for (request header X-Cycles-Protocol-Version). */
export type WireVersion = '0.1.25' | '0.1.26'

export const PROTOCOL_VERSION_HEADER = 'x-cycles-protocol-version'
/** Opt-in to `cycles` extension fields on admin responses (e.g. a policy's approval_required_action_kinds). */
export const EXTENSIONS_HEADER = 'x-cycles-extensions'

/** '0.1.26' when the header names 0.1.26 or later; anything else (or nothing) keeps the v0.1.25 shapes. */
export function wireVersionOf(header: string | undefined): WireVersion {
  if (!header) return '0.1.25'
  const m = /^0\.1\.(\d+)/.exec(header.trim())
  return m && Number(m[1]) >= 26 ? '0.1.26' : '0.1.25'
}
