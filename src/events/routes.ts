// The event routes: GET /v1/admin/events and /v1/admin/events/{event_id} on the admin plane, and
// the tenant's own GET /v1/events on the runtime plane (permission events:read; only the categories
// a tenant may see, and only scopes its key's scope filter admits).
import type {AdminCtx, AdminResult} from '../admin/context.js'
import type {ScopeFilter} from '../admin/permissions.js'
import type {HttpRequest, HttpResponse, JsonServer} from '../daemon/http/json-server.js'
import type {Store} from '../store/types.js'
import {TENANT_VISIBLE_CATEGORIES} from './build.js'
import {eventFilterOf, getEvent, listEvents} from './query.js'

type AdminOnly = (handler: (req: HttpRequest, ctx: AdminCtx) => Promise<AdminResult> | AdminResult) => (req: HttpRequest) => Promise<HttpResponse>

export function registerEventRoutes(server: JsonServer, adminOnly: AdminOnly, store: Store): void {
  server
    .route(
      'GET',
      '/v1/admin/events',
      adminOnly(async (req) => ({status: 200, body: await listEvents(store, eventFilterOf(req.query), req.query.get('cursor'))})),
    )
    .route(
      'GET',
      '/v1/admin/events/:event_id',
      adminOnly(async (req) => ({status: 200, body: await getEvent(store, req.params.event_id)})),
    )
}

/** GET /v1/events for an authenticated tenant key: a JSON body of the tenant's own events. */
export async function tenantEvents(store: Store, tenant: string, scopeFilter: ScopeFilter | undefined, query: URLSearchParams): Promise<string> {
  const page = await listEvents(store, {...eventFilterOf(query, true), tenant_id: tenant}, query.get('cursor'), (e) => {
    if (!TENANT_VISIBLE_CATEGORIES.has(e.category)) return false
    return !scopeFilter || e.scope === undefined || scopeFilter.allows(e.scope)
  })
  return JSON.stringify(page)
}
