// Policy evaluation, steps 1–3 of the normative reservation order (cycles-protocol-extensions
// v0.1.26): access control (denied, then allowed kinds) → the approval gate's place (a `cycles`
// extension) → risk-class quotas → per-kind quotas. Pure: the counters' current values come in,
// the counter writes and the write-time guards go out, so quota counters change in the same
// transaction as the ledgers (Tx.docs + Tx.docConditions) on both stores.
import {invalid} from '../protocol/errors.js'
import type {DocCondition, DocWrite} from '../store/types.js'
import type {KindResolution} from './action-kinds.js'
import type {SelectedPolicy} from './match.js'
import {
  type ActionQuota,
  DEFAULT_PER_RUN_TTL_MS,
  type Policy,
  QUOTA_COUNTERS_COLLECTION,
  type QuotaWindow,
  RATE_COUNTERS_COLLECTION,
  type RiskClass,
  type RiskClassQuota,
} from './types.js'

export type PolicyReason = 'ACTION_KIND_DENIED' | 'ACTION_KIND_NOT_ALLOWED' | 'ACTION_QUOTA_EXCEEDED' | 'LIMIT_EXCEEDED'

/** DenyDetail of cycles-protocol-extensions v0.1.26. */
export interface DenyDetail {
  reason_code: string
  quota_violation?: QuotaViolation
  blocked_by_scope?: string
  blocked_by_policy?: string
  suggested_fix?: string
  budget_remaining?: number
}

export interface QuotaViolation {
  action_kind: string
  window: QuotaWindow
  window_key?: string
  used: number
  limit: number
  scope: string
  policy_id?: string
  risk_class?: RiskClass
}

export interface PolicyDenial {
  reason_code: PolicyReason
  message: string
  detail: DenyDetail
  /** Seconds until a rate limit's window ends (Retry-After). */
  retry_after_s?: number
}

/** One quota counter a reservation is checked against and, when admitted, counts in. */
export interface CounterUse {
  id: string
  key: CounterKey
  limit: number
  per_run: boolean
  /** The counter's new expiry when it is incremented (window end plus cleanup, or the per_run TTL). */
  expires_at_ms: number
  policy_id: string
}

export interface CounterKey {
  tenant_id: string
  scope: string
  /** The action kind, or "__risk__" for a risk-class counter. */
  action_kind: string
  risk_class?: RiskClass
  window: QuotaWindow
  window_key: string
}

export interface PolicyRequest {
  tenant: string
  kind: string
  kindResolution: Extract<KindResolution, {entry: unknown}>
  policy_keys?: {host?: string; recipient_domain?: string; resource_type?: string}
  run_id?: string
  nowMs: number
}

export interface PolicyPlan {
  selected: SelectedPolicy
  /** Step 1: access control. */
  access?: PolicyDenial
  /** The kind needs an approved grant (approval_required_action_kinds). */
  needsApproval: boolean
  /** Steps 2 and 3, risk-class counters first. */
  counters: CounterUse[]
}

const RISK_TOKEN = '__risk__'
/** Counters outlive their window by this much, so a list right after the boundary still shows them. */
const WINDOW_CLEANUP_MS = 60_000

/** Step 1 and the quota rules that apply; 400 when a per_run quota applies and subject.dimensions.run_id is absent. */
export function planPolicy(selected: SelectedPolicy, req: PolicyRequest): PolicyPlan {
  const {policy} = selected
  const plan: PolicyPlan = {selected, needsApproval: false, counters: []}
  const access = accessDenial(policy, req.kind, selected.scope)
  if (access) {
    plan.access = access
    return plan
  }
  plan.needsApproval = policy.approval_required_action_kinds.includes(req.kind)
  const risk = req.kindResolution.entry.risk_class
  for (const q of policy.risk_class_quotas) if (q.risk_class === risk) plan.counters.push(counterUse(policy, selected.scope, q, RISK_TOKEN, req, risk))
  for (const q of policy.action_quotas) if (q.action_kind === req.kind && quotaApplies(q, req)) plan.counters.push(counterUse(policy, selected.scope, q, req.kind, req))
  return plan
}

