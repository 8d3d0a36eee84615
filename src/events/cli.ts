// What `cycles events list | show | tail` do, apart from parsing flags and printing: the admin
// query from the flags, one line per event, and the tail loop (polls the admin API; each event
// printed once, in time order, as a single line or one JSON object per line).
import chalk from 'chalk'

import type {AdminClient} from '../client/admin-client.js'
import type {Query} from '../client/http.js'
import {CliError, EXIT} from '../cli/errors.js'
import {table} from '../cli/render.js'
import type {CyclesEvent} from './event.js'

export interface EventFlags {
  tenant?: string
  type?: string
  category?: string
  scope?: string
  'correlation-id'?: string
  'trace-id'?: string
  'request-id'?: string
  search?: string
  /** An ISO instant (the flag parsers resolve durations). */
  since?: string
  from?: string
  to?: string
  limit?: number
}

export function eventQuery(flags: EventFlags): Query {
  if (flags.since && flags.from) throw new CliError('USAGE', 'give either --since or --from, not both', {exit: EXIT.USAGE})
  if (flags['trace-id'] && !/^[0-9a-f]{32}$/.test(flags['trace-id'])) throw new CliError('USAGE', '--trace-id must be 32 lowercase hex characters', {exit: EXIT.USAGE})
  return {
    tenant_id: flags.tenant,
    event_type: flags.type,
    category: flags.category,
    scope: flags.scope,
    correlation_id: flags['correlation-id'],
    trace_id: flags['trace-id'],
    request_id: flags['request-id'],
    search: flags.search,
    from: flags.since ?? flags.from,
    to: flags.to,
    limit: flags.limit,
  }
}

/** Payload fields worth a glance, in this order; the rest is for `events show`. */
const SUMMARY_FIELDS = [
  'reason_code',
  'threshold',
  'direction',
  'utilization',
  'operation',
  'run_id',
  'count',
  'metric',
  'current_rate',
  'multiplier',
  'requested_amount',
  'estimated_amount',
  'actual_amount',
  'debt_incurred',
  'total_debt',
  'failure_reason',
  'key_id',
  'new_status',
  'tier',
  'mode',
  'step',
  'message',
]

function summary(e: CyclesEvent): string {
  const data = e.data ?? {}
  const parts: string[] = []
  for (const k of SUMMARY_FIELDS) {
    const v = data[k]
    if (v === undefined || v === null || typeof v === 'object') continue
    parts.push(`${k}=${typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(4)) : v}`)
    if (parts.length === 4) break
  }
  return parts.join(' ')
}

function typeText(type: string): string {
  if (/denied|exhausted|over_limit_entered|spike|anomaly|loop|lost|auth_failed|rollback/.test(type)) return chalk.red(type)
  if (/threshold|debt|overage|expired|frozen|revoked|closed|suspended/.test(type)) return chalk.yellow(type)
  return type
}

/** One event on one line: time, type, tenant, scope, the payload's key figures, id. */
export function eventLine(e: CyclesEvent): string {
  return [e.timestamp, typeText(e.event_type), e.tenant_id, e.scope ? chalk.cyan(e.scope) : '', summary(e), chalk.dim(e.event_id)].filter((x) => x !== '').join('  ')
}

export function eventRows(events: CyclesEvent[]): string {
  return table(
    ['time', 'type', 'tenant', 'scope', 'details', 'event_id'],
    events.map((e) => [e.timestamp, typeText(e.event_type), e.tenant_id, e.scope ?? '', summary(e), e.event_id]),
  )
}

/** `events show`: the envelope as lines, then the payload. */
export function eventDetail(e: CyclesEvent): string {
  const head: Array<[string, string | undefined]> = [
    ['event_id', e.event_id],
    ['type', e.event_type],
    ['category', e.category],
    ['time', e.timestamp],
    ['tenant', e.tenant_id],
    ['scope', e.scope],
    ['source', e.source],
    ['actor', e.actor ? [e.actor.type, e.actor.key_id, e.actor.source_ip].filter(Boolean).join(' ') : undefined],
    ['correlation_id', e.correlation_id],
    ['request_id', e.request_id],
    ['trace_id', e.trace_id],
  ]
  const lines = head.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k.padEnd(15)}${v}`)
  if (e.data) lines.push('data', ...JSON.stringify(e.data, null, 2).split('\n').map((l) => `  ${l}`))
  if (e.metadata) lines.push('metadata', ...JSON.stringify(e.metadata, null, 2).split('\n').map((l) => `  ${l}`))
  return lines.join('\n')
}

export interface TailOptions {
  admin: Pick<AdminClient, 'listEvents'>
  /** Filters (eventQuery); `from` is where the tail starts (default: now). */
  query: Query
  intervalMs: number
  /** Stop after this long (default: until `stopped` says so). */
  durationMs?: number
  onEvent: (e: CyclesEvent) => void
  stopped?: () => boolean
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

/**
 * Events written late (another daemon's batch, a clock a little behind) can land before the last
 * one shown: each poll looks back this far and skips the ids it already showed.
 */
export const TAIL_OVERLAP_MS = 5000

/** Follow the event log: every new event once, oldest first. Returns how many were shown. */
export async function tailEvents(o: TailOptions): Promise<number> {
  const now = o.now ?? Date.now
  const sleep = o.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)))
  const started = now()
  const floorMs = typeof o.query.from === 'string' ? Date.parse(o.query.from) : started
  let fromMs = floorMs
  const seen = new Map<string, number>()
  let shown = 0
  for (;;) {
    let cursor: string | undefined
    // One window per poll: a cursor is bound to the filters it came with.
    const from = new Date(Math.max(0, fromMs - TAIL_OVERLAP_MS)).toISOString()
    do {
      const page = await o.admin.listEvents({...o.query, from, sort_dir: 'asc', limit: 100, ...(cursor ? {cursor} : {})})
      for (const e of page.items) {
        if (seen.has(e.event_id)) continue
        const at = Date.parse(e.timestamp)
        if (at < floorMs) continue
        seen.set(e.event_id, at)
        o.onEvent(e)
        shown++
        if (at > fromMs) fromMs = at
      }
      cursor = page.has_more ? page.next_cursor : undefined
    } while (cursor)
    // Ids older than the look-back can no longer come back: forget them (bounded memory).
    for (const [id, at] of seen) if (at < fromMs - TAIL_OVERLAP_MS) seen.delete(id)
    if (o.stopped?.() || (o.durationMs !== undefined && now() - started >= o.durationMs)) return shown
    await sleep(o.intervalMs)
    if (o.stopped?.()) return shown
  }
}
