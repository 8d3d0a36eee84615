// The runtime plane's routes (/v1/...): API-key auth, the effective tenant, and the hand-off of
// every evaluated request to the decision log before its response leaves.
import {randomUUID} from 'node:crypto'

import {type DecisionRecord, type RecordFacts, buildDecisionRecord} from '../decision-log/record.js'
import {sha256Hex} from '../protocol/canonical-json.js'
import {ProtocolError} from '../protocol/errors.js'
import {keyUsable} from '../admin/auth.js'
import {RUNTIME_PERMISSIONS, type RuntimeOperation, compileScopeFilter, permits} from '../admin/permissions.js'
import {isStoreUnavailable} from '../store/errors.js'
import {PROTOCOL_VERSION_HEADER, wireVersionOf} from '../policies/types.js'
import {registerActionKindRoutes} from '../policies/registry-routes.js'
import type {Store} from '../store/types.js'
import type {ApiKey} from '../protocol/types.js'
import {authFailureReason} from '../events/build.js'
import type {DaemonCounters} from './counters.js'
import {type HttpRequest, type HttpResponse, type JsonServer, headerOf} from './http/json-server.js'
import type {CallContext, RuntimeService, ServiceResponse} from './runtime-service.js'

export interface RuntimePlaneDeps {
  service: RuntimeService
  store: Store
  counters: DaemonCounters
  /** Admin key, when configured: accepted for list/get/release of reservations (admin-on-behalf-of). */
  adminKeyMatches?: (presented: string) => boolean
  now?: () => number
  /** Told of each presented key that does not authenticate (api_key.auth_failed). */
  onAuthFailure?: (req: HttpRequest, reason: string, key: ApiKey | undefined) => void
  /** GET /v1/events: the tenant's own events (absent: the route answers an empty list). */
  tenantEvents?: (ctx: CallContext, query: URLSearchParams) => Promise<string>
}

/** Attached to each request so beforeSend can write the decision record. */
export const RECORD = Symbol('decision-record')
type WithRecord = HttpRequest & {[RECORD]?: {facts: RecordFacts; tenant: string}}

