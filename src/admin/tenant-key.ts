// Tenant API keys (X-Cycles-API-Key) on routes that also take the admin key (the spec's dual auth):
// who is calling, and whether the key may do what the route needs. One mechanism for the runtime
// plane's webhook self-service (webhooks/routes.ts) and the admin plane's dual-auth routes (policies,
// action-quota counters; plane.ts `adminOrTenantKey`).
import type {HttpRequest, HttpResponse} from '../daemon/http/json-server.js'
import {sha256Hex} from '../protocol/canonical-json.js'
import {ProtocolError} from '../protocol/errors.js'
import type {ApiKey, Tenant} from '../protocol/types.js'
import type {Store} from '../store/types.js'
import {keyUsable} from './auth.js'
import type {AdminCtx, AdminResult} from './context.js'
import {permits} from './permissions.js'

/** Who is asking: the operator (admin key) or a tenant key, with the permission it was let in by. */
export type Caller =
  | {kind: 'admin'}
  | {kind: 'tenant'; tenant: string; key_id: string; scope_filter?: readonly string[]; granted?: string}
export const ADMIN_CALLER: Caller = {kind: 'admin'}

/** A route handler of a dual-auth route: the request, its context, and the caller. */
export type DualAuthHandler = (req: HttpRequest, ctx: AdminCtx, who: Caller) => Promise<AdminResult> | AdminResult
/** Wraps a handler so the admin key, or a tenant key holding one of `accepted`, may call it. */
export type DualAuth = (accepted: readonly string[], handler: DualAuthHandler) => (req: HttpRequest) => Promise<HttpResponse>

/** The key behind a presented secret and its tenant, as they are now (a revocation applies at once); 401 otherwise. */
export async function presentedTenantKey(store: Store, nowMs: number, presented: string): Promise<{key: ApiKey; tenant?: Tenant}> {
  const {key, tenant} = await store.findApiKeyWithTenant(sha256Hex(presented))
  if (!key || !keyUsable(key, nowMs)) throw new ProtocolError('UNAUTHORIZED', 'Invalid or revoked API key')
  return {key, tenant}
}

/** The first of `accepted` the key holds (admin:* wildcards count), or 403 naming what to grant. */
export function requirePermission(key: ApiKey, accepted: readonly string[]): string {
  const granted = accepted.find((p) => permits(key.permissions, p))
  if (granted !== undefined) return granted
  const wanted = accepted.length === 1 ? `the ${accepted[0]} permission` : `one of the permissions ${accepted.join(', ')}`
  throw new ProtocolError('FORBIDDEN', `API key ${key.key_id} lacks ${wanted}; grant it with PATCH /v1/admin/api-keys/${key.key_id}`)
}

/** A suspended tenant's keys authenticate nothing. */
export function refuseSuspended(key: ApiKey, tenant: Tenant | undefined): void {
  if (tenant?.status === 'SUSPENDED') throw new ProtocolError('UNAUTHORIZED', `Tenant ${key.tenant_id} is suspended`)
}

/** The caller of a tenant key that passed all three checks. */
export function tenantCaller(key: ApiKey, granted: string): Caller {
  return {kind: 'tenant', tenant: key.tenant_id, key_id: key.key_id, ...(key.scope_filter && key.scope_filter.length > 0 ? {scope_filter: key.scope_filter} : {}), granted}
}
