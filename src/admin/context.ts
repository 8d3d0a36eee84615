// What every admin operation gets: its dependencies, the caller, and helpers for audit rows,
// scopes, cursors and results.
import {randomBytes, randomUUID} from 'node:crypto'

import {payloadHash} from '../protocol/canonical-json.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {ScopeSyntaxError, parseScope} from '../protocol/scope.js'
import {type Tenant, UNITS, type Unit} from '../protocol/types.js'
import type {AuditEntry, Store} from '../store/types.js'
import {type AdminEventFields, adminEvent} from '../events/admin-events.js'
import type {EventSink} from '../events/event.js'
import type {Caller} from './tenant-key.js'
import {ADMIN_TENANT} from './wire.js'

export interface DenialSample {
  ts_ms: number
  tenant: string
  scope?: string
  unit?: string
  reason_code?: string
  estimate?: number
  action?: {kind: string; name: string}
  subject?: Record<string, unknown>
  request_id?: string
  trace_id?: string
  /** A would-be denial: admitted, but the shadow book (full enforcement) would have denied it. */
  would?: boolean
  tier?: string
}

export interface AdminDeps {
  store: Store
  now?: () => number
  newId?: () => string
  /** Random bytes for new key secrets (tests may pin it). */
  randomBytes?: (n: number) => Buffer
  /** Recent runtime denials for the overview (the daemon feeds it from its decision records). */
  recentDenials?: () => DenialSample[]
  /** Where admin changes are announced (the daemon's event writer); default: nowhere. */
  events?: EventSink
}

/** The caller of one admin request. */
export interface AdminCtx {
  request_id: string
  trace_id: string
  source_ip?: string
  user_agent?: string
  /** Who makes the change (X-Cycles-Actor; the runbook commands always send it). */
  actor?: string
  /** Why (X-Cycles-Reason), for routes whose body has no reason of its own. */
  reason?: string
}

const MAX_ACTOR = 128
const MAX_REASON = 512

/** The actor and reason headers (percent-encoded by the client) → the caller's fields; a malformed one is kept as sent. */
export function callerFromHeaders(actor: string | undefined, reason: string | undefined): Pick<AdminCtx, 'actor' | 'reason'> {
  const decode = (v: string | undefined, max: number): string | undefined => {
    if (!v) return undefined
    let text = v
    try {
      text = decodeURIComponent(v)
    } catch {
      // not percent-encoded: keep it as it came
    }
    text = text.trim().slice(0, max)
    return text === '' ? undefined : text
  }
  const a = decode(actor, MAX_ACTOR)
  const r = decode(reason, MAX_REASON)
  return {...(a ? {actor: a} : {}), ...(r ? {reason: r} : {})}
}

/** A handler's answer: status and JSON body (already serialized when `raw`). */
export interface AdminResult {
  status: number
  body: unknown
  raw?: boolean
  headers?: Record<string, string>
}

export class AdminCore {
  readonly store: Store
  readonly now: () => number
  readonly newId: () => string
  readonly random: (n: number) => Buffer
  readonly recentDenials: () => DenialSample[]
  readonly events: EventSink

  constructor(deps: AdminDeps) {
    this.store = deps.store
    this.now = deps.now ?? Date.now
    this.newId = deps.newId ?? randomUUID
    this.random = deps.randomBytes ?? randomBytes
    this.recentDenials = deps.recentDenials ?? (() => [])
    this.events = deps.events ?? {emit() {}}
  }

  /** Announce an admin change (after it is applied; never blocks: events/writer.ts). */
  emit(ctx: AdminCtx, eventType: string, fields: AdminEventFields, who?: Caller): void {
    this.events.emit(adminEvent(this.now(), ctx, eventType, fields, who))
  }