export function accessDenial(policy: Policy, kind: string, scope: string): PolicyDenial | undefined {
  const id = policy.policy_id
  if (policy.denied_action_kinds.length > 0 && policy.denied_action_kinds.includes(kind)) {
    return {
      reason_code: 'ACTION_KIND_DENIED',
      message: `Action kind ${kind} is denied by policy ${id}`,
      detail: {reason_code: 'ACTION_KIND_DENIED', blocked_by_policy: id, blocked_by_scope: scope, suggested_fix: `Remove '${kind}' from denied_action_kinds in policy '${id}'`},
    }
  }
  if (policy.allowed_action_kinds.length > 0 && !policy.allowed_action_kinds.includes(kind)) {
    return {
      reason_code: 'ACTION_KIND_NOT_ALLOWED',
      message: `Action kind ${kind} is not in the allowed_action_kinds of policy ${id}`,
      detail: {reason_code: 'ACTION_KIND_NOT_ALLOWED', blocked_by_policy: id, blocked_by_scope: scope, suggested_fix: `Add '${kind}' to allowed_action_kinds in policy '${id}'`},
    }
  }
  return undefined
}

/** Allowlists are positive filters; an absent policy key skips the rule, and an undeclared dimension is ignored. */
function quotaApplies(q: ActionQuota, req: PolicyRequest): boolean {
  const spec = req.kindResolution.registered ? req.kindResolution.entry.policy_key_spec : undefined
  const keys = req.policy_keys ?? {}
  const check = (list: string[] | undefined, declared: boolean, value: string | undefined) => {
    if (!list || list.length === 0) return true
    if (!declared || value === undefined) return false
    return list.includes(value)
  }
  return (
    check(q.host_allowlist, spec?.host === true, keys.host) &&
    check(q.recipient_domain_allowlist, spec?.recipient_domain === true, keys.recipient_domain) &&
    check(q.resource_type_allowlist, spec?.resource_type !== undefined, keys.resource_type)
  )
}

function counterUse(policy: Policy, scope: string, q: ActionQuota | RiskClassQuota, actionKind: string, req: PolicyRequest, risk?: RiskClass): CounterUse {
  const counterScope = q.window === 'per_tenant_per_day' ? `tenant:${req.tenant}` : scope
  let window_key: string
  let expires_at_ms: number
  if (q.window === 'per_run') {
    if (req.run_id === undefined) {
      throw invalid(`Validation failed: subject.dimensions.run_id: required, policy ${policy.policy_id} has a per_run quota on ${risk ? `risk class ${risk}` : actionKind}`)
    }
    window_key = req.run_id
    expires_at_ms = req.nowMs + (q.per_run_counter_ttl_ms ?? DEFAULT_PER_RUN_TTL_MS)
  } else {
    const w = calendarWindow(q.window, req.nowMs)
    window_key = w.key
    expires_at_ms = w.end_ms + WINDOW_CLEANUP_MS
  }
  const key: CounterKey = {tenant_id: req.tenant, scope: counterScope, action_kind: actionKind, ...(risk ? {risk_class: risk} : {}), window: q.window, window_key}
  return {id: counterId(key), key, limit: q.max_calls, per_run: q.window === 'per_run', expires_at_ms, policy_id: policy.policy_id}
}

/** The UTC calendar bucket of a time-bounded window and when it ends. */
export function calendarWindow(window: Exclude<QuotaWindow, 'per_run'>, nowMs: number): {key: string; end_ms: number} {
  const iso = new Date(nowMs).toISOString()
  const d = new Date(nowMs)
  if (window === 'per_minute_tumbling') return {key: iso.slice(0, 16), end_ms: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes() + 1)}
  if (window === 'per_hour_tumbling') return {key: iso.slice(0, 13), end_ms: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1)}
  return {key: iso.slice(0, 10), end_ms: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)}
}

/** tenant|scope|kind-or-__risk__|risk class|window|window key, each part URI-encoded: ids list by tenant prefix. */
export function counterId(k: CounterKey): string {
  return [k.tenant_id, k.scope, k.action_kind, k.risk_class ?? '', k.window, k.window_key].map(encodeURIComponent).join('|')
}

export function counterKeyOf(id: string): CounterKey | undefined {
  const parts = id.split('|').map(decodeURIComponent)
  if (parts.length !== 6) return undefined
  const [tenant_id, scope, action_kind, risk, window, window_key] = parts
  return {tenant_id, scope, action_kind, ...(risk ? {risk_class: risk as RiskClass} : {}), window: window as QuotaWindow, window_key}
}

export function tenantCounterPrefix(tenant: string): string {
  return `${encodeURIComponent(tenant)}|`
}

/**
 * Steps 2 and 3 against the counters' current values (`used` per counter id, absent = 0): the first
 * violated risk-class quota, else the most restrictive violated per-kind quota.
 */
