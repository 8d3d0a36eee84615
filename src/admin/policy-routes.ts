// Policies on the admin plane (admin spec createPolicy / listPolicies / updatePolicy with the v0.1.26
// governance fields; GET and DELETE of one policy are `cycles` extensions — the spec says to disable
// instead of deleting, and we offer both), the action-quota counters (list; reset for incident
// response, audited) and custom action-kind declarations. Every write is audited.
//
// Auth (the spec's dual auth, tenant-key.ts): policies take the admin key, or a tenant key with
// policies:read (list, get) / policies:write (create, patch, delete) acting on its own tenant only —
// another tenant's policy is NOT_FOUND, a pattern outside the key's tenant or scope filter FORBIDDEN.
// The counter list takes the admin key, or a tenant key with action_quotas:read or, deprecated in
// v0.1.26, balances:read (answered with X-Cycles-Permission-Deprecated). Reset and action kinds: admin only.
import {type HttpRequest, type HttpResponse, type JsonServer, headerOf} from '../daemon/http/json-server.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {counterId, tenantCounterPrefix} from '../policies/evaluate.js'
import {applyUpdate, counterState, getPolicy, listTenantPolicies, patternInReach, policyFromCreate, policyProblems, policyWire, writePolicy} from '../policies/policy-ops.js'
import {invalidatePolicies} from '../policies/policy-set.js'
import {customKindDeclaration, policyCreate, policyUpdate} from '../policies/schema.js'
import {CUSTOM_KINDS_COLLECTION, DEFAULT_PER_RUN_TTL_MS, EXTENSIONS_HEADER, type Policy, QUOTA_COUNTERS_COLLECTION, QUOTA_WINDOWS, RISK_CLASSES} from '../policies/types.js'
import {compileScopeFilter} from './permissions.js'
import type {Caller, DualAuth} from './tenant-key.js'
import {type AdminCore, type AdminCtx, type AdminResult, paginate} from './context.js'
import {parseBody, queryBool, queryEnum, queryInt, requiredQuery} from './requests.js'
import {z} from 'zod'

type AdminOnly = (handler: (req: HttpRequest, ctx: AdminCtx) => Promise<AdminResult> | AdminResult) => (req: HttpRequest) => Promise<HttpResponse>

/** The v0.1.26 primary permission of the counter list, then its deprecated fallback (removed in v0.1.27). */
export const COUNTER_READ_PERMISSIONS = ['action_quotas:read', 'balances:read'] as const
export const DEPRECATED_PERMISSION_HEADER = 'X-Cycles-Permission-Deprecated'

const counterReset = z.strictObject({
  tenant_id: z.string().min(1).optional(),
  scope: z.string().min(1),
  action_kind: z.string().min(1).max(64),
  risk_class: z.enum(RISK_CLASSES).optional(),
  window: z.enum(QUOTA_WINDOWS),
  window_key: z.string().min(1),
  reason: z.string().max(512).optional(),
})

