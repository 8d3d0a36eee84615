// The admin plane (/v1/admin/..., /v1/auth/introspect) as a second JsonServer over the same store
// as the runtime plane. X-Admin-API-Key on every route (introspect, the policy routes and the quota
// counters also take a tenant key: the spec's dual auth, tenant-key.ts). Every
// successful write and every authenticated failed request leaves exactly one audit row, never with a
// secret; unauthenticated failures are rate-limited per source and aggregated into one row per
// source and window (auth-failures.ts).
import {sha256Hex} from '../protocol/canonical-json.js'
import {ProtocolError} from '../protocol/errors.js'
import {type HttpRequest, type HttpResponse, JsonServer, headerOf} from '../daemon/http/json-server.js'
import {type KeyMatcher, keyUsable} from './auth.js'
import {ADMIN_CALLER, type DualAuth, presentedTenantKey, refuseSuspended, requirePermission, tenantCaller} from './tenant-key.js'
import {PROTOCOL_VERSION_HEADER, wireVersionOf} from '../policies/types.js'
import {AuditOps} from './audit.js'
import {type AuthFailureOptions, AuthFailureLimiter, type FailureWindow} from './auth-failures.js'
import {BudgetOps} from './budgets.js'
import {AdminCore, type AdminCtx, type AdminDeps, type AdminResult, callerFromHeaders} from './context.js'
import {type ControlHooks, registerControlRoutes} from './control-routes.js'
import {ApiKeyOps} from './keys.js'
import {OverviewOps} from './overview.js'
import {registerPolicyRoutes} from './policy-routes.js'
import {registerApprovalRoutes} from './approval-routes.js'
import {registerRolloutRoutes} from './rollout-routes.js'
import {registerEventRoutes} from '../events/routes.js'
import {SOURCE_ADMIN, authFailedEvent} from '../events/build.js'
import {TenantOps} from './tenants.js'
import {ADMIN_TENANT, UNAUTH_TENANT} from './wire.js'
import type {WebhookOptions} from '../webhooks/core.js'
import {registerWebhookAdminRoutes, webhookApi} from '../webhooks/routes.js'
import {SecretBox} from '../webhooks/secrets.js'
import type {AuditEntry} from '../store/types.js'

export interface AdminPlaneOptions extends AdminDeps, ControlHooks {
  adminKeyMatches: KeyMatcher
  maxInFlight?: number
  log?: (line: string) => void
  /** Failed-authentication limit and aggregation window (defaults: 300 per source per 60 s). */
  authFailures?: Omit<AuthFailureOptions, 'now'>
  /** The daemon's Prometheus exposition (GET /metrics); absent, the route answers 404. */
  metrics?: () => Promise<{body: string; contentType: string}>
  /** Webhook secrets' key and URL checks (default: no key, so creating a webhook answers 503 naming the variable). */
  webhooks?: WebhookOptions
}

const AUTH = Symbol('admin-auth')
type WithAuth = HttpRequest & {[AUTH]?: 'admin' | 'tenant'}

export interface AdminPlane {
  server: JsonServer
  core: AdminCore
  tenants: TenantOps
  /** Write the aggregated rows of closed failure windows (all windows with `all`). */
  flushFailureRows(all?: boolean): Promise<void>
  /** Stop the flush timer and write every open failure window. Call after the server has closed. */
  close(): Promise<void>
}

