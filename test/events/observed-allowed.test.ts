// reservation.observed_allowed (v0.1.26 OBSERVE MODE EVALUATION RULES): under observe mode — per request
// or per tenant — an ALLOW or ALLOW_WITH_CAPS emits it (the denominator of the observed denial rate);
// never outside observe mode (live reserves, ENFORCE dry-runs), and an observed DENY stays
// reservation.observed_denied. The payload is checked against EventDataObservedAllowed in the spec.
import {afterEach, describe, expect, it} from 'vitest'

import type {CyclesEvent} from '../../src/events/event.js'
import {type TestDaemon, call} from '../support/daemon.js'
import {extErrors} from '../policies/support.js'
import {ACME, admin, eventsOf, expectSpec, reserve, startEventsDaemon} from './support.js'

const V26 = {'X-Cycles-Protocol-Version': '0.1.26'}
let td: TestDaemon | undefined
afterEach(async () => {
  await td?.stop()
  td = undefined
})

let n = 0
/** A v0.1.26 reserve asking for observe mode itself. */
const observe = (body: Record<string, unknown>) =>
  call(td!.url, 'POST', '/v1/reservations', {idempotency_key: `oa-${++n}`, observe_mode: 'OBSERVE', ...body}, {'X-Cycles-API-Key': ACME, ...V26})

/** The admin Event envelope (its v0.1.25 type enum predates the v0.1.26 types: checked under a listed type) and the v0.1.26 payload. */
function expectObservedAllowedSpec(e: CyclesEvent) {
  expect(e.event_type).toBe('reservation.observed_allowed')
  expect(e.category).toBe('reservation')
  expectSpec('Event', {...e, event_type: 'system.high_latency'})
  expect(extErrors('protocol-ext', 'EventDataObservedAllowed', e.data)).toBeUndefined()
}

describe('reservation.observed_allowed', () => {
  it('a per-request observed ALLOW emits it with the spec payload; one run shares a correlation id, no run means none', async () => {
    td = await startEventsDaemon()
    const subject = {tenant: 'acme', workspace: 'prod', dimensions: {run_id: 'run-7'}}
    const action = {kind: 'llm.completion', name: 'draft'}
    const first = await observe({subject, action, estimate: {unit: 'USD_MICROCENTS', amount: 40}})
    expect(first.status, first.text).toBe(200)
    expect(first.body.decision).toBe('ALLOW')
    expect(first.body.reservation_id).toBeUndefined()
    expect((await observe({subject, action, estimate: {unit: 'USD_MICROCENTS', amount: 50}})).body.decision).toBe('ALLOW')
    expect((await observe({subject: {tenant: 'acme', workspace: 'prod'}, action, estimate: {unit: 'USD_MICROCENTS', amount: 60}})).body.decision).toBe('ALLOW')

    const events = await eventsOf(td, {event_type: 'reservation.observed_allowed'})
    expect(events).toHaveLength(3)
    for (const e of events) expectObservedAllowedSpec(e)
    expect(events[0]).toMatchObject({tenant_id: 'acme', scope: 'tenant:acme/workspace:prod', source: 'cycles-server'})
    expect(events[0].data).toEqual({
      scope: 'tenant:acme/workspace:prod',
      decision: 'ALLOW',
      unit: 'USD_MICROCENTS',
      action: {kind: 'llm.completion', name: 'draft'},
      subject,
      estimated_amount: 40,
      observe_mode: 'OBSERVE',
    })
    expect(events[1].data!.estimated_amount).toBe(50)
    expect(events[0].correlation_id).toMatch(/^oba_[0-9a-f]{24}$/)
    expect(events[1].correlation_id).toBe(events[0].correlation_id)
    expect(events[2].correlation_id).toBeUndefined()
    expect(await eventsOf(td, {event_type: 'reservation.observed_denied'})).toEqual([])
  })

  it("an observed ALLOW_WITH_CAPS carries caps_applied; the tenant's observe mode emits it too; an observed DENY is observed_denied only", async () => {
    td = await startEventsDaemon()
    const policy = await admin(td, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'short answers', scope_pattern: 'tenant:acme/workspace:dev', caps: {max_tokens: 64}})
    expect(policy.status, policy.text).toBe(201)
    const capped = await observe({subject: {tenant: 'acme', workspace: 'dev'}, action: {kind: 'llm.completion', name: 'x'}, estimate: {unit: 'TOKENS', amount: 10}})
    expect(capped.body.decision).toBe('ALLOW_WITH_CAPS')
    const [withCaps] = await eventsOf(td, {event_type: 'reservation.observed_allowed'})
    expectObservedAllowedSpec(withCaps)
    expect(withCaps.data).toMatchObject({decision: 'ALLOW_WITH_CAPS', caps_applied: {max_tokens: 64}, scope: 'tenant:acme/workspace:dev', unit: 'TOKENS', estimated_amount: 10})

    expect((await admin(td, 'PATCH', '/v1/admin/tenants/acme', {observe_mode: 'OBSERVE'})).status).toBe(200)
    const byTenant = await reserve(td, ACME, {subject: {tenant: 'acme'}, action: {kind: 'email.send', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 10}})
    expect(byTenant.body.decision).toBe('ALLOW')
    const tooMuch = await reserve(td, ACME, {subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'email.send', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 5000}})
    expect(tooMuch.body.decision).toBe('DENY')
    const allowed = await eventsOf(td, {event_type: 'reservation.observed_allowed'})
    expect(allowed.map((e) => [e.data!.decision, e.data!.scope])).toEqual([
      ['ALLOW_WITH_CAPS', 'tenant:acme/workspace:dev'],
      ['ALLOW', 'tenant:acme'],
    ])
    expectObservedAllowedSpec(allowed[1])
    expect((await eventsOf(td, {event_type: 'reservation.observed_denied'})).map((e) => e.data!.scope)).toEqual(['tenant:acme/workspace:prod'])
  })

  it('is never emitted outside observe mode: live reserves (enforced or shadowed) and ENFORCE dry-runs', async () => {
    td = await startEventsDaemon()
    const enforced = await reserve(td, ACME, {subject: {tenant: 'acme'}, action: {kind: 'email.send', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 10}})
    expect(enforced.body.decision).toBe('ALLOW')
    const shadowed = await reserve(td, ACME, {subject: {tenant: 'acme'}, action: {kind: 'llm.completion', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 10}})
    expect(shadowed.body.decision).toBe('ALLOW')
    const dry = await reserve(td, ACME, {subject: {tenant: 'acme'}, action: {kind: 'email.send', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 10}, dry_run: true})
    expect(dry.body.decision).toBe('ALLOW')
    expect(await eventsOf(td, {event_type: 'reservation.observed_allowed'})).toEqual([])
  })
})
