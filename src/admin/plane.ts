// The admin plane (/v1/admin/..., /v1/auth/introspect) as a second JsonServer over the same store
// as the runtime plane. X-Admin-API-Key on every route (introspect also takes a tenant key); every
// successful write and every failed request leaves exactly one audit row, never with a secret.
import {sha256Hex} from '../protocol/canonical-json.js'
import {ProtocolError} from '../protocol/errors.js'
import {type HttpRequest, type HttpResponse, JsonServer, headerOf} from '../daemon/http/json-server.js'
import {type KeyMatcher, keyUsable} from './auth.js'
import {AuditOps} from './audit.js'
import {BudgetOps} from './budgets.js'
import {AdminCore, type AdminCtx, type AdminDeps, type AdminResult} from './context.js'
import {type ControlHooks, registerControlRoutes} from './control-routes.js'
import {ApiKeyOps} from './keys.js'
import {OverviewOps} from './overview.js'
import {TenantOps} from './tenants.js'
import {ADMIN_TENANT, UNAUTH_TENANT} from './wire.js'

export interface AdminPlaneOptions extends AdminDeps, ControlHooks {
  adminKeyMatches: KeyMatcher
  maxInFlight?: number
  log?: (line: string) => void
}

const AUTH = Symbol('admin-auth')
type WithAuth = HttpRequest & {[AUTH]?: 'admin' | 'tenant'}

export interface AdminPlane {
  server: JsonServer
  core: AdminCore
  tenants: TenantOps
}

export function createAdminPlane(options: AdminPlaneOptions): AdminPlane {
  const core = new AdminCore(options)
  const tenants = new TenantOps(core)
  const budgets = new BudgetOps(core)
  const keys = new ApiKeyOps(core)
  const audit = new AuditOps(core)
  const overview = new OverviewOps(core)
  const {store} = core

  const server = new JsonServer({
    maxInFlight: options.maxInFlight,
    onError: (error) => options.log?.(`admin plane internal error: ${(error as Error).stack ?? String(error)}`),
    beforeSend: async (req, res) => {
      if (res.status >= 400) {
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
        const authed = (req as WithAuth)[AUTH]
        const entry = {
          ...core.audit(ctxOf(req), {
            tenant_id: authed ? ADMIN_TENANT : UNAUTH_TENANT,
            operation: `${req.method}:${req.path}`,
            resource_type: resourceTypeOf(req.path),
            resource_id: req.path,
            status: res.status,
            metadata: {method: req.method, path: req.path, ...(message ? {error_message: message.slice(0, 512)} : {})},
          }),
          actor_type: authed ? 'admin' : 'unauthenticated',
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
      const presented = headerOf(req, 'x-admin-api-key')
      if (presented === undefined || presented === '') throw new ProtocolError('UNAUTHORIZED', 'Missing X-Admin-API-Key header')
      if (!options.adminKeyMatches(presented)) throw new ProtocolError('UNAUTHORIZED', 'Invalid admin API key')
      ;(req as WithAuth)[AUTH] = 'admin'
      return send(await handler(req, ctxOf(req)))
    }
  }

  server
    .route('POST', '/v1/admin/tenants', adminOnly((req, ctx) => tenants.create(ctx, req.body)))
    .route('GET', '/v1/admin/tenants', adminOnly((req) => tenants.list(req.query)))
    .route('GET', '/v1/admin/tenants/:tenant_id', adminOnly((req) => tenants.get(req.params.tenant_id)))
    .route('PATCH', '/v1/admin/tenants/:tenant_id', adminOnly((req, ctx) => tenants.update(ctx, req.params.tenant_id, req.body)))
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
    .route('GET', '/v1/admin/audit/logs', adminOnly((req) => audit.list(req.query)))
    .route('GET', '/v1/admin/overview', adminOnly(() => overview.overview()))
    .route('GET', '/v1/auth/introspect', async (req) => {
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

  registerControlRoutes(server, adminOnly, core, options) // tier modes and the kill switch (a cycles extension)
  return {server, core, tenants}
}

function send(result: AdminResult): HttpResponse {
  return {status: result.status, body: result.raw ? (result.body as string) : JSON.stringify(result.body)}
}

function ctxOf(req: HttpRequest): AdminCtx {
  const ua = headerOf(req, 'user-agent')
  return {
    request_id: req.request_id,
    trace_id: req.trace_id,
    ...(req.remote_address ? {source_ip: req.remote_address} : {}),
    ...(ua ? {user_agent: ua} : {}),
  }
}

function resourceTypeOf(path: string): string {
  if (path.startsWith('/v1/admin/tenants')) return 'tenant'
  if (path.startsWith('/v1/admin/budgets')) return 'budget'
  if (path.startsWith('/v1/admin/api-keys')) return 'api_key'
  if (path.startsWith('/v1/admin/audit')) return 'audit'
  return 'admin'
}


