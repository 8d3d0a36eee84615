// Policy lifecycle over the store's `policies` collection: create, update (optimistic, by doc
// version), delete, and the wire shape. Every change is written with its audit row in one
// transaction and invalidates this process's policy cache (other instances: POLICY_CACHE_TTL_MS).
import {randomBytes} from 'node:crypto'

import {compileScopeFilter} from '../admin/permissions.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {SCOPE_LEVELS} from '../protocol/types.js'
import type {AuditEntry, Store, StoredDoc} from '../store/types.js'
import {builtInKind} from './action-kinds.js'
import {counterKeyOf} from './evaluate.js'
import {inEffect} from './match.js'
import {invalidatePolicies} from './policy-set.js'
import type {PolicyCreate, PolicyUpdate} from './schema.js'
import {CUSTOM_KINDS_COLLECTION, POLICIES_COLLECTION, type Policy} from './types.js'

const iso = (ms: number) => new Date(ms).toISOString()

/** Time-ordered ids: a zero-padded base-36 time, then randomness. */
export function newPolicyId(nowMs: number): string {
  return `pol_${nowMs.toString(36).padStart(9, '0')}${randomBytes(5).toString('hex')}`
}

/** The v0.1.26 Policy on the wire; approval_required_action_kinds only for callers that asked for `cycles` extensions. */
export function policyWire(p: Policy, withExtensions = false): Record<string, unknown> {
  return {
    policy_id: p.policy_id,
    name: p.name,
    ...(p.description !== undefined ? {description: p.description} : {}),
    scope_pattern: p.scope_pattern,
    priority: p.priority,
    ...(p.caps ? {caps: p.caps} : {}),
    ...(p.commit_overage_policy ? {commit_overage_policy: p.commit_overage_policy} : {}),
    ...(p.reservation_ttl_override ? {reservation_ttl_override: p.reservation_ttl_override} : {}),
    ...(p.rate_limits ? {rate_limits: p.rate_limits} : {}),
    status: p.status,
    ...(p.effective_from_ms !== undefined ? {effective_from: iso(p.effective_from_ms)} : {}),
    ...(p.effective_until_ms !== undefined ? {effective_until: iso(p.effective_until_ms)} : {}),
    created_at: iso(p.created_at_ms),
    ...(p.updated_at_ms !== undefined ? {updated_at: iso(p.updated_at_ms)} : {}),
    action_quotas: p.action_quotas,
    risk_class_quotas: p.risk_class_quotas,
    allowed_action_kinds: p.allowed_action_kinds,
    denied_action_kinds: p.denied_action_kinds,
    ...(withExtensions ? {approval_required_action_kinds: p.approval_required_action_kinds} : {}),
  }
}

/** A new policy from a validated create body (the caller checked the tenant). */
export function policyFromCreate(body: PolicyCreate, tenantId: string, nowMs: number, policyId = newPolicyId(nowMs)): Policy {
  const {tenant_id: _t, effective_from, effective_until, ...rest} = body
  const p: Policy = {...rest, policy_id: policyId, tenant_id: tenantId, status: 'ACTIVE', created_at_ms: nowMs}
  if (effective_from) p.effective_from_ms = Date.parse(effective_from)
  if (effective_until) p.effective_until_ms = Date.parse(effective_until)
  return p
}

export function applyUpdate(p: Policy, body: PolicyUpdate, nowMs: number): Policy {
  const {effective_from, effective_until, ...rest} = body
  const next: Policy = {...p, ...rest, updated_at_ms: nowMs}
  if (effective_from !== undefined) next.effective_from_ms = Date.parse(effective_from)
  if (effective_until !== undefined) next.effective_until_ms = Date.parse(effective_until)
  return next
}

/**
 * What the spec and this daemon refuse in a policy, checked on the result of a create or update:
 * both access lists non-empty (mutually exclusive), an empty effective window, undeclared custom.* kinds.
 */
export async function policyProblems(store: Store, p: Policy): Promise<void> {
  if (p.allowed_action_kinds.length > 0 && p.denied_action_kinds.length > 0) {
    throw invalid('Validation failed: allowed_action_kinds and denied_action_kinds are mutually exclusive; send [] for one of them')
  }
  if (p.effective_from_ms !== undefined && p.effective_until_ms !== undefined && p.effective_until_ms <= p.effective_from_ms) {
    throw invalid('Validation failed: effective_until must be after effective_from')
  }
  const kinds = [...p.allowed_action_kinds, ...p.denied_action_kinds, ...p.approval_required_action_kinds, ...p.action_quotas.map((q) => q.action_kind)]
  const custom = [...new Set(kinds.filter((k) => k.startsWith('custom.') && !builtInKind(k)))]
  if (custom.length === 0) return
  const declared = await store.getDocs(CUSTOM_KINDS_COLLECTION, custom)
  const missing = custom.filter((_, i) => !declared[i])
  if (missing.length > 0) throw invalid(`Validation failed: unregistered custom action kind(s) ${missing.join(', ')}; declare them first (POST /v1/admin/action-kinds or action_kinds: in the config)`)
}

