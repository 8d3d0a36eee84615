// Domain records → the admin spec's wire shapes (cycles-governance-admin v0.1.25). Only keys the
// spec declares, never null, timestamps as ISO-8601 date-time.
import {sha256Hex} from '../protocol/canonical-json.js'
import {scopeTenant} from '../protocol/scope.js'
import type {ApiKey, Ledger, Tenant} from '../protocol/types.js'
import type {AuditEntry} from '../store/types.js'
import {publicKeyPrefix} from './auth.js'

/** Keys without an expiry are reported with this far-future instant (the spec requires expires_at). */
export const NEVER_EXPIRES = '9999-12-31T23:59:59.999Z'
/** Sentinel tenant ids for audit rows (cycles-admin.md §1.6). */
export const ADMIN_TENANT = '__admin__'
export const UNAUTH_TENANT = '__unauth__'

export const iso = (ms: number | undefined): string => new Date(ms ?? 0).toISOString()

/** Stable ledger id from (scope, unit), so every store and restart agrees on it. */
export function ledgerId(scope: string, unit: string): string {
  return `ldg_${sha256Hex(`${scope}|${unit}`).slice(0, 20)}`
}

/** A tenant on the wire; `v26` (the caller sent X-Cycles-Protocol-Version: 0.1.26) adds the v0.1.26 fields. */
export function tenantWire(t: Tenant, v26 = false): Record<string, unknown> {
  const out: Record<string, unknown> = {
    tenant_id: t.tenant_id,
    name: t.name ?? t.tenant_id,
    status: t.status,
  }
  if (t.parent_tenant_id) out.parent_tenant_id = t.parent_tenant_id
  if (t.default_commit_overage_policy) out.default_commit_overage_policy = t.default_commit_overage_policy
  out.default_reservation_ttl_ms = t.default_reservation_ttl_ms ?? 60_000
  out.max_reservation_ttl_ms = t.max_reservation_ttl_ms ?? 3_600_000
  out.max_reservation_extensions = t.max_reservation_extensions ?? 10
  out.reservation_expiry_policy = 'AUTO_RELEASE'
  if (t.metadata && Object.keys(t.metadata).length > 0) out.metadata = t.metadata
  out.created_at = iso(t.created_at_ms)
  if (t.updated_at_ms !== undefined) out.updated_at = iso(t.updated_at_ms)
  if (t.suspended_at_ms !== undefined) out.suspended_at = iso(t.suspended_at_ms)
  if (t.closed_at_ms !== undefined) out.closed_at = iso(t.closed_at_ms)
  // v0.1.26 Tenant.observe_mode, always (ENFORCE for tenants from before the extension: DEFAULT VALUE
  // SEMANTICS) for v0.1.26 callers; v0.1.25 callers get the v0.1.25 Tenant, whose schema is closed.
  if (v26) out.observe_mode = t.observe_mode ?? 'ENFORCE'
  return out
}

/** Used fraction of the allocation: (allocated − remaining) / allocated, i.e. spent + reserved + debt. */
export function utilization(l: Ledger): number {
  const used = l.allocated - l.remaining
  if (l.allocated <= 0) return used > 0 ? Number.POSITIVE_INFINITY : 0
  return used / l.allocated
}

export function ledgerWire(l: Ledger): Record<string, unknown> {
  const amount = (n: number) => ({unit: l.unit, amount: n})
  const out: Record<string, unknown> = {
    ledger_id: ledgerId(l.scope, l.unit),
    tenant_id: scopeTenant(l.scope),
    scope: l.scope,
    scope_path: l.scope,
    unit: l.unit,
    allocated: amount(l.allocated),
    remaining: amount(l.remaining),
    reserved: amount(l.reserved),
    spent: amount(l.spent),
    debt: amount(l.debt),
    overdraft_limit: amount(l.overdraft_limit),
    is_over_limit: l.is_over_limit,
    status: l.status,
    rollover_policy: 'NONE',
    created_at: iso(l.created_at_ms),
  }
  if (out.tenant_id === undefined) delete out.tenant_id
  if (l.commit_overage_policy) out.commit_overage_policy = l.commit_overage_policy
  if (l.updated_at_ms !== undefined) out.updated_at = iso(l.updated_at_ms)
  return out
}

/** ACTIVE keys past their expiry read as EXPIRED. */
export function effectiveKeyStatus(k: ApiKey, nowMs: number): ApiKey['status'] {
  if (k.status === 'ACTIVE' && k.expires_at_ms !== undefined && k.expires_at_ms <= nowMs) return 'EXPIRED'
  return k.status
}

export function apiKeyWire(k: ApiKey, nowMs: number): Record<string, unknown> {
  const out: Record<string, unknown> = {
    key_id: k.key_id,
    tenant_id: k.tenant_id,
    key_prefix: publicKeyPrefix(k.key_prefix),
  }
  if (k.name !== undefined) out.name = k.name
  if (k.description !== undefined) out.description = k.description
  out.permissions = k.permissions
  if (k.scope_filter) out.scope_filter = k.scope_filter
  out.status = effectiveKeyStatus(k, nowMs)
  out.created_at = iso(k.created_at_ms)
  if (k.last_used_at_ms !== undefined) out.last_used_at = iso(k.last_used_at_ms)
  out.expires_at = k.expires_at_ms === undefined ? NEVER_EXPIRES : iso(k.expires_at_ms)
  if (k.revoked_at_ms !== undefined) out.revoked_at = iso(k.revoked_at_ms)
  if (k.revoked_reason !== undefined) out.revoked_reason = k.revoked_reason
  if (k.metadata && Object.keys(k.metadata).length > 0) out.metadata = k.metadata
  return out
}

export function auditWire(e: AuditEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    log_id: e.log_id,
    timestamp: iso(e.timestamp_ms),
    tenant_id: e.tenant_id ?? ADMIN_TENANT,
    operation: e.operation,
    status: e.status,
  }
  const optional = ['key_id', 'user_agent', 'source_ip', 'resource_type', 'resource_id', 'request_id', 'trace_id', 'error_code'] as const
  for (const k of optional) if (e[k] !== undefined) out[k] = e[k]
  const meta: Record<string, unknown> = {...(e.metadata ?? {})}
  if (e.actor_type) meta.actor_type = e.actor_type
  if (Object.keys(meta).length > 0) out.metadata = meta
  if (e.hash !== undefined) Object.assign(out, {chain_seq: e.chain_seq, prev_hash: e.prev_hash, hash: e.hash})
  return out
}