export function registerPolicyRoutes(server: JsonServer, adminOnly: AdminOnly, adminOrTenantKey: DualAuth, core: AdminCore): void {
  const {store} = core
  const extensions = (req: HttpRequest) => /\b(cycles|approvals)\b/i.test(headerOf(req, EXTENSIONS_HEADER) ?? '')
  const row = (ctx: AdminCtx, tenant: string, operation: string, resource_type: string, resource_id: string, status: number, metadata: Record<string, unknown>) =>
    core.audit(ctx, {tenant_id: tenant, operation, resource_type, resource_id, status, metadata})
  /** A policy write's audit row: by the admin on the tenant's behalf, or by the tenant key itself. */
  const policyRow = (ctx: AdminCtx, who: Caller, p: Policy, operation: string, status: number, metadata: Record<string, unknown>) =>
    core.audit(ctx, {tenant_id: p.tenant_id, operation, resource_type: 'policy', resource_id: p.policy_id, status, metadata}, who)
  /** policy.created | updated | deleted (EventDataPolicy), once the write is applied; a tenant key is its actor. */
  const announce = (ctx: AdminCtx, who: Caller, eventType: string, p: Policy, changed_fields?: string[]) =>
    core.emit(ctx, eventType, {tenant_id: p.tenant_id, scope: p.scope_pattern, data: {policy_id: p.policy_id, ...(p.name ? {name: p.name} : {}), scope_pattern: p.scope_pattern, ...(changed_fields ? {changed_fields} : {})}}, who)
  /** A tenant key reaches only its own tenant's policies, inside its scope filter. */
  const reachable = (who: Caller, p: Policy): boolean => who.kind === 'admin' || (p.tenant_id === who.tenant && patternInReach(p.scope_pattern, who.tenant, who.scope_filter))
  const refuseOutOfReach = (who: Caller, pattern: string): void => {
    if (who.kind === 'tenant' && !patternInReach(pattern, who.tenant, who.scope_filter)) {
      throw new ProtocolError('FORBIDDEN', `API key ${who.key_id} may not govern scope pattern '${pattern}': it names another tenant or reaches beyond the key's scope_filter`)
    }
  }
  /** The policy of the path, as the caller may see it: another tenant's is missing, one beyond the filter forbidden. */
  const loadFor = async (who: Caller, policyId: string) => {
    const found = await getPolicy(store, policyId)
    if (who.kind === 'tenant') {
      if (found.policy.tenant_id !== who.tenant) throw new ProtocolError('NOT_FOUND', `Policy not found: ${policyId}`)
      refuseOutOfReach(who, found.policy.scope_pattern)
    }
    return found
  }

  const create = async (req: HttpRequest, ctx: AdminCtx, who: Caller): Promise<AdminResult> => {
    const body = parseBody(policyCreate, req.body)
    if (who.kind === 'tenant' && body.tenant_id !== undefined) throw invalid("Validation failed: tenant_id: must not be sent with X-Cycles-API-Key; the key's tenant is used")
    if (who.kind === 'admin' && !body.tenant_id) throw invalid('Validation failed: tenant_id: required with X-Admin-API-Key')
    const tenant = await core.tenantOrThrow(who.kind === 'tenant' ? who.tenant : body.tenant_id!)
    if (tenant.status === 'CLOSED') throw new ProtocolError('TENANT_CLOSED', `Tenant ${tenant.tenant_id} is closed; its objects are read-only`)
    refuseOutOfReach(who, body.scope_pattern)
    const existing = await listTenantPolicies(store, tenant.tenant_id)
    if (existing.some((x) => x.policy.name === body.name)) throw new ProtocolError('DUPLICATE_RESOURCE', `Policy named '${body.name}' already exists for tenant ${tenant.tenant_id}`)
    const p = policyFromCreate(body, tenant.tenant_id, core.now())
    await policyProblems(store, p)
    await writePolicy(store, p, 0, policyRow(ctx, who, p, 'createPolicy', 201, {name: p.name, scope_pattern: p.scope_pattern}))
    announce(ctx, who, 'policy.created', p)
    return {status: 201, body: policyWire(p, extensions(req))}
  }

  const list = async (req: HttpRequest, _ctx: AdminCtx, who: Caller): Promise<AdminResult> => {
    const q = req.query
    // A tenant key lists its own tenant's policies whatever tenant_id says (spec: ignored).
    const tenant = who.kind === 'tenant' ? who.tenant : requiredQuery(q, 'tenant_id')
    const status = queryEnum(q, 'status', ['ACTIVE', 'DISABLED'] as const)
    const pattern = q.get('scope_pattern') || undefined
    const hasQuotas = queryBool(q, 'has_action_quotas')
    const kind = q.get('references_action_kind') || undefined
    const limit = queryInt(q, 'limit', 1, 100) ?? 50
    const policies = (await listTenantPolicies(store, tenant))
      .map((x) => x.policy)
      .filter(
        (p) =>
          reachable(who, p) &&
          (!status || p.status === status) &&
          (!pattern || p.scope_pattern === pattern) &&
          (hasQuotas === undefined || hasQuotas === p.action_quotas.length + p.risk_class_quotas.length > 0) &&
          (!kind || p.allowed_action_kinds.includes(kind) || p.denied_action_kinds.includes(kind) || p.action_quotas.some((x) => x.action_kind === kind)),
      )
    const binding = {r: 'policies', tenant, status, pattern, hasQuotas, kind, ...(who.kind === 'tenant' ? {key: who.key_id} : {})}
    const {page, next_cursor, has_more} = paginate(policies, binding, q.get('cursor'), limit)
    return {status: 200, body: {policies: page.map((p) => policyWire(p, extensions(req))), ...(next_cursor ? {next_cursor} : {}), has_more}}
  }

  const update = async (req: HttpRequest, ctx: AdminCtx, who: Caller): Promise<AdminResult> => {
    const body = parseBody(policyUpdate, req.body)
    const {policy, doc} = await loadFor(who, req.params.policy_id)
    await core.guardTenantOpen(policy.tenant_id)
    const next = applyUpdate(policy, body, core.now())
    refuseOutOfReach(who, next.scope_pattern)
    await policyProblems(store, next)
    await writePolicy(store, next, doc.version, policyRow(ctx, who, policy, 'updatePolicy', 200, {changed_fields: Object.keys(body)}))
    announce(ctx, who, 'policy.updated', next, Object.keys(body))
    return {status: 200, body: policyWire(next, extensions(req))}
  }

  const remove = async (req: HttpRequest, ctx: AdminCtx, who: Caller): Promise<AdminResult> => {
    const {policy, doc} = await loadFor(who, req.params.policy_id)
    await core.guardTenantOpen(policy.tenant_id)
    await writePolicy(store, policy, doc.version, policyRow(ctx, who, policy, 'deletePolicy', 200, {name: policy.name, reason: req.query.get('reason') ?? undefined}), true)
    announce(ctx, who, 'policy.deleted', policy)
    return {status: 200, body: policyWire(policy, extensions(req))}
  }

  const read = ['policies:read'] as const
  const write = ['policies:write'] as const
  server
    .route('POST', '/v1/admin/policies', adminOrTenantKey(write, create))
    .route('GET', '/v1/admin/policies', adminOrTenantKey(read, list))
    .route('GET', '/v1/admin/policies/:policy_id', adminOrTenantKey(read, async (req, _ctx, who) => ({status: 200, body: policyWire((await loadFor(who, req.params.policy_id)).policy, extensions(req))})))
    .route('PATCH', '/v1/admin/policies/:policy_id', adminOrTenantKey(write, update))
    .route('DELETE', '/v1/admin/policies/:policy_id', adminOrTenantKey(write, remove))
    .route('GET', '/v1/admin/action-quota-counters', adminOrTenantKey(COUNTER_READ_PERMISSIONS, (req, _ctx, who) => listCounters(core, req.query, who)))
    .route('POST', '/v1/admin/action-quota-counters/reset', adminOnly((req, ctx) => resetCounter(core, ctx, req.body)))
    .route('GET', '/v1/admin/action-kinds', adminOnly(async () => ({status: 200, body: {kinds: (await store.listDocs(CUSTOM_KINDS_COLLECTION, {limit: 10_000})).map((d) => d.value)}})))
    .route(
      'POST',
      '/v1/admin/action-kinds',
      adminOnly(async (req, ctx) => {
        const decl = parseBody(customKindDeclaration, req.body)
        const applied = await store.apply({
          docs: [{collection: CUSTOM_KINDS_COLLECTION, id: decl.kind, set: decl}],
          audit: [row(ctx, '__admin__', 'declareActionKind', 'action_kind', decl.kind, 200, {risk_class: decl.risk_class})],
        })
        if (!applied.ok) throw new ProtocolError('INTERNAL_ERROR', `Store rejected the declaration (${applied.failed})`)
        await store.flushed()
        invalidatePolicies(store)
        return {status: 200, body: decl}
      }),
    )
}

