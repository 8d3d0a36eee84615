// Wire and domain types of the Cycles protocol v0.1.25 (see ../shared/docs/cycles-protocol.md).
// Amounts are plain numbers: every amount that enters is checked to be a safe integer, and every
// ledger mutation is checked to stay one, so no precision is ever lost silently.

export const UNITS = ['USD_MICROCENTS', 'TOKENS', 'CREDITS', 'RISK_POINTS'] as const
export type Unit = (typeof UNITS)[number]

export const DECISIONS = ['ALLOW', 'ALLOW_WITH_CAPS', 'DENY'] as const
export type Decision = (typeof DECISIONS)[number]

export const OVERAGE_POLICIES = ['REJECT', 'ALLOW_IF_AVAILABLE', 'ALLOW_WITH_OVERDRAFT'] as const
export type OveragePolicy = (typeof OVERAGE_POLICIES)[number]

export const RESERVATION_STATUSES = ['ACTIVE', 'COMMITTED', 'RELEASED', 'EXPIRED'] as const
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number]

export const BUDGET_STATUSES = ['ACTIVE', 'FROZEN', 'CLOSED'] as const
export type BudgetStatus = (typeof BUDGET_STATUSES)[number]

export const TENANT_STATUSES = ['ACTIVE', 'SUSPENDED', 'CLOSED'] as const
export type TenantStatus = (typeof TENANT_STATUSES)[number]

/** Canonical hierarchy order of subject levels; scope paths follow it root first. */
export const SCOPE_LEVELS = ['tenant', 'workspace', 'app', 'workflow', 'agent', 'toolset'] as const
export type ScopeLevel = (typeof SCOPE_LEVELS)[number]

export interface Amount {
  unit: Unit
  amount: number
}

export type Subject = Partial<Record<ScopeLevel, string>> & {dimensions?: Record<string, string>}

export interface Action {
  kind: string
  name: string
  tags?: string[]
  /** v0.1.26 ActionPolicyKeys: routing dimensions for policy quota allowlists. */
  policy_keys?: PolicyKeys
}

export interface PolicyKeys {
  host?: string
  recipient_domain?: string
  resource_type?: string
  path_prefix?: string
  custom?: Record<string, string>
}

export interface Caps {
  max_tokens?: number
  max_steps_remaining?: number
  tool_allowlist?: string[]
  tool_denylist?: string[]
  cooldown_ms?: number
}

/** One budget ledger: (scope, unit). Invariant: remaining = allocated - spent - reserved - debt. */
export interface Ledger {
  scope: string
  unit: Unit
  allocated: number
  remaining: number
  reserved: number
  spent: number
  debt: number
  overdraft_limit: number
  is_over_limit: boolean
  status: BudgetStatus
  caps?: Caps
  commit_overage_policy?: OveragePolicy
  created_at_ms?: number
  updated_at_ms?: number
}

export interface Tenant {
  tenant_id: string
  name?: string
  status: TenantStatus
  parent_tenant_id?: string
  default_commit_overage_policy?: OveragePolicy
  default_reservation_ttl_ms?: number
  max_reservation_ttl_ms?: number
  max_reservation_extensions?: number
  metadata?: Record<string, string>
  created_at_ms?: number
  updated_at_ms?: number
  suspended_at_ms?: number
  closed_at_ms?: number
  /** v0.1.26 Tenant.observe_mode (absent = ENFORCE). */
  observe_mode?: 'DISABLED' | 'OBSERVE' | 'ENFORCE'
}

export const API_KEY_STATUSES = ['ACTIVE', 'REVOKED', 'EXPIRED'] as const
export type ApiKeyStatus = (typeof API_KEY_STATUSES)[number]

export interface ApiKey {
  key_id: string
  tenant_id: string
  /** sha256 hex of the secret; the secret itself is never stored. */
  key_hash: string
  key_prefix: string
  name?: string
  description?: string
  status: ApiKeyStatus
  permissions: string[]
  scope_filter?: string[]
  created_at_ms: number
  expires_at_ms?: number
  last_used_at_ms?: number
  revoked_at_ms?: number
  revoked_reason?: string
  metadata?: Record<string, string>
}

/** Which book a ledger belongs to: the real one, or the world in which everything had been enforced. */
export type Book = 'real' | 'shadow'

export type Tier = 'low' | 'medium' | 'high'
export const TIERS: readonly Tier[] = ['low', 'medium', 'high']
export type Mode = 'shadow' | 'enforce'

export interface Reservation {
  reservation_id: string
  tenant: string
  status: ReservationStatus
  subject: Subject
  action: Action
  reserved: Amount
  scope_path: string
  affected_scopes: string[]
  /**
   * Scopes whose real ledger holds this reservation. Enforce mode: the scopes that admitted it;
   * shadow mode: every scope budgeted in its unit (reservations from before the two-book model: none).
   */
  real_scopes: string[]
  /**
   * Shadow mode only, per real_scopes entry: the amount held there, when the real book could not hold
   * the whole estimate on some scope (absent: `reserved.amount` everywhere). See evaluator/real-book.ts.
   */
  real_held?: number[]
  /** Scopes whose shadow ledger holds it (empty when full enforcement would have denied it). */
  shadow_scopes: string[]
  mode: Mode
  tier: Tier
  idempotency_key: string
  overage_policy: OveragePolicy
  created_at_ms: number
  expires_at_ms: number
  ttl_ms: number
  grace_period_ms: number
  extension_count: number
  max_extensions: number
  metadata?: Record<string, unknown>
  run_id?: string
  parent_run_id?: string
  finalized_at_ms?: number
  committed?: Amount
  committed_actual?: number
  committed_metadata?: Record<string, unknown>
  /** The finalising request (commit or release): key, payload hash and verbatim response, for replay. */
  finalize?: {endpoint: 'commit' | 'release'; key: string; hash: string; status: number; body: string}
  would_decision?: Decision
  would_reason_code?: string
  /** The tier's enforce_percent when the reservation was created (its mode came from it). */
  enforce_percent?: number
  /** Ids of the per_run quota counters it incremented: each comes back down by one at release and expiry. */
  per_run_counters?: string[]
}

export interface BalanceWire {
  scope: string
  scope_path: string
  remaining: Amount
  reserved?: Amount
  spent?: Amount
  allocated?: Amount
  debt?: Amount
  overdraft_limit?: Amount
  is_over_limit?: boolean
}
