// GET /v1/admin/overview and GET /v1/auth/introspect (the v0.1.26 governance parts: governance-overview.ts).
import {randomUUID} from 'node:crypto'

import {type DecisionRecord, isDenialReason} from '../decision-log/record.js'
import type {ApiKey, Ledger} from '../protocol/types.js'
import type {AdminCore, AdminResult, DenialSample} from './context.js'
import {iso} from './wire.js'
import {recentEvents} from '../events/overview.js'
import {webhookOverview} from '../webhooks/overview.js'
import {governanceOverview} from './governance-overview.js'

export const EVENT_WINDOW_SECONDS = 3600

export class OverviewOps {
  constructor(private readonly core: AdminCore) {}

  async overview(): Promise<AdminResult> {
    const now = this.core.now()
    const tenants = await this.core.store.listTenants()
    const ledgers = await this.core.store.listLedgers('real')
    const count = <T>(items: T[], pred: (x: T) => boolean) => items.filter(pred).length
    const byUnit: Record<string, number> = {}
    for (const l of ledgers) byUnit[l.unit] = (byUnit[l.unit] ?? 0) + 1
    const overLimit = ledgers.filter((l) => l.is_over_limit).sort((a, b) => b.debt - a.debt)
    const withDebt = ledgers.filter((l) => l.debt > 0).sort((a, b) => b.debt - a.debt)
    const since = now - EVENT_WINDOW_SECONDS * 1000
    const recent = this.core.recentDenials().filter((d) => d.ts_ms >= since).sort((a, b) => b.ts_ms - a.ts_ms)
    const denials = recent.filter((d) => !d.would)
    const wouldDenials = recent.filter((d) => d.would)
    const events = await recentEvents(this.core.store, since)
    const body: Record<string, unknown> = {
      as_of: iso(now),
      event_window_seconds: EVENT_WINDOW_SECONDS,
      tenant_counts: {
        total: tenants.length,
        active: count(tenants, (t) => t.status === 'ACTIVE'),
        suspended: count(tenants, (t) => t.status === 'SUSPENDED'),
        closed: count(tenants, (t) => t.status === 'CLOSED'),
        // v0.1.26: "observe_mode != ENFORCE" as the spec words it (so DISABLED counts); never set = ENFORCE.
        in_observe_mode: count(tenants, (t) => (t.observe_mode ?? 'ENFORCE') !== 'ENFORCE'),
      },
      budget_counts: {
        total: ledgers.length,
        active: count(ledgers, (l) => l.status === 'ACTIVE'),
        frozen: count(ledgers, (l) => l.status === 'FROZEN'),
        closed: count(ledgers, (l) => l.status === 'CLOSED'),
        over_limit: overLimit.length,
        with_debt: withDebt.length,
        by_unit: byUnit,
      },
      over_limit_scopes: overLimit.slice(0, 10).map((l: Ledger) => ({scope: l.scope, unit: l.unit, allocated: l.allocated, remaining: l.remaining, debt: l.debt})),
      debt_scopes: withDebt.slice(0, 10).map((l: Ledger) => ({scope: l.scope, unit: l.unit, debt: l.debt, overdraft_limit: l.overdraft_limit})),
      ...(await webhookOverview(this.core.store)),
      event_counts: {total_recent: events.total_recent, by_category: events.by_category},
      recent_denials: denials.slice(0, 10).map(denialEvent),
      recent_expiries: events.recent_expiries,
      recent_denials_by_reason: countBy(denials, (d) => d.reason_code ?? 'UNKNOWN'),
      ...(await governanceOverview(this.core.store, now)),
      // Not in the spec (an extension the reference server lacks): what full enforcement would have
      // denied in the same window among admitted requests (shadow tiers, the shadowed share of a ramp).
      would_denials: {
        total_recent: wouldDenials.length,
        by_reason: countBy(wouldDenials, (d) => d.reason_code ?? 'UNKNOWN'),
        by_tier: countBy(wouldDenials, (d) => d.tier ?? 'unknown'),
        recent: wouldDenials.slice(0, 10).map(denialEvent),
      },
    }
    return {status: 200, body}
  }

  introspectAdmin(): AdminResult {
    return {
      status: 200,
      body: {
        authenticated: true,
        auth_type: 'admin',
        permissions: ['*'],
        capabilities: {
          view_overview: true,
          view_budgets: true,
          view_events: true,
          view_webhooks: true,
          view_audit: true,
          view_tenants: true,
          view_api_keys: true,
          view_policies: true,
          view_reservations: true,
          manage_budgets: true,
          manage_policies: true,
          manage_webhooks: true,
          manage_tenants: true,
          manage_api_keys: true,
          manage_reservations: true,
        },
      },
    }
  }