async function listCounters(core: AdminCore, q: URLSearchParams, who: Caller): Promise<AdminResult> {
  // A tenant key reads its own tenant's counters (tenant_id ignored), inside its scope filter.
  const tenant = who.kind === 'tenant' ? who.tenant : requiredQuery(q, 'tenant_id')
  const filter = who.kind === 'tenant' ? compileScopeFilter(who.scope_filter) : undefined
  const scope = q.get('scope') || undefined
  const kind = q.get('action_kind') || undefined
  const window = queryEnum(q, 'window', QUOTA_WINDOWS)
  const runId = q.get('run_id') || undefined
  const includeZero = queryBool(q, 'include_zero') ?? false
  const limit = queryInt(q, 'limit', 1, 200) ?? 50
  const now = core.now()
  const [docs, policies] = await Promise.all([core.store.listDocs(QUOTA_COUNTERS_COLLECTION, {prefix: tenantCounterPrefix(tenant), limit: 100_000}), listTenantPolicies(core.store, tenant)])
  const states = docs
    .map((d) => counterState(d, policies.map((x) => x.policy), now))
    .filter((s): s is Record<string, unknown> => s !== undefined)
    .filter(
      (s) =>
        (includeZero || (s.used as number) > 0) &&
        (!filter || filter.allows(s.scope as string)) &&
        (!scope || (s.scope as string).startsWith(scope)) &&
        (!kind || s.action_kind === kind) &&
        (!window || s.window === window) &&
        (!runId || (s.window === 'per_run' && s.window_key === runId)),
    )
  const {page, next_cursor, has_more} = paginate(states, {r: 'counters', tenant, scope, kind, window, runId, includeZero, ...(who.kind === 'tenant' ? {key: who.key_id} : {})}, q.get('cursor'), limit)
  const headers: Record<string, string> = {'X-Cycles-Tenant': tenant}
  if (who.kind === 'tenant' && who.granted === 'balances:read') headers[DEPRECATED_PERMISSION_HEADER] = 'balances:read'
  return {status: 200, body: {counters: page, ...(next_cursor ? {next_cursor} : {}), has_more}, headers}
}

