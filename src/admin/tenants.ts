// Tenants: create (idempotent), list, get, patch — suspend, reactivate, and close with its cascade
// (spec CASCADE SEMANTICS Rule 1): budgets → CLOSED in both books, API keys → REVOKED, open
// reservations → RELEASED with their holds drained back to remaining.
import {releaseRealHold} from '../evaluator/real-book.js'
import {canonicalJson} from '../protocol/canonical-json.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {type Book, type Reservation, TENANT_STATUSES, type Tenant} from '../protocol/types.js'
import type {AuditEntry, LedgerDelta, Tx} from '../store/types.js'
import {type AdminCore, type AdminCtx, type AdminResult, paginate, sortBy} from './context.js'
import {parseBody, queryEnum, queryLimit, querySearch, tenantCreate, tenantUpdate} from './requests.js'
import {ledgerId, tenantWire} from './wire.js'
import type {WireVersion} from '../policies/types.js'
import {tenantLifecycleData} from '../events/build.js'
import {cascadeEvents} from '../events/admin-events.js'

export interface CascadeCounts {
  budgets_closed: number
  api_keys_revoked: number
  reservations_released: number
  webhooks_disabled: number
}

export class TenantOps {
  constructor(private readonly core: AdminCore) {}

  async create(ctx: AdminCtx, raw: unknown, wire: WireVersion = '0.1.25'): Promise<AdminResult> {
    const req = parseBody(tenantCreate, raw)
    if (req.reservation_expiry_policy && req.reservation_expiry_policy !== 'AUTO_RELEASE') {
      throw invalid('Validation failed: reservation_expiry_policy: this daemon supports AUTO_RELEASE only')
    }
    if (req.parent_tenant_id) await this.core.tenantOrThrow(req.parent_tenant_id)
    const now = this.core.now()
    const {reservation_expiry_policy: _policy, ...fields} = req
    // v0.1.26 DEFAULT VALUE SEMANTICS: a new tenant is stored with observe_mode ENFORCE.
    const tenant: Tenant = {...fields, status: 'ACTIVE', observe_mode: 'ENFORCE', created_at_ms: now, updated_at_ms: now}
    const existing = await this.core.store.getTenant(req.tenant_id)
    if (existing) {
      if (!sameDefinition(existing, tenant)) {
        throw new ProtocolError('DUPLICATE_RESOURCE', `Tenant ${req.tenant_id} already exists with a different definition`)
      }
      await this.apply({audit: [this.core.audit(ctx, {tenant_id: req.tenant_id, operation: 'createTenant', resource_type: 'tenant', resource_id: req.tenant_id, status: 200, metadata: {already_existed: true}})]})
      return {status: 200, body: tenantWire(existing, wire === '0.1.26')}
    }
    const tx: Tx = {
      tenants: [tenant],
      audit: [this.core.audit(ctx, {tenant_id: req.tenant_id, operation: 'createTenant', resource_type: 'tenant', resource_id: req.tenant_id, status: 201})],
    }
    await this.apply(tx)
    this.core.emit(ctx, 'tenant.created', {tenant_id: tenant.tenant_id, data: tenantLifecycleData(undefined, tenant, [])})
    return {status: 201, body: tenantWire(tenant, wire === '0.1.26')}
  }

  async list(query: URLSearchParams, wire: WireVersion = '0.1.25'): Promise<AdminResult> {
    const status = queryEnum(query, 'status', TENANT_STATUSES)
    const parent = query.get('parent_tenant_id') || undefined
    // v0.1.26 governance extension: filter by observe mode (absent counts as ENFORCE).
    const observe = queryEnum(query, 'observe_mode', ['DISABLED', 'OBSERVE', 'ENFORCE'] as const)
    const search = querySearch(query)
    const sortKey = queryEnum(query, 'sort_by', ['tenant_id', 'name', 'status', 'created_at'] as const) ?? 'created_at'
    const dir = queryEnum(query, 'sort_dir', ['asc', 'desc'] as const) ?? 'desc'
    const limit = queryLimit(query)
    let tenants = (await this.core.store.listTenants()).filter(
      (t) =>
        (!status || t.status === status) &&
        (!parent || t.parent_tenant_id === parent) &&
        (!observe || (t.observe_mode ?? 'ENFORCE') === observe) &&
        (!search || t.tenant_id.toLowerCase().includes(search) || (t.name ?? '').toLowerCase().includes(search)),
    )
    tenants = sortBy(sortBy(tenants, (t) => t.tenant_id, 'asc'), (t) => (sortKey === 'created_at' ? (t.created_at_ms ?? 0) : sortKey === 'name' ? (t.name ?? t.tenant_id) : t[sortKey]), dir)
    const {page, next_cursor, has_more} = paginate(tenants, {r: 'tenants', status, parent, observe, search, sortKey, dir}, query.get('cursor'), limit)
    return {status: 200, body: {tenants: page.map((t) => tenantWire(t, wire === '0.1.26')), ...(next_cursor ? {next_cursor} : {}), has_more}}
  }