  introspectTenant(key: ApiKey): AdminResult {
    const has = (...perms: string[]) => perms.some((p) => key.permissions.includes(p))
    return {
      status: 200,
      body: {
        authenticated: true,
        auth_type: 'tenant',
        permissions: key.permissions,
        capabilities: {
          view_overview: false,
          view_budgets: has('budgets:read', 'balances:read', 'admin:read'),
          view_events: has('events:read', 'admin:read'),
          view_webhooks: has('webhooks:read', 'admin:read'),
          view_audit: false,
          view_tenants: false,
          view_api_keys: false,
          view_policies: has('policies:read', 'admin:read'),
          view_reservations: has('reservations:list', 'admin:read'),
          manage_budgets: has('budgets:write', 'admin:write'),
          manage_policies: has('policies:write', 'admin:write'),
          manage_webhooks: has('webhooks:write', 'admin:write'),
          manage_reservations: has('reservations:release'),
        },
        tenant_id: key.tenant_id,
        ...(key.scope_filter ? {scope_filter: key.scope_filter} : {}),
      },
    }
  }
}

function countBy<T>(items: T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const x of items) out[key(x)] = (out[key(x)] ?? 0) + 1
  return out
}

/** A runtime denial as the spec's Event (`reservation.denied`). */
function denialEvent(d: DenialSample): Record<string, unknown> {
  const data: Record<string, unknown> = {}
  if (d.scope) data.scope = d.scope
  if (d.unit) data.unit = d.unit
  if (d.reason_code) data.reason_code = d.reason_code
  if (d.estimate !== undefined) data.requested_amount = d.estimate
  if (d.action) data.action = d.action
  if (d.subject) data.subject = d.subject
  return {
    event_id: `evt_${(d.request_id ?? randomUUID()).replaceAll("-", "")}`,
    // A would-be denial is named as the v0.1.26 observe-mode event for the same thing.
    event_type: d.would ? 'reservation.observed_denied' : 'reservation.denied',
    category: 'reservation',
    timestamp: iso(d.ts_ms),
    tenant_id: d.tenant,
    ...(d.scope ? {scope: d.scope} : {}),
    source: 'cycles-daemon',
    data,
    ...(d.request_id ? {request_id: d.request_id} : {}),
    ...(d.trace_id && /^[0-9a-f]{32}$/.test(d.trace_id) ? {trace_id: d.trace_id} : {}),
  }
}

/** Decision-record reasons that count as budget denials for the admin overview. */

/**
 * Bounded rings of recent runtime denials, fed by the daemon from its decision records: real ones
 * (answered DENY) and would-be ones (admitted, but full enforcement — the shadow book — would have
 * denied them). Kept apart so a flood of shadow traffic never pushes real denials out.
 */
export class DenialRing {
  private readonly real: DenialSample[] = []
  private readonly would: DenialSample[] = []
  constructor(private readonly capacity = 1000) {}

  push(sample: DenialSample): void {
    const ring = sample.would ? this.would : this.real
    ring.push(sample)
    if (ring.length > this.capacity) ring.splice(0, ring.length - this.capacity)
  }

  /** Keep the record if it is a real or a would-be budget denial. */
  observe(record: DecisionRecord, nowMs: number): void {
    // Policy denials (v0.1.26 access control, quotas, approval) count as the spec's overview asks; an
    // observe-mode denial was admitted as a dry-run (reservation.observed_denied, not reservation.denied).
    const real = record.decision === 'DENY' && record.observe_mode !== 'OBSERVE' && isDenialReason(record.reason_code, record.policy_id)
    // Admissions only: a commit of a would-denied reservation repeats its reserve's would-be denial.
    const admission = record.endpoint === 'reserve' || record.endpoint === 'decide' || record.endpoint === 'event'
    const would = !real && admission && record.decision !== 'DENY' && record.would_decision === 'DENY'
    if (!real && !would) return
    this.push({
      ts_ms: nowMs,
      tenant: record.tenant,
      scope: record.denied_scope ?? record.scope_path,
      unit: record.unit,
      reason_code: real ? record.reason_code : record.would_reason_code,
      estimate: record.estimate,
      action: record.action,
      subject: record.subject as Record<string, unknown> | undefined,
      request_id: record.request_id,
      trace_id: record.trace_id,
      ...(would ? {would: true, tier: record.tier} : {}),
    })
  }

  snapshot(): DenialSample[] {
    return [...this.real, ...this.would]
  }
}