  /**
   * One audit row for a successful admin write (written in the same transaction as the write). Who
   * and why come from the caller's headers unless the row's metadata names them itself (a body's
   * reason, a control change's actor). A tenant key calling a dual-auth route is the row's actor (`who`).
   */
  audit(ctx: AdminCtx, row: {tenant_id?: string; operation: string; resource_type: string; resource_id: string; status: number; metadata?: Record<string, unknown>}, who?: Caller): AuditEntry {
    const stated = {...(ctx.actor ? {actor: ctx.actor} : {}), ...(ctx.reason ? {reason: ctx.reason} : {})}
    const metadata = Object.keys(stated).length > 0 || row.metadata ? {...stated, ...row.metadata} : undefined
    return {
      log_id: `log_${this.newId().replaceAll('-', '')}`,
      timestamp_ms: this.now(),
      tenant_id: row.tenant_id ?? ADMIN_TENANT,
      actor_type: who?.kind === 'tenant' ? 'api_key' : row.tenant_id && row.tenant_id !== ADMIN_TENANT ? 'admin_on_behalf_of' : 'admin',
      ...(who?.kind === 'tenant' ? {key_id: who.key_id} : {}),
      operation: row.operation,
      resource_type: row.resource_type,
      resource_id: row.resource_id,
      status: row.status,
      request_id: ctx.request_id,
      trace_id: ctx.trace_id,
      ...(ctx.source_ip ? {source_ip: ctx.source_ip} : {}),
      ...(ctx.user_agent ? {user_agent: ctx.user_agent.slice(0, 256)} : {}),
      ...(metadata ? {metadata} : {}),
    }
  }

  async tenantOrThrow(id: string): Promise<Tenant> {
    const t = await this.store.getTenant(id)
    if (!t) throw new ProtocolError('TENANT_NOT_FOUND', `Tenant not found: ${id}`)
    return t
  }

  /** Rule 2 of the spec's cascade semantics: no mutation on anything a CLOSED tenant owns. */
  async guardTenantOpen(id: string | undefined): Promise<Tenant | undefined> {
    if (!id) return undefined
    const t = await this.store.getTenant(id)
    if (t?.status === 'CLOSED') throw new ProtocolError('TENANT_CLOSED', `Tenant ${id} is closed; its objects are read-only`)
    return t
  }
}

export function scopeParam(value: string | null | undefined, name = 'scope'): string {
  if (value === null || value === undefined || value === '') throw invalid(`Validation failed: ${name}: is required`)
  try {
    return parseScope(value)
  } catch (error) {
    if (error instanceof ScopeSyntaxError) {
      throw invalid(`Validation failed: ${name}: ${error.message}${error.suggestion ? ` (${error.suggestion})` : ''}`)
    }
    throw error
  }
}

export function unitParam(value: string | null | undefined): Unit {
  if (value === null || value === undefined || value === '') throw invalid('Validation failed: unit: is required')
  if (!(UNITS as readonly string[]).includes(value)) throw invalid(`Validation failed: unit: expected one of ${UNITS.join(', ')}`)
  return value as Unit
}

// ---------------------------------------------------------------- cursor pagination

/**
 * Offset cursors bound to the (filters, sort) tuple they were issued for: a cursor reused with
 * other filters is a 400, as on the reference server.
 */
export function paginate<T>(items: T[], binding: unknown, cursor: string | null, limit: number): {page: T[]; next_cursor?: string; has_more: boolean} {
  const tag = payloadHash(binding).slice(0, 12)
  let start = 0
  if (cursor) {
    let decoded: {o?: unknown; f?: unknown}
    try {
      decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    } catch {
      throw invalid('Validation failed: cursor: not a cursor issued by this server; restart from page 1')
    }
    if (decoded.f !== tag || typeof decoded.o !== 'number' || !Number.isInteger(decoded.o) || decoded.o < 0) {
      throw invalid('Validation failed: cursor: does not match these filters or sort; restart without a cursor')
    }
    start = decoded.o
  }
  const page = items.slice(start, start + limit)
  const more = start + limit < items.length
  return {
    page,
    has_more: more,
    ...(more ? {next_cursor: Buffer.from(JSON.stringify({o: start + limit, f: tag})).toString('base64url')} : {}),
  }
}

export function sortBy<T>(items: T[], key: (item: T) => string | number, dir: 'asc' | 'desc'): T[] {
  const sign = dir === 'asc' ? 1 : -1
  return items
    .map((item, i) => ({item, i, k: key(item)}))
    .sort((a, b) => (a.k < b.k ? -sign : a.k > b.k ? sign : a.i - b.i))
    .map((x) => x.item)
}
