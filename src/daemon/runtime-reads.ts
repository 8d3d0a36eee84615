// Read endpoints of the runtime plane: balances, reservation list and reservation detail.
import {ProtocolError, invalid} from '../protocol/errors.js'
import {type Reservation, SCOPE_LEVELS} from '../protocol/types.js'
import {encodeCursor} from '../store/filters.js'
import {type CallContext, type ServiceResponse, type RuntimeCore} from './runtime-core.js'
import {balancesOf, cursorOffset, parseLimit, summaryOf} from './wire.js'

export class ReadPath {
  constructor(private readonly core: RuntimeCore) {}

  async balances(ctx: CallContext, query: URLSearchParams): Promise<ServiceResponse> {
    const segments: string[] = []
    let any = false
    for (const level of SCOPE_LEVELS) {
      const value = query.get(level)
      if (value === null || value === '') continue
      any = true
      if (level === 'tenant' && value !== ctx.tenant) throw new ProtocolError('FORBIDDEN', 'tenant does not match the API key')
      if (!/^[a-zA-Z0-9_.-]+$/.test(value)) throw invalid(`Validation failed: ${level}: must match ^[a-zA-Z0-9_.-]+$`)
      segments.push(`${level}:${value.toLowerCase()}`)
    }
    if (!any) throw invalid('At least one subject filter (tenant, workspace, app, workflow, agent, toolset) is required')
    const limit = parseLimit(query.get('limit'))
    let ledgers = await this.core.store.listLedgers('real', {tenant: ctx.tenant, segments})
    if (ctx.scopeFilter) ledgers = ledgers.filter((l) => ctx.scopeFilter!.allows(l.scope))
    const start = cursorOffset(query.get('cursor'))
    const page = ledgers.slice(start, start + limit)
    const body: Record<string, unknown> = {balances: balancesOf(page)}
    if (start + limit < ledgers.length) {
      body.next_cursor = encodeCursor(start + limit)
      body.has_more = true
    } else body.has_more = false
    return {status: 200, body: JSON.stringify(body)}
  }

  async listReservations(ctx: CallContext, query: URLSearchParams): Promise<ServiceResponse> {
    const tenantParam = query.get('tenant')
    if (tenantParam && tenantParam !== ctx.tenant) throw new ProtocolError('FORBIDDEN', 'tenant does not match the API key')
    const status = query.get('status') || undefined
    if (status && !['ACTIVE', 'COMMITTED', 'RELEASED', 'EXPIRED'].includes(status)) {
      throw invalid('Validation failed: status: expected ACTIVE, COMMITTED, RELEASED or EXPIRED')
    }
    const scopeSegments: string[] = []
    for (const level of SCOPE_LEVELS) {
      const value = query.get(level)
      if (level !== 'tenant' && value) scopeSegments.push(`${level}:${value.toLowerCase()}`)
    }
    const result = await this.core.store.listReservations({
      tenant: ctx.tenant,
      status: status as Reservation['status'] | undefined,
      idempotency_key: query.get('idempotency_key') || undefined,
      scopeSegments: scopeSegments.length > 0 ? scopeSegments : undefined,
      limit: parseLimit(query.get('limit')),
      cursor: query.get('cursor') || undefined,
    })
    // A scope-filtered key sees only its scopes; a page may then hold fewer than `limit` (follow next_cursor).
    const visible = ctx.scopeFilter ? result.reservations.filter((r) => ctx.scopeFilter!.allows(r.scope_path)) : result.reservations
    const body: Record<string, unknown> = {reservations: visible.map((r) => summaryOf(r))}
    if (result.next_cursor) body.next_cursor = result.next_cursor
    body.has_more = result.next_cursor !== undefined
    return {status: 200, body: JSON.stringify(body)}
  }

  async getReservation(ctx: CallContext, id: string): Promise<ServiceResponse> {
    const r = await this.core.ownedReservation(ctx, id)
    if (r.status === 'EXPIRED') throw new ProtocolError('RESERVATION_EXPIRED', `Reservation ${id} has expired`)
    const detail: Record<string, unknown> = summaryOf(r)
    if (r.metadata) detail.metadata = r.metadata
    if (r.committed_metadata) detail.committed_metadata = r.committed_metadata
    return {status: 200, body: JSON.stringify(detail)}
  }
}