export function quotaDenial(plan: PolicyPlan, used: ReadonlyMap<string, number>, kind: string): PolicyDenial | undefined {
  let worst: {use: CounterUse; used: number} | undefined
  for (const use of plan.counters) {
    const n = used.get(use.id) ?? 0
    if (n < use.limit) continue
    if (use.key.risk_class) return quotaExceeded(use, n, kind)
    if (!worst || use.limit - n < worst.use.limit - worst.used) worst = {use, used: n}
  }
  return worst ? quotaExceeded(worst.use, worst.used, kind) : undefined
}

function quotaExceeded(use: CounterUse, used: number, kind: string): PolicyDenial {
  const {key} = use
  const risk = key.risk_class
  const what = risk ?? kind
  const message = risk ? `Risk-class quota exceeded: ${risk} ${key.window} limit ${use.limit} reached` : `Action quota exceeded: ${kind} ${key.window} limit ${use.limit} reached`
  // Burst windows pass by themselves within a minute; for the rest the fix is a higher limit.
  const fix = key.window === 'per_minute_tumbling' ? `Wait until the next minute or increase ${key.window}` : `Increase ${what} ${key.window}`
  return {
    reason_code: 'ACTION_QUOTA_EXCEEDED',
    message,
    detail: {
      reason_code: 'ACTION_QUOTA_EXCEEDED',
      quota_violation: {action_kind: kind, ...(risk ? {risk_class: risk} : {}), window: key.window, window_key: key.window_key, used, limit: use.limit, scope: key.scope, policy_id: use.policy_id},
      blocked_by_policy: use.policy_id,
      blocked_by_scope: key.scope,
      suggested_fix: `${fix} limit from ${use.limit} in policy '${use.policy_id}'`,
    },
  }
}

/** Guards and increments of an admitted live reservation; `guarded` false (shadow mode) counts without guards. */
export function counterWrites(counters: readonly CounterUse[], guarded: boolean): {docs: DocWrite[]; docConditions: DocCondition[]} {
  return {
    docs: counters.map((c) => ({collection: QUOTA_COUNTERS_COLLECTION, id: c.id, add: {used: 1}, expires_at_ms: c.expires_at_ms})),
    docConditions: guarded ? counters.map((c) => ({collection: QUOTA_COUNTERS_COLLECTION, id: c.id, field: 'used', op: 'lt' as const, value: c.limit})) : [],
  }
}

// ---------------------------------------------------------------- rate limits

export interface RateUse {
  id: string
  limit: number
  expires_at_ms: number
  retry_after_s: number
  reset_s: number
  policy_id: string
  scope: string
  what: 'reservations' | 'commits'
}

/** The per-minute rate counter a reserve or commit is checked against, when the policy sets one. */
export function rateUse(selected: SelectedPolicy, tenant: string, what: 'reservations' | 'commits', nowMs: number): RateUse | undefined {
  const limit = what === 'reservations' ? selected.policy.rate_limits?.max_reservations_per_minute : selected.policy.rate_limits?.max_commits_per_minute
  if (limit === undefined) return undefined
  const w = calendarWindow('per_minute_tumbling', nowMs)
  return {
    id: [tenant, selected.scope, what, w.key].map(encodeURIComponent).join('|'),
    limit,
    expires_at_ms: w.end_ms + WINDOW_CLEANUP_MS,
    retry_after_s: Math.max(1, Math.ceil((w.end_ms - nowMs) / 1000)),
    reset_s: Math.floor(w.end_ms / 1000),
    policy_id: selected.policy.policy_id,
    scope: selected.scope,
    what,
  }
}

export function rateDenial(use: RateUse, used: number): PolicyDenial | undefined {
  if (used < use.limit) return undefined
  const field = use.what === 'reservations' ? 'max_reservations_per_minute' : 'max_commits_per_minute'
  return {
    reason_code: 'LIMIT_EXCEEDED',
    message: `Rate limit exceeded: ${field} ${use.limit} on scope ${use.scope} (policy ${use.policy_id}); retry after ${use.retry_after_s} s`,
    detail: {reason_code: 'LIMIT_EXCEEDED', blocked_by_policy: use.policy_id, blocked_by_scope: use.scope, suggested_fix: `Wait until the next minute or increase rate_limits.${field} from ${use.limit} in policy '${use.policy_id}'`},
    retry_after_s: use.retry_after_s,
  }
}

export function rateWrites(use: RateUse): {docs: DocWrite[]; docConditions: DocCondition[]} {
  return {
    docs: [{collection: RATE_COUNTERS_COLLECTION, id: use.id, add: {used: 1}, expires_at_ms: use.expires_at_ms}],
    docConditions: [{collection: RATE_COUNTERS_COLLECTION, id: use.id, field: 'used', op: 'lt', value: use.limit}],
  }
}
