// Policies on the admin plane (admin spec createPolicy / listPolicies / updatePolicy with the v0.1.26
// governance fields; GET and DELETE of one policy are `cycles` extensions — the spec says to disable
// instead of deleting, and we offer both), the action-quota counters (list; reset for incident
// response, audited) and custom action-kind declarations. Admin key only; every write is audited.
import {type HttpRequest, type HttpResponse, type JsonServer, headerOf} from '../daemon/http/json-server.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {counterKeyOf, counterId, tenantCounterPrefix} from '../policies/evaluate.js'
import {inEffect} from '../policies/match.js'
import {applyUpdate, getPolicy, listTenantPolicies, policyFromCreate, policyProblems, policyWire, writePolicy} from '../policies/policy-ops.js'
import {invalidatePolicies} from '../policies/policy-set.js'
import {customKindDeclaration, policyCreate, policyUpdate} from '../policies/schema.js'
import {CUSTOM_KINDS_COLLECTION, DEFAULT_PER_RUN_TTL_MS, EXTENSIONS_HEADER, type Policy, QUOTA_COUNTERS_COLLECTION, QUOTA_WINDOWS, RISK_CLASSES} from '../policies/types.js'
import type {StoredDoc} from '../store/types.js'
import {type AdminCore, type AdminCtx, type AdminResult, paginate} from './context.js'
import {parseBody, queryBool, queryEnum, queryInt, requiredQuery} from './requests.js'
import {z} from 'zod'

type AdminOnly = (handler: (req: HttpRequest, ctx: AdminCtx) => Promise<AdminResult> | AdminResult) => (req: HttpRequest) => Promise<HttpResponse>

const counterReset = z.strictObject({
  tenant_id: z.string().min(1).optional(),
  scope: z.string().min(1),
  action_kind: z.string().min(1).max(64),
  risk_class: z.enum(RISK_CLASSES).optional(),
  window: z.enum(QUOTA_WINDOWS),
  window_key: z.string().min(1),
  reason: z.string().max(512).optional(),
})