export function registerRuntimeRoutes(server: JsonServer, deps: RuntimePlaneDeps): void {
  const {service, store} = deps

  /**
   * The caller and what it may do. Tenant keys need the operation's permission (403 FORBIDDEN
   * otherwise, before anything is read); their scope filter travels in the context for the service.
   */
  const authenticate = async (req: HttpRequest, operation: RuntimeOperation, allowAdmin = false): Promise<CallContext> => {
    const presented = headerOf(req, 'x-cycles-api-key')
    const idem = headerOf(req, 'x-idempotency-key')
    const wire = wireVersionOf(headerOf(req, PROTOCOL_VERSION_HEADER)) // deny_detail for v0.1.26 clients only
    const base = {request_id: req.request_id, trace_id: req.trace_id, ...(idem === undefined ? {} : {headerIdempotencyKey: idem}), ...(wire === '0.1.26' ? {wireVersion: wire} : {})}
    if (presented === undefined && allowAdmin && deps.adminKeyMatches) {
      const adminKey = headerOf(req, 'x-admin-api-key')
      if (adminKey !== undefined && deps.adminKeyMatches(adminKey)) {
        return {...base, tenant: '', admin: true}
      }
    }
    if (!presented) throw new ProtocolError('UNAUTHORIZED', 'Missing X-Cycles-API-Key header')
    // Key and tenant as they are now (store.findApiKeyWithTenant), so a revocation applies at once.
    // The secret is hashed per request and never kept: sha256 of a 41-character key costs about a microsecond.
    const {key, tenant} = await store.findApiKeyWithTenant(sha256Hex(presented))
    if (!key || !keyUsable(key, (deps.now ?? Date.now)())) {
      deps.onAuthFailure?.(req, authFailureReason(key, (deps.now ?? Date.now)()), key)
      throw new ProtocolError('UNAUTHORIZED', 'Invalid or revoked API key')
    }
    const required = RUNTIME_PERMISSIONS[operation]
    if (!permits(key.permissions, required)) {
      throw new ProtocolError('FORBIDDEN', `API key ${key.key_id} lacks the ${required} permission; grant it with PATCH /v1/admin/api-keys/${key.key_id} or use another key`)
    }
    if (tenant && tenant.status === 'SUSPENDED') throw new ProtocolError('UNAUTHORIZED', `Tenant ${key.tenant_id} is suspended`)
    const filter = compileScopeFilter(key.scope_filter)
    return {...base, tenant: key.tenant_id, ...(filter ? {scopeFilter: filter} : {})}
  }

  /** Admin-on-behalf-of needs an explicit tenant. */
  const resolveAdminTenant = async (ctx: CallContext, tenant: string | undefined): Promise<CallContext> => {
    if (!ctx.admin) return ctx
    if (!tenant) throw new ProtocolError('INVALID_REQUEST', 'tenant is required with X-Admin-API-Key')
    return {...ctx, tenant}
  }

  const evaluated = (operation: RuntimeOperation, call: (ctx: CallContext, req: HttpRequest) => Promise<ServiceResponse>, allowAdmin = false) => {
    return async (req: HttpRequest): Promise<HttpResponse> => {
      const ctx = await authenticate(req, operation, allowAdmin).catch(storeDown)
      try {
        const result = await call(ctx, req)
        if (result.record) (req as WithRecord)[RECORD] = {facts: result.record, tenant: ctx.tenant}
        return {status: result.status, body: result.body, headers: {'X-Cycles-Tenant': ctx.tenant, ...result.headers}}
      } catch (error) {
        if (error instanceof ProtocolError && error.context) {
          ;(req as WithRecord)[RECORD] = {facts: error.context as RecordFacts, tenant: ctx.tenant}
        }
        return storeDown(error)
      }
    }
  }

  server
  registerActionKindRoutes(server, deps.now) // the public v0.1.26 action-kind registry
  server
    .route('POST', '/v1/reservations', evaluated('reserve', (ctx, req) => service.reserve(ctx, req.body)))
    .route('POST', '/v1/decide', evaluated('decide', (ctx, req) => service.decide(ctx, req.body)))
    .route('POST', '/v1/reservations/:id/commit', evaluated('commit', (ctx, req) => service.commit(ctx, req.params.id, req.body)))
    .route(
      'POST',
      '/v1/reservations/:id/release',
      evaluated('release', async (ctx, req) => {
        if (ctx.admin) {
          const r = await store.getReservation(req.params.id)
          if (!r) throw new ProtocolError('NOT_FOUND', `Reservation ${req.params.id} not found`)
          ctx = {...ctx, tenant: r.tenant}
        }
        return service.release(ctx, req.params.id, req.body)
      }, true),
    )
    .route('POST', '/v1/reservations/:id/extend', evaluated('extend', (ctx, req) => service.extend(ctx, req.params.id, req.body)))
    .route('POST', '/v1/events', evaluated('event', (ctx, req) => service.event(ctx, req.body)))
    .route('GET', '/v1/balances', evaluated('balances', (ctx, req) => service.balances(ctx, req.query)))
    .route('GET', '/v1/events', evaluated('listEvents', async (ctx, req) => ({status: 200, body: deps.tenantEvents ? await deps.tenantEvents(ctx, req.query) : '{"events":[],"has_more":false}'})))
    .route(
      'GET',
      '/v1/reservations',
      evaluated('listReservations', async (ctx, req) => service.listReservations(await resolveAdminTenant(ctx, req.query.get('tenant') ?? undefined), req.query), true),
    )
    .route(
      'GET',
      '/v1/reservations/:id',
      evaluated('getReservation', async (ctx, req) => {
        if (ctx.admin) {
          const r = await store.getReservation(req.params.id)
          if (!r) throw new ProtocolError('NOT_FOUND', `Reservation ${req.params.id} not found`)
          ctx = {...ctx, tenant: r.tenant}
        }
        return service.getReservation(ctx, req.params.id)
      }, true),
    )
}

/** Records are numbered in the order they are built (= written), so a replay can order one millisecond's records. */
let recordSequence = 0

/** Build the schema-v1 record for a request the runtime plane evaluated, or undefined. */
export function decisionRecordFor(req: HttpRequest, res: HttpResponse, nowMs: number): DecisionRecord | undefined {
  const attached = (req as WithRecord)[RECORD]
  if (!attached) return undefined
  const {facts, tenant} = attached
  return buildDecisionRecord(facts, {
    id: randomUUID(),
    ts_ms: nowMs,
    request_id: req.request_id,
    trace_id: req.trace_id,
    tenant,
    http_status: res.status,
    latency_us: Number((process.hrtime.bigint() - req.received_at_ns) / 1000n),
    seq: ++recordSequence,
  })
}

/** An unreachable store is a 503 with the envelope (not a generic 500); anything else passes through. */
function storeDown(error: unknown): never {
  if (isStoreUnavailable(error)) throw new ProtocolError('INTERNAL_ERROR', 'Budget store unavailable; retry shortly', undefined, 503)
  throw error
}