  async get(id: string, wire: WireVersion = '0.1.25'): Promise<AdminResult> {
    return {status: 200, body: tenantWire(await this.core.tenantOrThrow(id), wire === '0.1.26')}
  }

  async update(ctx: AdminCtx, id: string, raw: unknown, wire: WireVersion = '0.1.25'): Promise<AdminResult> {
    const req = parseBody(tenantUpdate, raw)
    const tenant = await this.core.tenantOrThrow(id)
    if (tenant.status === 'CLOSED') {
      const onlyClose = req.status === 'CLOSED' && Object.keys(req).length === 1
      if (!onlyClose) throw new ProtocolError('TENANT_CLOSED', `Tenant ${id} is closed; it is read-only (re-issuing {"status":"CLOSED"} re-runs the cascade)`)
      const counts = await this.cascade(ctx, tenant)
      await this.apply({audit: [this.core.audit(ctx, {tenant_id: id, operation: 'updateTenant', resource_type: 'tenant', resource_id: id, status: 200, metadata: {status: 'CLOSED', reissued: true, cascade: counts}})]})
      return {status: 200, body: tenantWire(tenant, wire === '0.1.26')}
    }
    const now = this.core.now()
    const {status, ...fields} = req
    const next: Tenant = {...tenant, ...fields, updated_at_ms: now}
    if (status && status !== tenant.status) {
      next.status = status
      if (status === 'SUSPENDED') next.suspended_at_ms = now
      if (status === 'ACTIVE') delete next.suspended_at_ms
      if (status === 'CLOSED') next.closed_at_ms = now
    }
    const changed = Object.keys(req)
    const meta: Record<string, unknown> = {changed_fields: changed}
    if (status) meta.previous_status = tenant.status
    if (status) meta.status = status
    if (next.status === 'CLOSED') {
      // The flip and every key/budget transition commit together; reservations follow, guarded by the flip.
      await this.cascade(ctx, tenant, next, meta)
      return {status: 200, body: tenantWire(next, wire === '0.1.26')}
    }
    await this.apply({tenants: [next], audit: [this.core.audit(ctx, {tenant_id: id, operation: 'updateTenant', resource_type: 'tenant', resource_id: id, status: 200, metadata: meta})]})
    this.core.emit(ctx, tenantEventType(tenant, next, changed), {tenant_id: id, data: tenantLifecycleData(tenant, next, changed)})
    return {status: 200, body: tenantWire(next, wire === '0.1.26')}
  }

  /** What a close would touch right now (the CLI shows it before asking). */
  async blastRadius(id: string): Promise<CascadeCounts> {
    const now = this.core.now()
    const keys = (await this.core.store.listApiKeys(id)).filter((k) => k.status === 'ACTIVE' && (k.expires_at_ms === undefined || k.expires_at_ms > now))
    const budgets = (await this.core.store.listLedgers('real', {tenant: id})).filter((l) => l.status !== 'CLOSED')
    const reservations = await this.activeReservations(id)
    return {budgets_closed: budgets.length, api_keys_revoked: keys.length, reservations_released: reservations.length, webhooks_disabled: 0}
  }

