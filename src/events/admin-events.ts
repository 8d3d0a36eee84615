// Events of admin-plane changes: the envelope every admin one-liner gets (source cycles-admin, the
// admin as actor, the request's ids), and the tenant-close cascade's events from its audit rows.
import type {AuditEntry} from '../store/types.js'
import {SOURCE_ADMIN, buildEvent} from './build.js'
import type {CyclesEvent, EventActor} from './event.js'
import type {Caller} from '../admin/tenant-key.js'

/** The request an admin change came from (AdminCtx's fields). */
export interface AdminOrigin {
  request_id: string
  trace_id: string
  source_ip?: string
}

export interface AdminEventFields {
  tenant_id?: string
  scope?: string
  data: Record<string, unknown>
  correlation_id?: string
}

export function adminEvent(nowMs: number, ctx: AdminOrigin, eventType: string, f: AdminEventFields, who?: Caller): CyclesEvent {
  // As the audit rows say: an admin acting on a tenant's object acts on its behalf.
  const onBehalf = f.tenant_id !== undefined || f.scope !== undefined
  return buildEvent(nowMs, eventType, {...f, source: SOURCE_ADMIN, actor: adminActor(ctx, who, onBehalf), request_id: ctx.request_id, trace_id: ctx.trace_id})
}

/** Who made an admin-plane change: the tenant key that called (dual-auth routes), else the admin — on a tenant's behalf when the object is a tenant's. */
export function adminActor(ctx: AdminOrigin, who: Caller | undefined, onBehalf: boolean): EventActor {
  const actor: EventActor = who?.kind === 'tenant' ? {type: 'api_key', key_id: who.key_id} : {type: onBehalf ? 'admin_on_behalf_of' : 'admin'}
  return ctx.source_ip ? {...actor, source_ip: ctx.source_ip} : actor
}

/**
 * The cascade's `*_via_tenant_cascade` events (EventDataTenantCascade), one per audit row the
 * cascade wrote for an owned object; the rows carry event_kind and correlation_id for exactly this.
 */
export function cascadeEvents(nowMs: number, ctx: AdminOrigin, rows: readonly AuditEntry[]): CyclesEvent[] {
  const out: CyclesEvent[] = []
  for (const row of rows) {
    const m = row.metadata as Record<string, unknown> | undefined
    const kind = typeof m?.event_kind === 'string' ? m.event_kind : undefined
    if (!kind || !row.tenant_id) continue
    const data: Record<string, unknown> = {cascade_reason: 'tenant_closed'}
    if (row.resource_type === 'budget') Object.assign(data, {ledger_id: row.resource_id, scope: m!.scope, unit: m!.unit, prior_status: m!.previous_status, new_status: 'CLOSED'})
    else if (row.resource_type === 'api_key') Object.assign(data, {key_id: row.resource_id, prior_status: 'ACTIVE', new_status: 'REVOKED'})
    else if (row.resource_type === 'reservation') Object.assign(data, {reservation_id: row.resource_id, unit: m!.unit, released_amount: m!.released_amount})
    out.push(adminEvent(nowMs, ctx, kind, {tenant_id: row.tenant_id, ...(typeof m!.scope === 'string' ? {scope: m!.scope} : {}), data, correlation_id: String(m!.correlation_id)}))
  }
  return out
}