export function createAdminPlane(options: AdminPlaneOptions): AdminPlane {
  const core = new AdminCore(options)
  const tenants = new TenantOps(core)
  const budgets = new BudgetOps(core)
  const keys = new ApiKeyOps(core)
  const audit = new AuditOps(core)
  const overview = new OverviewOps(core)
  const {store} = core
  const failures = new AuthFailureLimiter({...options.authFailures, now: core.now})

  const flushFailureRows = async (all = false): Promise<void> => {
    const windows = failures.drain(all)
    if (windows.length === 0) return
    const result = await store.apply({audit: windows.map((w) => failureRow(core, w))})
    if (!result.ok) options.log?.(`could not write ${windows.length} aggregated failed-request audit row(s): ${result.failed}`)
  }
  const flushTimer = setInterval(() => {
    flushFailureRows().catch((error) => options.log?.(`could not write aggregated failed-request audit rows: ${(error as Error).message}`))
  }, failures.windowMs)
  flushTimer.unref()

  /** 429 for a source over its failed-authentication limit, before any key is looked at. */
  const refuseIfLimited = (req: HttpRequest): HttpResponse | undefined => {
    const retryAfter = failures.retryAfterS(req.remote_address)
    if (retryAfter === undefined) return undefined
    const body = {
      error: 'LIMIT_EXCEEDED',
      message: `Too many failed authentications from this source; retry after ${retryAfter} s with a valid key`,
      request_id: req.request_id,
      trace_id: req.trace_id,
    }
    return {status: 429, body: JSON.stringify(body), headers: {'Retry-After': String(retryAfter)}}
  }

  const server = new JsonServer({
    maxInFlight: options.maxInFlight,
    onError: (error) => options.log?.(`admin plane internal error: ${(error as Error).stack ?? String(error)}`),
    beforeSend: async (req, res) => {
      const authed = (req as WithAuth)[AUTH]
      if (res.status >= 400 && !authed) {
        // Unauthenticated: counted into the source's window; its one row is written when the window closes.
        failures.record(req.remote_address, {operation: `${req.method}:${req.path}`, status: res.status, error_code: errorCodeOf(res.body), user_agent: headerOf(req, 'user-agent')})
        if (res.status === 401) core.events.emit(authFailedEvent(core.now(), SOURCE_ADMIN, ctxOf(req), res.body.includes('Missing') ? 'missing_key' : 'invalid_key'))
        await flushFailureRows()
      } else if (res.status >= 400) {
        // One row per failed request. Method and path only: no headers, query string or body, so no secret.
        let code: string | undefined
        let message: string | undefined
        try {
          const parsed = JSON.parse(res.body) as {error?: string; message?: string}
          code = parsed.error
          message = parsed.message
        } catch {
          // not JSON: leave code and message out
        }
        const entry = {
          ...core.audit(ctxOf(req), {
            tenant_id: ADMIN_TENANT,
            operation: `${req.method}:${req.path}`,
            resource_type: resourceTypeOf(req.path),
            resource_id: req.path,
            status: res.status,
            metadata: {method: req.method, path: req.path, ...(message ? {error_message: message.slice(0, 512)} : {})},
          }),
          actor_type: authed === 'tenant' ? 'api_key' : 'admin',
          ...(code ? {error_code: code} : {}),
        }
        const result = await store.apply({audit: [entry]})
        if (!result.ok) options.log?.(`could not write the audit row for a failed admin request: ${result.failed}`)
      }
      await store.flushed()
    },
  })

  const adminOnly = (handler: (req: HttpRequest, ctx: AdminCtx) => Promise<AdminResult> | AdminResult) => {
    return async (req: HttpRequest): Promise<HttpResponse> => {
      const limited = refuseIfLimited(req)
      if (limited) return limited
      const presented = headerOf(req, 'x-admin-api-key')
      if (presented === undefined || presented === '') throw new ProtocolError('UNAUTHORIZED', 'Missing X-Admin-API-Key header')
      if (!options.adminKeyMatches(presented)) throw new ProtocolError('UNAUTHORIZED', 'Invalid admin API key')
      ;(req as WithAuth)[AUTH] = 'admin'
      return send(await handler(req, ctxOf(req)))
    }
  }

  /** The spec's dual auth: the admin key, or a tenant key holding one of `accepted` (tenant-key.ts, as the webhook self-service routes). */
  const adminOrTenantKey: DualAuth = (accepted, handler) => {
    const asAdmin = adminOnly((req, ctx) => handler(req, ctx, ADMIN_CALLER))
    return async (req: HttpRequest): Promise<HttpResponse> => {
      const presented = headerOf(req, 'x-cycles-api-key')
      if (!presented && headerOf(req, 'x-admin-api-key')) return asAdmin(req)
      const limited = refuseIfLimited(req)
      if (limited) return limited
      if (!presented) throw new ProtocolError('UNAUTHORIZED', 'Missing X-Admin-API-Key or X-Cycles-API-Key header')
      const {key, tenant} = await presentedTenantKey(store, core.now(), presented)
      ;(req as WithAuth)[AUTH] = 'tenant' // authenticated from here: a refusal is audited per request
      const granted = requirePermission(key, accepted)
      refuseSuspended(key, tenant)
      return send(await handler(req, ctxOf(req), tenantCaller(key, granted)))
    }
  }

  /** GET /metrics: the admin key as X-Admin-API-Key or as a bearer token (Prometheus' `authorization` scrape setting). */
  const metricsRoute = async (req: HttpRequest): Promise<HttpResponse> => {
    const limited = refuseIfLimited(req)
    if (limited) return limited
    const bearer = /^Bearer\s+(.+)$/i.exec(headerOf(req, 'authorization') ?? '')?.[1]
    const presented = headerOf(req, 'x-admin-api-key') || bearer
    if (!presented) throw new ProtocolError('UNAUTHORIZED', 'Missing X-Admin-API-Key header or Authorization: Bearer <admin key>')
    if (!options.adminKeyMatches(presented)) throw new ProtocolError('UNAUTHORIZED', 'Invalid admin API key')
    ;(req as WithAuth)[AUTH] = 'admin'
    if (!options.metrics) throw new ProtocolError('NOT_FOUND', 'This admin plane serves no metrics')
    const {body, contentType} = await options.metrics()
    return {status: 200, body, contentType}
  }

  server
    .route('POST', '/v1/admin/tenants', adminOnly((req, ctx) => tenants.create(ctx, req.body, wireOf(req))))
    .route('GET', '/v1/admin/tenants', adminOnly((req) => tenants.list(req.query, wireOf(req))))
    .route('GET', '/v1/admin/tenants/:tenant_id', adminOnly((req) => tenants.get(req.params.tenant_id, wireOf(req))))
    .route('PATCH', '/v1/admin/tenants/:tenant_id', adminOnly((req, ctx) => tenants.update(ctx, req.params.tenant_id, req.body, wireOf(req))))
    .route('POST', '/v1/admin/budgets', adminOnly((req, ctx) => budgets.create(ctx, req.body)))
    .route('GET', '/v1/admin/budgets', adminOnly((req) => budgets.list(req.query)))
    .route('GET', '/v1/admin/budgets/lookup', adminOnly((req) => budgets.lookup(req.query)))
    .route('PATCH', '/v1/admin/budgets', adminOnly((req, ctx) => budgets.update(ctx, req.query, req.body)))
    .route('POST', '/v1/admin/budgets/fund', adminOnly((req, ctx) => budgets.fund(ctx, req.query, req.body)))
    .route('POST', '/v1/admin/budgets/freeze', adminOnly((req, ctx) => budgets.freeze(ctx, req.query, req.body, 'FROZEN')), {bodyOptional: true})
    .route('POST', '/v1/admin/budgets/unfreeze', adminOnly((req, ctx) => budgets.freeze(ctx, req.query, req.body, 'ACTIVE')), {bodyOptional: true})
    .route('POST', '/v1/admin/api-keys', adminOnly((req, ctx) => keys.create(ctx, req.body)))
    .route('GET', '/v1/admin/api-keys', adminOnly((req) => keys.list(req.query)))
    .route('PATCH', '/v1/admin/api-keys/:key_id', adminOnly((req, ctx) => keys.update(ctx, req.params.key_id, req.body)))
    .route('DELETE', '/v1/admin/api-keys/:key_id', adminOnly((req, ctx) => keys.revoke(ctx, req.params.key_id, req.query)))
    .route(
      'GET',
      '/v1/admin/audit/logs',
      adminOnly(async (req) => {
        await flushFailureRows() // windows closed so far are part of the answer
        return audit.list(req.query)
      }),
    )
    .route('GET', '/v1/admin/overview', adminOnly(() => overview.overview()))
    .route('GET', '/v1/auth/introspect', async (req) => {
      const limited = refuseIfLimited(req)
      if (limited) return limited
      const admin = headerOf(req, 'x-admin-api-key')
      if (admin !== undefined && admin !== '') {
        if (!options.adminKeyMatches(admin)) throw new ProtocolError('UNAUTHORIZED', 'Invalid admin API key')
        ;(req as WithAuth)[AUTH] = 'admin'
        return send(overview.introspectAdmin())
      }
      const presented = headerOf(req, 'x-cycles-api-key')
      if (!presented) throw new ProtocolError('UNAUTHORIZED', 'Missing X-Admin-API-Key or X-Cycles-API-Key header')
      const key = await store.findApiKeyByHash(sha256Hex(presented))
      if (!key || !keyUsable(key, core.now())) throw new ProtocolError('UNAUTHORIZED', 'Invalid or revoked API key')
      ;(req as WithAuth)[AUTH] = 'tenant'
      return send(overview.introspectTenant(key))
    })
    .route('GET', '/actuator/health/liveness', async () => ({status: 200, body: '{"status":"UP"}'}))
    .route('GET', '/actuator/health/readiness', async () => {
      const health = await store.health()
      return {status: health.ok ? 200 : 503, body: JSON.stringify({status: health.ok ? 'UP' : 'DOWN'})}
    })
    .route('GET', '/metrics', metricsRoute)

  registerControlRoutes(server, adminOnly, core, options) // tier modes and the kill switch (a cycles extension)
  registerPolicyRoutes(server, adminOnly, adminOrTenantKey, core) // policies, action-quota counters, custom action kinds (v0.1.26)
  registerRolloutRoutes(server, adminOnly, core, options) // rollout steps, rollback, live tier figures and the guard (a cycles extension)
  registerEventRoutes(server, adminOnly, store) // the event log (events/routes.ts)
  registerWebhookAdminRoutes(server, adminOnly, webhookApi(core, options.webhooks ?? {secrets: new SecretBox(undefined)}))
  registerApprovalRoutes(server, adminOnly, core) // approval requests: list, show, approve, reject (a cycles extension)
  const close = async (): Promise<void> => {
    clearInterval(flushTimer)
    await flushFailureRows(true)
    await store.flushed()
  }
  return {server, core, tenants, flushFailureRows, close}
}