  /**
   * Rule 1. Idempotent: children already terminal are left alone and get no second audit row.
   * `flip` is the new tenant record when this call closes the tenant (omitted on a re-issue).
   */
  private async cascade(ctx: AdminCtx, tenant: Tenant, flip?: Tenant, meta: Record<string, unknown> = {}): Promise<CascadeCounts> {
    const id = tenant.tenant_id
    const now = this.core.now()
    const correlation_id = `tenant_close_cascade:${id}:${ctx.request_id}`
    const row = (resource_type: string, resource_id: string, event_kind: string, extra: Record<string, unknown> = {}): AuditEntry =>
      this.core.audit(ctx, {tenant_id: id, operation: 'tenant_close_cascade', resource_type, resource_id, status: 200, metadata: {event_kind, correlation_id, cascade_reason: 'tenant_closed', ...extra}})

    const keys = (await this.core.store.listApiKeys(id)).filter((k) => k.status === 'ACTIVE')
    const deltas: LedgerDelta[] = []
    const audit: AuditEntry[] = []
    let budgets = 0
    for (const book of ['real', 'shadow'] as Book[]) {
      for (const l of await this.core.store.listLedgers(book, {tenant: id})) {
        if (l.status === 'CLOSED') continue
        deltas.push({book, scope: l.scope, unit: l.unit, set: {status: 'CLOSED'}})
        if (book === 'real') {
          budgets++
          audit.push(row('budget', ledgerId(l.scope, l.unit), 'budget.closed_via_tenant_cascade', {scope: l.scope, unit: l.unit, previous_status: l.status}))
        }
      }
    }
    for (const k of keys) audit.push(row('api_key', k.key_id, 'api_key.revoked_via_tenant_cascade'))
    const reservations = await this.activeReservations(id)
    const counts: CascadeCounts = {budgets_closed: budgets, api_keys_revoked: keys.length, reservations_released: 0, webhooks_disabled: 0}
    if (flip) {
      audit.unshift(this.core.audit(ctx, {tenant_id: id, operation: 'updateTenant', resource_type: 'tenant', resource_id: id, status: 200, metadata: {...meta, correlation_id, cascade: {...counts, reservations_released: reservations.length}}}))
    }
    await this.apply({
      ...(flip ? {tenants: [flip]} : {}),
      apiKeys: keys.map((k) => ({...k, status: 'REVOKED' as const, revoked_at_ms: now, revoked_reason: 'tenant_closed'})),
      deltas,
      audit,
    })
    if (flip) this.core.emit(ctx, 'tenant.closed', {tenant_id: id, data: tenantLifecycleData(tenant, flip, (meta.changed_fields as string[] | undefined) ?? ['status']), correlation_id})
    for (const event of cascadeEvents(now, ctx, audit)) this.core.events.emit(event)
    // Reservations after the flip: from here on the runtime refuses every mutation for this tenant
    // (TENANT_CLOSED), so each release below races only with the expiry sweep, and both expect ACTIVE.
    for (const r of reservations) {
      const releasedRow = row('reservation', r.reservation_id, 'reservation.released_via_tenant_cascade', {released_amount: r.reserved.amount, unit: r.reserved.unit})
      const released = await this.core.store.apply({
        deltas: [...releaseRealHold(r), ...releaseHold('shadow', r.shadow_scopes, r)],
        reservation: {expectStatus: 'ACTIVE', value: {...r, status: 'RELEASED', finalized_at_ms: this.core.now()}},
        audit: [releasedRow],
      })
      if (released.ok) counts.reservations_released++
      if (released.ok) for (const event of cascadeEvents(this.core.now(), ctx, [releasedRow])) this.core.events.emit(event)
    }
    await this.core.store.flushed()
    return counts
  }

  private async activeReservations(tenant: string): Promise<Reservation[]> {
    const out: Reservation[] = []
    let cursor: string | undefined
    do {
      const page = await this.core.store.listReservations({tenant, status: 'ACTIVE', limit: 500, cursor})
      out.push(...page.reservations)
      cursor = page.next_cursor
    } while (cursor)
    return out
  }

  private async apply(tx: Tx): Promise<void> {
    const result = await this.core.store.apply(tx)
    if (!result.ok) throw new ProtocolError('INTERNAL_ERROR', `Store rejected the change (${result.failed})`)
    await this.core.store.flushed()
  }
}

/** Status moves first (suspended, reactivated); a change of defaults only is settings_changed; anything else updated. */
function tenantEventType(before: Tenant, after: Tenant, changed: string[]): string {
  if (before.status !== after.status) return after.status === 'SUSPENDED' ? 'tenant.suspended' : 'tenant.reactivated'
  const settings = ['default_commit_overage_policy', 'default_reservation_ttl_ms', 'max_reservation_ttl_ms', 'max_reservation_extensions']
  return changed.length > 0 && changed.every((f) => settings.includes(f)) ? 'tenant.settings_changed' : 'tenant.updated'
}

function releaseHold(book: Book, scopes: string[], r: Reservation): LedgerDelta[] {
  return scopes.map((scope) => ({book, scope, unit: r.reserved.unit, add: {reserved: -r.reserved.amount}}))
}

/** Same definition = the fields a create request sets are equal (timestamps and status aside). */
function sameDefinition(a: Tenant, b: Tenant): boolean {
  const pick = (t: Tenant) => ({
    name: t.name,
    parent_tenant_id: t.parent_tenant_id,
    metadata: t.metadata,
    default_commit_overage_policy: t.default_commit_overage_policy,
    default_reservation_ttl_ms: t.default_reservation_ttl_ms,
    max_reservation_ttl_ms: t.max_reservation_ttl_ms,
    max_reservation_extensions: t.max_reservation_extensions,
  })
  return canonicalJson(pick(a)) === canonicalJson(pick(b))
}