/** Set one counter to 0 (incident response): TTL kept for calendar windows, refreshed for per_run; audited with the previous value and reason. */
async function resetCounter(core: AdminCore, ctx: AdminCtx, raw: unknown): Promise<AdminResult> {
  const body = parseBody(counterReset, raw)
  if (!body.tenant_id) throw invalid('Validation failed: missing_required_field: tenant_id')
  if ((body.action_kind === '__risk__') !== (body.risk_class !== undefined)) throw invalid('Validation failed: risk_class is required with action_kind "__risk__" and only then')
  const key = {tenant_id: body.tenant_id, scope: body.scope, action_kind: body.action_kind, ...(body.risk_class ? {risk_class: body.risk_class} : {}), window: body.window, window_key: body.window_key}
  const id = counterId(key)
  const [doc] = await core.store.getDocs(QUOTA_COUNTERS_COLLECTION, [id])
  if (!doc) throw new ProtocolError('NOT_FOUND', `No quota counter matches ${body.scope} ${body.action_kind} ${body.window} ${body.window_key}`)
  const previous = typeof doc.value.used === 'number' ? doc.value.used : 0
  const now = core.now()
  const applied = await core.store.apply({
    docs: [{collection: QUOTA_COUNTERS_COLLECTION, id, set: {used: 0}, expectVersion: doc.version, ...(body.window === 'per_run' ? {expires_at_ms: now + DEFAULT_PER_RUN_TTL_MS} : {})}],
    audit: [
      core.audit(ctx, {
        tenant_id: body.tenant_id,
        operation: 'resetActionQuotaCounter',
        resource_type: 'action_quota_counter',
        resource_id: id,
        status: 200,
        metadata: {...key, previous_used: previous, ...(body.reason ? {reason: body.reason} : {})},
      }),
    ],
  })
  if (!applied.ok) throw new ProtocolError('INTERNAL_ERROR', `The counter changed during the reset (${applied.failed}); retry`)
  await core.store.flushed()
  const policies = (await listTenantPolicies(core.store, body.tenant_id)).map((x) => x.policy)
  const after = counterState({...doc, value: {used: 0}}, policies, now)!
  return {status: 200, body: {counter: after, previous_used: previous}}
}
