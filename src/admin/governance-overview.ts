// The v0.1.26 governance parts of GET /v1/admin/overview (governance extensions, ADMIN OVERVIEW AND
// LIST FILTERS): quota_health from the live action-quota counters and access_control_stats from the
// policies' allow and deny lists. Shapes as the admin spec's optional AdminOverviewResponse fields.
import {counterKeyOf} from '../policies/evaluate.js'
import {counterState} from '../policies/policy-ops.js'
import {POLICIES_COLLECTION, type Policy, QUOTA_COUNTERS_COLLECTION} from '../policies/types.js'
import type {Store} from '../store/types.js'

/** The spec's "at >=80% of max_calls". */
const NEAR_LIMIT = 0.8
const TOP_OFFENDERS = 10

export interface QuotaOffender {
  scope: string
  action_kind: string
  window: string
  used: number
  limit: number
  /** used / limit, a fraction as the spec's threshold_pct (0.8 = 80 %). */
  utilization_pct: number
}

export interface GovernanceOverview {
  quota_health: {counters_above_80pct: number; counters_at_limit: number; top_offenders: QuotaOffender[]}
  access_control_stats: {policies_with_allow_list: number; policies_with_deny_list: number}
}

export async function governanceOverview(store: Store, nowMs: number): Promise<GovernanceOverview> {
  const [policyDocs, counterDocs] = await Promise.all([store.listDocs(POLICIES_COLLECTION, {limit: 100_000}), store.listDocs(QUOTA_COUNTERS_COLLECTION, {limit: 100_000})])
  const policies = policyDocs.map((d) => d.value as unknown as Policy)
  const byTenant = new Map<string, Policy[]>()
  for (const p of policies) byTenant.set(p.tenant_id, [...(byTenant.get(p.tenant_id) ?? []), p])

  // Active counters: used this window (expired ones are gone from the store) under a rule in effect now;
  // a counter whose rule was removed has no limit to be measured against.
  const active: QuotaOffender[] = []
  for (const doc of counterDocs) {
    const tenant = counterKeyOf(doc.id)?.tenant_id
    const state = tenant === undefined ? undefined : counterState(doc, byTenant.get(tenant) ?? [], nowMs)
    if (!state || state.policy_id === undefined || (state.used as number) <= 0) continue
    const used = state.used as number
    const limit = state.limit as number
    active.push({scope: state.scope as string, action_kind: state.action_kind as string, window: state.window as string, used, limit, utilization_pct: Math.round((used / limit) * 10_000) / 10_000})
  }
  const top = [...active].sort((a, b) => b.utilization_pct - a.utilization_pct || b.used - a.used || (a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : 0)).slice(0, TOP_OFFENDERS)
  return {
    quota_health: {
      counters_above_80pct: active.filter((c) => c.used >= NEAR_LIMIT * c.limit).length,
      counters_at_limit: active.filter((c) => c.used >= c.limit).length,
      top_offenders: top,
    },
    access_control_stats: {
      policies_with_allow_list: policies.filter((p) => p.allowed_action_kinds.length > 0).length,
      policies_with_deny_list: policies.filter((p) => p.denied_action_kinds.length > 0).length,
    },
  }
}
