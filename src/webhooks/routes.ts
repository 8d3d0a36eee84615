// Webhook routes on both planes. Admin plane (X-Admin-API-Key): /v1/admin/webhooks… with test,
// deliveries, replay, bulk-action and the security config. Runtime plane (tenant self-service):
// /v1/webhooks… with a tenant key holding webhooks:read / webhooks:write (the admin key is accepted
// too, acting on behalf of the owning tenant); no replay or bulk there.
import {type AdminCore, type AdminCtx, type AdminResult} from '../admin/context.js'
import {presentedTenantKey, refuseSuspended, requirePermission, tenantCaller} from '../admin/tenant-key.js'
import {type HttpRequest, type HttpResponse, type JsonServer, headerOf} from '../daemon/http/json-server.js'
import {ProtocolError} from '../protocol/errors.js'
import {WebhookActions} from './actions.js'
import {ADMIN_CALLER, type Caller, WebhookCore, type WebhookOptions} from './core.js'
import {SubscriptionOps} from './subscriptions.js'

type AdminOnly = (handler: (req: HttpRequest, ctx: AdminCtx) => Promise<AdminResult> | AdminResult) => (req: HttpRequest) => Promise<HttpResponse>

export interface WebhookApi {
  subscriptions: SubscriptionOps
  actions: WebhookActions
}

export function webhookApi(admin: AdminCore, options: WebhookOptions): WebhookApi {
  const core = new WebhookCore(admin, options)
  const subscriptions = new SubscriptionOps(core)
  return {subscriptions, actions: new WebhookActions(core, subscriptions)}
}

export function registerWebhookAdminRoutes(server: JsonServer, adminOnly: AdminOnly, api: WebhookApi): void {
  const {subscriptions: subs, actions} = api
  server
    .route('POST', '/v1/admin/webhooks', adminOnly((req, ctx) => subs.create(ctx, ADMIN_CALLER, req.query.get('tenant_id') ?? undefined, req.body)))
    .route('GET', '/v1/admin/webhooks', adminOnly((req) => subs.list(req.query)))
    .route('POST', '/v1/admin/webhooks/bulk-action', adminOnly((req, ctx) => actions.bulk(ctx, req.body)))
    .route('GET', '/v1/admin/webhooks/:id', adminOnly((req) => subs.get(ADMIN_CALLER, req.params.id)))
    .route('PATCH', '/v1/admin/webhooks/:id', adminOnly((req, ctx) => subs.update(ctx, ADMIN_CALLER, req.params.id, req.body, req.query.get('reason') ?? undefined)))
    .route('DELETE', '/v1/admin/webhooks/:id', adminOnly((req, ctx) => subs.remove(ctx, ADMIN_CALLER, req.params.id)))
    .route('POST', '/v1/admin/webhooks/:id/test', adminOnly((req) => actions.test(ADMIN_CALLER, req.params.id)), {bodyOptional: true})
    .route('GET', '/v1/admin/webhooks/:id/deliveries', adminOnly((req) => actions.deliveries(ADMIN_CALLER, req.params.id, req.query)))
    .route('POST', '/v1/admin/webhooks/:id/replay', adminOnly((req, ctx) => actions.replay(ctx, req.params.id, req.body)))
    .route('GET', '/v1/admin/config/webhook-security', adminOnly(() => actions.getSecurity()))
    .route('PUT', '/v1/admin/config/webhook-security', adminOnly((req, ctx) => actions.putSecurity(ctx, req.body)))
}

export interface TenantRouteDeps {
  api: WebhookApi
  store: AdminCore['store']
  now: () => number
  adminKeyMatches?: (presented: string) => boolean
}

/** The tenant self-service routes on the runtime plane. */
export function registerTenantWebhookRoutes(server: JsonServer, deps: TenantRouteDeps): void {
  const {subscriptions: subs, actions} = deps.api

  /** A tenant key with the permission, or the admin key (acting for the owning tenant). */
  const caller = async (req: HttpRequest, permission: 'webhooks:read' | 'webhooks:write'): Promise<Caller> => {
    const presented = headerOf(req, 'x-cycles-api-key')
    if (!presented && deps.adminKeyMatches) {
      const adminKey = headerOf(req, 'x-admin-api-key')
      if (adminKey && deps.adminKeyMatches(adminKey)) return ADMIN_CALLER
    }
    if (!presented) throw new ProtocolError('UNAUTHORIZED', 'Missing X-Cycles-API-Key header')
    const {key, tenant} = await presentedTenantKey(deps.store, deps.now(), presented)
    const granted = requirePermission(key, [permission])
    refuseSuspended(key, tenant)
    return tenantCaller(key, granted)
  }
  const ctxOf = (req: HttpRequest): AdminCtx => ({request_id: req.request_id, trace_id: req.trace_id, ...(req.remote_address ? {source_ip: req.remote_address} : {})})
  const handle = (permission: 'webhooks:read' | 'webhooks:write', run: (req: HttpRequest, who: Caller) => Promise<AdminResult>) => {
    return async (req: HttpRequest): Promise<HttpResponse> => {
      const result = await run(req, await caller(req, permission))
      return {status: result.status, body: result.raw ? (result.body as string) : JSON.stringify(result.body)}
    }
  }

  server
    .route('POST', '/v1/webhooks', handle('webhooks:write', async (req, who) => {
      // The admin key has no tenant of its own: it names one with ?tenant=.
      if (who.kind === 'admin' && !req.query.get('tenant')) throw new ProtocolError('INVALID_REQUEST', 'tenant query parameter is required when using admin key authentication')
      return subs.create(ctxOf(req), who, who.kind === 'admin' ? req.query.get('tenant')! : undefined, req.body)
    }))
    .route('GET', '/v1/webhooks', handle('webhooks:read', (req, who) => subs.listForTenant(who, req.query)))
    .route('GET', '/v1/webhooks/:id', handle('webhooks:read', (req, who) => subs.get(who, req.params.id)))
    .route('PATCH', '/v1/webhooks/:id', handle('webhooks:write', (req, who) => subs.update(ctxOf(req), who, req.params.id, req.body)))
    .route('DELETE', '/v1/webhooks/:id', handle('webhooks:write', (req, who) => subs.remove(ctxOf(req), who, req.params.id)))
    .route('POST', '/v1/webhooks/:id/test', handle('webhooks:write', (req, who) => actions.test(who, req.params.id)), {bodyOptional: true})
    .route('GET', '/v1/webhooks/:id/deliveries', handle('webhooks:read', (req, who) => actions.deliveries(who, req.params.id, req.query)))
}