export async function listTenantPolicies(store: Store, tenantId: string): Promise<Array<{policy: Policy; doc: StoredDoc}>> {
  const docs = await store.listDocs(POLICIES_COLLECTION, {limit: 100_000})
  return docs.map((doc) => ({policy: doc.value as unknown as Policy, doc})).filter((x) => x.policy.tenant_id === tenantId)
}

export async function getPolicy(store: Store, policyId: string): Promise<{policy: Policy; doc: StoredDoc}> {
  const [doc] = await store.getDocs(POLICIES_COLLECTION, [policyId])
  if (!doc) throw new ProtocolError('NOT_FOUND', `Policy not found: ${policyId}`)
  return {policy: doc.value as unknown as Policy, doc}
}

/**
 * Write a policy (or delete it) with its audit row; `expectVersion` 0 for a create, the read version
 * for an update or delete (a concurrent change makes this one a 409, to be retried on the new state).
 */
export async function writePolicy(store: Store, p: Policy, expectVersion: number, audit: AuditEntry, remove = false): Promise<void> {
  const applied = await store.apply({
    docs: [remove ? {collection: POLICIES_COLLECTION, id: p.policy_id, delete: true, expectVersion} : {collection: POLICIES_COLLECTION, id: p.policy_id, set: p as unknown as Record<string, unknown>, expectVersion}],
    audit: [audit],
  })
  if (!applied.ok) {
    if (applied.failed === 'doc') throw new ProtocolError('DUPLICATE_RESOURCE', `Policy ${p.policy_id} changed concurrently; read it again and retry`)
    throw new ProtocolError('INTERNAL_ERROR', `Store rejected the policy change (${applied.failed})`)
  }
  await store.flushed()
  invalidatePolicies(store)
}

/** ActionQuotaState of one counter doc; limit and policy from the tenant's policies now (a counter keeps no copy). */
export function counterState(doc: StoredDoc, policies: Policy[], nowMs: number): Record<string, unknown> | undefined {
  const key = counterKeyOf(doc.id)
  if (!key) return undefined
  const used = typeof doc.value.used === 'number' ? Math.max(0, doc.value.used) : 0
  const rule = policies
    .filter((p) => inEffect(p, nowMs))
    .sort((a, b) => b.priority - a.priority)
    .map((p) => ({p, q: key.risk_class ? p.risk_class_quotas.find((q) => q.risk_class === key.risk_class && q.window === key.window) : p.action_quotas.find((q) => q.action_kind === key.action_kind && q.window === key.window)}))
    .find((x) => x.q)
  const limit = rule?.q?.max_calls ?? Math.max(1, used)
  return {
    action_kind: key.action_kind,
    ...(key.risk_class ? {risk_class: key.risk_class} : {}),
    scope: key.scope,
    scope_path: key.scope,
    window: key.window,
    window_key: key.window_key,
    used,
    limit,
    remaining: Math.max(0, limit - used),
    ...(rule ? {policy_id: rule.p.policy_id} : {}),
    ...(doc.expires_at_ms !== undefined && key.window !== 'per_run' ? {expires_at: new Date(doc.expires_at_ms).toISOString()} : {}),
  }
}

/**
 * Whether a tenant key may see and govern policies of `pattern`: the pattern names no other tenant,
 * and for a key with a scope filter it is a path from the key's own tenant (no wildcard value) whose
 * scope — and, when it ends in `/*`, the scopes beneath it — the filter admits. `agent:*` and the like
 * reach every scope, so a filtered key never governs them.
 */
export function patternInReach(pattern: string, tenant: string, scopeFilter: readonly string[] | undefined): boolean {
  const segments = pattern.toLowerCase().split('/')
  const own = `tenant:${tenant.toLowerCase()}`
  if (segments[0].startsWith('tenant:') && segments[0] !== own) return false
  const filter = compileScopeFilter(scopeFilter)
  if (!filter) return true
  const open = segments.at(-1) === '*'
  const head = open ? segments.slice(0, -1) : segments
  if (head[0] !== own || head.some((s) => s === '*' || s.endsWith(':*'))) return false
  const path = head.join('/')
  if (!filter.allows(path)) return false
  if (!open) return true
  // Beneath: filters by segment admit every descendant of an admitted scope, exact paths none; one child tells them apart.
  const deeper = SCOPE_LEVELS[SCOPE_LEVELS.indexOf(head.at(-1)!.split(':')[0] as (typeof SCOPE_LEVELS)[number]) + 1]
  return deeper === undefined || filter.allows(`${path}/${deeper}:x`)
}