export function registerPolicyRoutes(server: JsonServer, adminOnly: AdminOnly, core: AdminCore): void {
  const {store} = core
  const extensions = (req: HttpRequest) => /\b(cycles|approvals)\b/i.test(headerOf(req, EXTENSIONS_HEADER) ?? '')
  const row = (ctx: AdminCtx, tenant: string, operation: string, resource_type: string, resource_id: string, status: number, metadata: Record<string, unknown>) =>
    core.audit(ctx, {tenant_id: tenant, operation, resource_type, resource_id, status, metadata})
  /** policy.created | updated | deleted (EventDataPolicy), once the write is applied. */
  const announce = (ctx: AdminCtx, eventType: string, p: Policy, changed_fields?: string[]) =>
    core.emit(ctx, eventType, {tenant_id: p.tenant_id, scope: p.scope_pattern, data: {policy_id: p.policy_id, ...(p.name ? {name: p.name} : {}), scope_pattern: p.scope_pattern, ...(changed_fields ? {changed_fields} : {})}})

  const create = async (req: HttpRequest, ctx: AdminCtx): Promise<AdminResult> => {
    const body = parseBody(policyCreate, req.body)
    if (!body.tenant_id) throw invalid('Validation failed: tenant_id: required with X-Admin-API-Key')
    const tenant = await core.tenantOrThrow(body.tenant_id)
    if (tenant.status === 'CLOSED') throw new ProtocolError('TENANT_CLOSED', `Tenant ${tenant.tenant_id} is closed; its objects are read-only`)
    const existing = await listTenantPolicies(store, tenant.tenant_id)
    if (existing.some((x) => x.policy.name === body.name)) throw new ProtocolError('DUPLICATE_RESOURCE', `Policy named '${body.name}' already exists for tenant ${tenant.tenant_id}`)
    const p = policyFromCreate(body, tenant.tenant_id, core.now())
    await policyProblems(store, p)
    await writePolicy(store, p, 0, row(ctx, p.tenant_id, 'createPolicy', 'policy', p.policy_id, 201, {name: p.name, scope_pattern: p.scope_pattern}))
    announce(ctx, 'policy.created', p)
    return {status: 201, body: policyWire(p, extensions(req))}
  }

  const list = async (req: HttpRequest): Promise<AdminResult> => {
    const q = req.query
    const tenant = requiredQuery(q, 'tenant_id')
    const status = queryEnum(q, 'status', ['ACTIVE', 'DISABLED'] as const)
    const pattern = q.get('scope_pattern') || undefined
    const hasQuotas = queryBool(q, 'has_action_quotas')
    const kind = q.get('references_action_kind') || undefined
    const limit = queryInt(q, 'limit', 1, 100) ?? 50
    const policies = (await listTenantPolicies(store, tenant))
      .map((x) => x.policy)
      .filter(
        (p) =>
          (!status || p.status === status) &&
          (!pattern || p.scope_pattern === pattern) &&
          (hasQuotas === undefined || hasQuotas === p.action_quotas.length + p.risk_class_quotas.length > 0) &&
          (!kind || p.allowed_action_kinds.includes(kind) || p.denied_action_kinds.includes(kind) || p.action_quotas.some((x) => x.action_kind === kind)),
      )
    const {page, next_cursor, has_more} = paginate(policies, {r: 'policies', tenant, status, pattern, hasQuotas, kind}, q.get('cursor'), limit)
    return {status: 200, body: {policies: page.map((p) => policyWire(p, extensions(req))), ...(next_cursor ? {next_cursor} : {}), has_more}}
  }

  const update = async (req: HttpRequest, ctx: AdminCtx): Promise<AdminResult> => {
    const body = parseBody(policyUpdate, req.body)
    const {policy, doc} = await getPolicy(store, req.params.policy_id)
    await core.guardTenantOpen(policy.tenant_id)
    const next = applyUpdate(policy, body, core.now())
    await policyProblems(store, next)
    await writePolicy(store, next, doc.version, row(ctx, policy.tenant_id, 'updatePolicy', 'policy', policy.policy_id, 200, {changed_fields: Object.keys(body)}))
    announce(ctx, 'policy.updated', next, Object.keys(body))
    return {status: 200, body: policyWire(next, extensions(req))}
  }

  const remove = async (req: HttpRequest, ctx: AdminCtx): Promise<AdminResult> => {
    const {policy, doc} = await getPolicy(store, req.params.policy_id)
    await core.guardTenantOpen(policy.tenant_id)
    await writePolicy(store, policy, doc.version, row(ctx, policy.tenant_id, 'deletePolicy', 'policy', policy.policy_id, 200, {name: policy.name, reason: req.query.get('reason') ?? undefined}), true)
    announce(ctx, 'policy.deleted', policy)
    return {status: 200, body: policyWire(policy, extensions(req))}
  }

  server
    .route('POST', '/v1/admin/policies', adminOnly(create))
    .route('GET', '/v1/admin/policies', adminOnly(list))
    .route('GET', '/v1/admin/policies/:policy_id', adminOnly(async (req) => ({status: 200, body: policyWire((await getPolicy(store, req.params.policy_id)).policy, extensions(req))})))
    .route('PATCH', '/v1/admin/policies/:policy_id', adminOnly(update))
    .route('DELETE', '/v1/admin/policies/:policy_id', adminOnly(remove))
    .route('GET', '/v1/admin/action-quota-counters', adminOnly((req) => listCounters(core, req.query)))
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

/** ActionQuotaState of one counter doc; limit and policy from the tenant's policies now (a counter keeps no copy). */
function counterState(doc: StoredDoc, policies: Policy[], nowMs: number): Record<string, unknown> | undefined {
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

async function listCounters(core: AdminCore, q: URLSearchParams): Promise<AdminResult> {
  const tenant = requiredQuery(q, 'tenant_id')
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
        (!scope || (s.scope as string).startsWith(scope)) &&
        (!kind || s.action_kind === kind) &&
        (!window || s.window === window) &&
        (!runId || (s.window === 'per_run' && s.window_key === runId)),
    )
  const {page, next_cursor, has_more} = paginate(states, {r: 'counters', tenant, scope, kind, window, runId, includeZero}, q.get('cursor'), limit)
  return {status: 200, body: {counters: page, ...(next_cursor ? {next_cursor} : {}), has_more}}
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