/** The one audit row of a source's unauthenticated failures in one window. */
function failureRow(core: AdminCore, w: FailureWindow): AuditEntry {
  const top = (counts: Record<string, number>) => Object.entries(counts).sort((a, b) => b[1] - a[1])[0]?.[0]
  const status = w.auth_failures > 0 ? 401 : Number(top(w.by_status) ?? 400)
  const operation = top(w.operations) ?? ''
  const colon = operation.indexOf(':')
  return {
    log_id: `log_${core.newId().replaceAll('-', '')}`,
    timestamp_ms: w.last_at_ms,
    tenant_id: UNAUTH_TENANT,
    actor_type: 'unauthenticated',
    operation: 'unauthenticatedRequests',
    resource_type: 'admin',
    resource_id: operation,
    status,
    ...(top(w.by_error_code) ? {error_code: top(w.by_error_code)} : {}),
    ...(w.source !== 'unknown' ? {source_ip: w.source} : {}),
    ...(w.user_agent ? {user_agent: w.user_agent} : {}),
    metadata: {
      // method and path of the most frequent request, as single failure rows carry them
      method: operation.slice(0, colon),
      path: operation.slice(colon + 1),
      aggregated: true,
      count: w.count,
      auth_failures: w.auth_failures,
      rate_limited: w.rate_limited,
      window_start: new Date(w.window_start_ms).toISOString(),
      window_end: new Date(w.window_end_ms).toISOString(),
      first_at: new Date(w.first_at_ms).toISOString(),
      last_at: new Date(w.last_at_ms).toISOString(),
      by_status: w.by_status,
      by_error_code: w.by_error_code,
      operations: w.operations,
    },
  }
}

