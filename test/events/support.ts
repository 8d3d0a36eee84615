// Shared bits of the event tests: a daemon with the admin plane and a tier in enforce, reading
// events back through the admin API (after the writer's buffer is written), spec checks.
import {expect} from 'vitest'

import type {CyclesEvent} from '../../src/events/event.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {specErrors} from '../support/spec.js'
import type {DaemonOptions} from '../../src/daemon/daemon.js'

export const ADMIN_KEY = 'adm_events_0123456789abcdef'
export const ACME = 'cyc_test_acme_0123456789abcdef'
export const GLOBEX = 'cyc_test_globex_0123456789abcdef'
/** acme's key that may read its events (events:read is never a default permission). */
export const ACME_READER = 'cyc_test_acmereader_0123456789'
export const GLOBEX_READER = 'cyc_test_globexreader_012345678'

export const EVENTS_CONFIG = `
admin_key: ${ADMIN_KEY}
tenants:
  - {id: acme, name: Acme}
  - {id: globex, name: Globex}
api_keys:
  - {tenant: acme, secret: ${ACME}}
  - {tenant: globex, secret: ${GLOBEX}}
  - {tenant: acme, secret: ${ACME_READER}, permissions: [events:read]}
  - {tenant: globex, secret: ${GLOBEX_READER}, permissions: [events:read]}
budgets:
  - {scope: tenant:acme, unit: USD_MICROCENTS, allocated: 1000000}
  - {scope: tenant:acme/workspace:prod, unit: USD_MICROCENTS, allocated: 1000}
  - {scope: tenant:acme/workspace:dev, unit: TOKENS, allocated: 1000}
  - {scope: tenant:globex, unit: CREDITS, allocated: 100, overdraft_limit: 50, commit_overage_policy: ALLOW_WITH_OVERDRAFT}
tiers:
  low:    {mode: shadow, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high:   {mode: enforce, match: ["email.*"]}
events:
  flush_interval_ms: 10
`

export async function startEventsDaemon(extraYaml = '', options: Partial<DaemonOptions> = {}): Promise<TestDaemon> {
  return startTestDaemon(EVENTS_CONFIG + extraYaml, {adminPort: 0, ...options})
}

export function admin(td: TestDaemon, method: string, path: string, body?: unknown) {
  return call(td.daemon.adminUrl, method, path, body, {'X-Admin-API-Key': ADMIN_KEY})
}

/** Every event written so far matching the query (oldest first), after the writer's buffer is flushed. */
export async function eventsOf(td: TestDaemon, query: Record<string, string> = {}): Promise<CyclesEvent[]> {
  await td.daemon.events.writer!.flush()
  const out: CyclesEvent[] = []
  let cursor: string | undefined
  do {
    const q = new URLSearchParams({...query, limit: '100', ...(cursor ? {cursor} : {})})
    const res = await admin(td, 'GET', `/v1/admin/events?${q}`)
    expect(res.status, res.text).toBe(200)
    expectSpec('EventListResponse', res.body)
    out.push(...res.body.events)
    cursor = res.body.has_more ? res.body.next_cursor : undefined
  } while (cursor)
  return out.reverse()
}

export async function onlyEvent(td: TestDaemon, type: string, query: Record<string, string> = {}): Promise<CyclesEvent> {
  const found = await eventsOf(td, {event_type: type, ...query})
  expect(found.map((e) => e.event_type), type).toEqual([type])
  return found[0]
}

/**
 * The admin spec's Event schema. Types the v0.1.25 enum does not list (reservation.observed_denied
 * and observed_allowed from the v0.1.26 extension, `custom.*` ones the spec allows by rule) are checked with the rest of
 * the envelope under a listed type; the type itself is asserted separately.
 */
export function expectSpec(schema: string, body: unknown): void {
  const v26 = new Set(['reservation.observed_denied', 'reservation.observed_allowed'])
  const substitute = (e: CyclesEvent) => (e.event_type.startsWith('custom.') || v26.has(e.event_type) ? {...e, event_type: 'system.high_latency'} : e)
  let value = body
  if (schema === 'Event') value = substitute(body as CyclesEvent)
  if (schema === 'EventListResponse') value = {...(body as object), events: (body as {events: CyclesEvent[]}).events.map(substitute)}
  expect(specErrors('admin', schema, value), JSON.stringify(body)).toBeUndefined()
}

let seq = 0
export function reserve(td: TestDaemon, key: string, body: Record<string, unknown>) {
  return call(td.url, 'POST', '/v1/reservations', {idempotency_key: `ev-${++seq}-${Math.random().toString(36).slice(2)}`, ...body}, {'X-Cycles-API-Key': key})
}

export function commit(td: TestDaemon, key: string, id: string, unit: string, amount: number) {
  return call(td.url, 'POST', `/v1/reservations/${id}/commit`, {idempotency_key: `c-${++seq}`, actual: {unit, amount}}, {'X-Cycles-API-Key': key})
}

export function release(td: TestDaemon, key: string, id: string) {
  return call(td.url, 'POST', `/v1/reservations/${id}/release`, {idempotency_key: `r-${++seq}`}, {'X-Cycles-API-Key': key})
}