function errorCodeOf(body: string): string | undefined {
  try {
    return (JSON.parse(body) as {error?: string}).error
  } catch {
    return undefined
  }
}

function send(result: AdminResult): HttpResponse {
  return {status: result.status, body: result.raw ? (result.body as string) : JSON.stringify(result.body), ...(result.headers ? {headers: result.headers} : {})}
}

/** The response shapes the caller asked for (X-Cycles-Protocol-Version: 0.1.26 adds the v0.1.26 fields). */
const wireOf = (req: HttpRequest) => wireVersionOf(headerOf(req, PROTOCOL_VERSION_HEADER))

function ctxOf(req: HttpRequest): AdminCtx {
  const ua = headerOf(req, 'user-agent')
  return {
    request_id: req.request_id,
    trace_id: req.trace_id,
    ...(req.remote_address ? {source_ip: req.remote_address} : {}),
    ...(ua ? {user_agent: ua} : {}),
    ...callerFromHeaders(headerOf(req, 'x-cycles-actor'), headerOf(req, 'x-cycles-reason')),
  }
}

function resourceTypeOf(path: string): string {
  if (path.startsWith('/v1/admin/tenants')) return 'tenant'
  if (path.startsWith('/v1/admin/budgets')) return 'budget'
  if (path.startsWith('/v1/admin/api-keys')) return 'api_key'
  if (path.startsWith('/v1/admin/audit')) return 'audit'
  if (path.startsWith('/v1/admin/webhooks') || path.startsWith('/v1/admin/config/webhook-security')) return 'webhook'
  if (path.startsWith('/v1/admin/policies') || path.startsWith('/v1/admin/action-')) return 'policy'
  if (path.startsWith('/v1/admin/approvals')) return 'approval'
  if (path.startsWith('/v1/admin/rollout') || path.startsWith('/v1/admin/control') || path.startsWith('/v1/admin/killswitch')) return 'control'
  return 'admin'
}


