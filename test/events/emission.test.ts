// Each emission point against a real daemon (embedded store, both planes on sockets): the change
// happens through the API, the event is read back through GET /v1/admin/events and checked against
// the admin spec's Event schema and the payload fields the spec names.
import {afterEach, describe, expect, it} from 'vitest'

import type {TestDaemon} from '../support/daemon.js'
import {call} from '../support/daemon.js'
import {ACME, admin, eventsOf, expectSpec, onlyEvent, reserve, startEventsDaemon} from './support.js'
import {debtScenario, thresholdScenario} from './ledger-scenarios.js'

let td: TestDaemon | undefined
afterEach(async () => {
  await td?.stop()
  td = undefined
})

const FUND = '/v1/admin/budgets/fund?tenant_id=acme&scope=tenant:acme/workspace:prod&unit=USD_MICROCENTS'

describe('budget lifecycle and funding events', () => {
  it('create, fund, debit, reset, reset_spent, repay, freeze, unfreeze and update each leave one event with previous and new state', async () => {
    td = await startEventsDaemon()
    const created = await admin(td, 'POST', '/v1/admin/budgets', {tenant_id: 'acme', scope: 'tenant:acme/workspace:qa', unit: 'TOKENS', allocated: {unit: 'TOKENS', amount: 500}})
    expect(created.status).toBe(201)
    const e = await onlyEvent(td, 'budget.created')
    expectSpec('Event', e)
    expect(e).toMatchObject({category: 'budget', tenant_id: 'acme', scope: 'tenant:acme/workspace:qa', source: 'cycles-admin', actor: {type: 'admin_on_behalf_of'}})
    expect(e.data).toMatchObject({operation: 'CREATE', scope: 'tenant:acme/workspace:qa', unit: 'TOKENS', new_state: {allocated: 500, remaining: 500, spent: 0, status: 'ACTIVE'}})
    expect(e.request_id).toEqual(expect.any(String))
    expect(e.trace_id).toMatch(/^[0-9a-f]{32}$/)

    const steps: Array<[string, Record<string, unknown>, string, Record<string, unknown>, Record<string, unknown>]> = [
      ['CREDIT', {amount: 500}, 'budget.funded', {allocated: 1000}, {allocated: 1500, remaining: 1500}],
      ['DEBIT', {amount: 300}, 'budget.debited', {allocated: 1500}, {allocated: 1200, remaining: 1200}],
      ['RESET', {amount: 2000}, 'budget.reset', {allocated: 1200}, {allocated: 2000, remaining: 2000}],
      ['RESET_SPENT', {amount: 2000, spent: 100}, 'budget.reset_spent', {spent: 0}, {spent: 100, remaining: 1900}],
    ]
    for (const [operation, amounts, type, previous, next] of steps) {
      const body: Record<string, unknown> = {operation, amount: {unit: 'USD_MICROCENTS', amount: amounts.amount}, reason: `test ${operation}`}
      if (amounts.spent !== undefined) body.spent = {unit: 'USD_MICROCENTS', amount: amounts.spent}
      const res = await admin(td, 'POST', FUND, body)
      expect(res.status, res.text).toBe(200)
      const event = await onlyEvent(td, type)
      expectSpec('Event', event)
      expect(event.data).toMatchObject({operation, reason: `test ${operation}`, previous_state: previous, new_state: next})
      if (operation === 'RESET_SPENT') expect(event.data!.spent_override_provided).toBe(true)
      else expect(event.data).not.toHaveProperty('spent_override_provided')
    }

    expect((await admin(td, 'POST', '/v1/admin/budgets/freeze?scope=tenant:acme/workspace:prod&unit=USD_MICROCENTS', {reason: 'incident'})).status).toBe(200)
    expect((await onlyEvent(td, 'budget.frozen')).data).toMatchObject({operation: 'STATUS_CHANGE', previous_state: {status: 'ACTIVE'}, new_state: {status: 'FROZEN'}, reason: 'incident'})
    expect((await admin(td, 'POST', '/v1/admin/budgets/unfreeze?scope=tenant:acme/workspace:prod&unit=USD_MICROCENTS')).status).toBe(200)
    expect((await onlyEvent(td, 'budget.unfrozen')).data).toMatchObject({previous_state: {status: 'FROZEN'}, new_state: {status: 'ACTIVE'}})
    expect((await admin(td, 'PATCH', '/v1/admin/budgets?scope=tenant:acme/workspace:prod&unit=USD_MICROCENTS', {overdraft_limit: {unit: 'USD_MICROCENTS', amount: 77}})).status).toBe(200)
    expect((await onlyEvent(td, 'budget.updated')).data).toMatchObject({operation: 'UPDATE', changed_fields: ['overdraft_limit']})
  })

  it('a repayment of debt is budget.debt_repaid; the overdraft that made the debt is budget.debt_incurred, over_limit entered and exited', async () => {
    td = await startEventsDaemon()
    await debtScenario(td)
  })
})

describe('tenant and API key lifecycle events', () => {
  it('tenant created, updated, suspended, reactivated, closed with its cascade; keys created, permissions changed, revoked', async () => {
    td = await startEventsDaemon()
    expect((await admin(td, 'POST', '/v1/admin/tenants', {tenant_id: 'initech', name: 'Initech'})).status).toBe(201)
    expect((await onlyEvent(td, 'tenant.created')).data).toEqual({tenant_id: 'initech', new_status: 'ACTIVE', changed_fields: []})
    await admin(td, 'PATCH', '/v1/admin/tenants/initech', {name: 'Initech Inc'})
    expect((await onlyEvent(td, 'tenant.updated')).data).toMatchObject({previous_status: 'ACTIVE', new_status: 'ACTIVE', changed_fields: ['name']})
    await admin(td, 'PATCH', '/v1/admin/tenants/initech', {status: 'SUSPENDED'})
    expect((await onlyEvent(td, 'tenant.suspended')).data).toMatchObject({previous_status: 'ACTIVE', new_status: 'SUSPENDED'})
    await admin(td, 'PATCH', '/v1/admin/tenants/initech', {status: 'ACTIVE'})
    expect((await onlyEvent(td, 'tenant.reactivated')).data).toMatchObject({previous_status: 'SUSPENDED', new_status: 'ACTIVE'})

    const key = await admin(td, 'POST', '/v1/admin/api-keys', {tenant_id: 'initech', name: 'bot', permissions: ['reservations:create']})
    expect(key.status).toBe(201)
    const created = await onlyEvent(td, 'api_key.created')
    expectSpec('Event', created)
    expect(created).toMatchObject({category: 'api_key', tenant_id: 'initech'})
    expect(created.data).toMatchObject({key_id: key.body.key_id, key_name: 'bot', new_status: 'ACTIVE', permissions: ['reservations:create']})
    expect(JSON.stringify(created)).not.toContain(key.body.key_secret)
    await admin(td, 'PATCH', `/v1/admin/api-keys/${key.body.key_id}`, {permissions: ['reservations:create', 'balances:read']})
    expect((await onlyEvent(td, 'api_key.permissions_changed')).data).toMatchObject({key_id: key.body.key_id, permissions: ['reservations:create', 'balances:read']})

    await admin(td, 'POST', '/v1/admin/budgets', {tenant_id: 'initech', scope: 'tenant:initech', unit: 'TOKENS', allocated: {unit: 'TOKENS', amount: 10}})
    const closed = await admin(td, 'PATCH', '/v1/admin/tenants/initech', {status: 'CLOSED'})
    expect(closed.status).toBe(200)
    const tenantClosed = await onlyEvent(td, 'tenant.closed')
    expect(tenantClosed.data).toMatchObject({previous_status: 'ACTIVE', new_status: 'CLOSED'})
    const budgetCascade = await onlyEvent(td, 'budget.closed_via_tenant_cascade')
    expect(budgetCascade.data).toMatchObject({scope: 'tenant:initech', unit: 'TOKENS', prior_status: 'ACTIVE', new_status: 'CLOSED', cascade_reason: 'tenant_closed'})
    const keyCascade = await onlyEvent(td, 'api_key.revoked_via_tenant_cascade')
    expect(keyCascade.data).toMatchObject({key_id: key.body.key_id, new_status: 'REVOKED'})
    // One operation: the same correlation id on the close and its cascade.
    expect(budgetCascade.correlation_id).toBe(tenantClosed.correlation_id)
    expect(keyCascade.correlation_id).toBe(tenantClosed.correlation_id)
  })

  it('a revoked key and an unknown key are api_key.auth_failed with the reason, never the key', async () => {
    td = await startEventsDaemon()
    const key = await admin(td, 'POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: 'short-lived'})
    await admin(td, 'DELETE', `/v1/admin/api-keys/${key.body.key_id}?reason=leaked`)
    expect((await onlyEvent(td, 'api_key.revoked')).data).toMatchObject({key_id: key.body.key_id, previous_status: 'ACTIVE', new_status: 'REVOKED', reason: 'leaked'})
    const denied = await call(td.url, 'GET', '/v1/balances?tenant=acme', undefined, {'X-Cycles-API-Key': key.body.key_secret})
    expect(denied.status).toBe(401)
    const unknown = await call(td.url, 'GET', '/v1/balances?tenant=acme', undefined, {'X-Cycles-API-Key': 'cyc_live_nosuchkeynosuchkeynosuchkey12'})
    expect(unknown.status).toBe(401)
    const failed = await eventsOf(td, {event_type: 'api_key.auth_failed'})
    expect(failed.map((e) => [e.tenant_id, e.data!.failure_reason])).toEqual([
      ['acme', 'key_revoked'],
      ['__system__', 'key_not_found'],
    ])
    for (const e of failed) expectSpec('Event', e)
    expect(failed[0].actor).toMatchObject({type: 'api_key', key_id: key.body.key_id})
    expect(JSON.stringify(failed)).not.toContain(key.body.key_secret)
    expect(failed[1].request_id).toEqual(expect.any(String))
  })
})

describe('policy lifecycle', () => {
  it('create, update and delete of a policy are policy.created | updated | deleted with EventDataPolicy', async () => {
    td = await startEventsDaemon()
    const created = await admin(td, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'no payments', scope_pattern: 'tenant:acme/*', denied_action_kinds: ['payment.charge']})
    expect(created.status).toBe(201)
    const id = created.body.policy_id
    expect((await admin(td, 'PATCH', `/v1/admin/policies/${id}`, {priority: 5})).status).toBe(200)
    expect((await admin(td, 'DELETE', `/v1/admin/policies/${id}`)).status).toBe(200)
    const events = (await eventsOf(td, {category: 'policy'})).map((e) => [e.event_type, e.tenant_id, e.data])
    expect(events).toEqual([
      ['policy.created', 'acme', {policy_id: id, name: 'no payments', scope_pattern: 'tenant:acme/*'}],
      ['policy.updated', 'acme', {policy_id: id, name: 'no payments', scope_pattern: 'tenant:acme/*', changed_fields: ['priority']}],
      ['policy.deleted', 'acme', {policy_id: id, name: 'no payments', scope_pattern: 'tenant:acme/*'}],
    ])
    for (const e of await eventsOf(td, {category: 'policy'})) expectSpec('Event', e)
  })
})

describe('policy denials and observe mode', () => {
  it('a policy denial is reservation.denied with its reason and policy; under tenant observe mode the same denial is reservation.observed_denied', async () => {
    td = await startEventsDaemon()
    const policy = await admin(td, 'POST', '/v1/admin/policies', {tenant_id: 'acme', name: 'no mail from dev', scope_pattern: 'tenant:acme/workspace:dev', denied_action_kinds: ['email.send']})
    expect(policy.status).toBe(201)
    const body = {subject: {tenant: 'acme', workspace: 'dev'}, action: {kind: 'email.send', name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}}
    const live = await reserve(td, ACME, body)
    expect(live.status).toBe(409)
    const denied = await onlyEvent(td, 'reservation.denied')
    expect(denied.data).toMatchObject({reason_code: 'ACTION_KIND_DENIED', policy_id: policy.body.policy_id, scope: 'tenant:acme/workspace:dev'})
    expectSpec('Event', denied)
    expect((await admin(td, 'PATCH', '/v1/admin/tenants/acme', {observe_mode: 'OBSERVE'})).status).toBe(200)
    const observed = await reserve(td, ACME, body)
    expect(observed.body.decision).toBe('DENY')
    const obs = await onlyEvent(td, 'reservation.observed_denied')
    expect(obs.data).toMatchObject({observe_mode: 'OBSERVE', deny_detail: {reason_code: 'ACTION_KIND_DENIED'}, policy_id: policy.body.policy_id})
    expect(await eventsOf(td, {event_type: 'reservation.denied'})).toHaveLength(1)
  })
})

describe('api_key.expired', () => {
  it('an expired key is announced once (api_key.expired, ACTIVE → EXPIRED) when it is next presented; every refusal is api_key.auth_failed key_expired', async () => {
    let clock = Date.parse('2026-11-28T09:00:00Z')
    td = await startEventsDaemon('', {now: () => clock})
    const key = await admin(td, 'POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: 'temp', expires_at: new Date(clock + 60_000).toISOString()})
    expect(key.status).toBe(201)
    expect((await call(td.url, 'GET', '/v1/balances?tenant=acme', undefined, {'X-Cycles-API-Key': key.body.key_secret})).status).toBe(200)
    expect(await eventsOf(td, {event_type: 'api_key.expired'})).toEqual([])
    clock += 61_000
    for (let i = 0; i < 2; i++) expect((await call(td.url, 'GET', '/v1/balances?tenant=acme', undefined, {'X-Cycles-API-Key': key.body.key_secret})).status).toBe(401)
    const expired = await eventsOf(td, {event_type: 'api_key.expired'})
    expect(expired).toHaveLength(1)
    expect(expired[0]).toMatchObject({tenant_id: 'acme', actor: {type: 'system'}, data: {key_id: key.body.key_id, previous_status: 'ACTIVE', new_status: 'EXPIRED'}})
    expectSpec('Event', expired[0])
    const failed = await eventsOf(td, {event_type: 'api_key.auth_failed'})
    expect(failed.map((e) => e.data!.failure_reason)).toEqual(['key_expired', 'key_expired'])
  })
})

describe('reservation events', () => {
  it('an enforced denial is reservation.denied; a shadow would-be denial is reservation.observed_denied with a deterministic correlation id', async () => {
    td = await startEventsDaemon()
    const denied = await reserve(td, ACME, {subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'email.send', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 5000}})
    expect(denied.status).toBe(409)
    const e = await onlyEvent(td, 'reservation.denied')
    expectSpec('Event', e)
    expect(e).toMatchObject({category: 'reservation', tenant_id: 'acme', scope: 'tenant:acme/workspace:prod', source: 'cycles-server'})
    expect(e.data).toMatchObject({reason_code: 'BUDGET_EXCEEDED', requested_amount: 5000, unit: 'USD_MICROCENTS', action: {kind: 'email.send', name: 'x'}})
    expect(e.request_id).toBe(denied.headers.get('x-request-id') ?? e.request_id)

    // llm.* is a shadow tier: admitted, while the shadow book would deny it.
    for (let i = 0; i < 2; i++) {
      const admitted = await reserve(td, ACME, {subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'llm.completion', name: 'y'}, estimate: {unit: 'USD_MICROCENTS', amount: 5000}})
      expect(admitted.status).toBe(200)
    }
    const observed = await eventsOf(td, {event_type: 'reservation.observed_denied'})
    expect(observed).toHaveLength(2)
    expectSpec('Event', observed[0])
    expect(observed[0].data).toMatchObject({observe_mode: 'OBSERVE', deny_detail: {reason_code: 'BUDGET_EXCEEDED'}, estimated_amount: 5000, action: {kind: 'llm.completion'}})
    expect(observed[0].correlation_id).toMatch(/^obs_[0-9a-f]{24}$/)
    expect(observed[1].correlation_id).toBe(observed[0].correlation_id)
    // An enforced denial never shows up as observed, and an admitted one never as denied.
    expect(await eventsOf(td, {event_type: 'reservation.denied'})).toHaveLength(1)
  })

  it('a reservation the sweep expires is reservation.expired', async () => {
    td = await startEventsDaemon()
    const r = await reserve(td, ACME, {subject: {tenant: 'acme'}, action: {kind: 'llm.completion', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 10}, ttl_ms: 1000, grace_period_ms: 0})
    expect(r.status, r.text).toBe(200)
    for (let i = 0; i < 100 && (await td.daemon.sweepExpired()).expired === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    const e = await onlyEvent(td, 'reservation.expired')
    expectSpec('Event', e)
    expect(e).toMatchObject({tenant_id: 'acme', actor: {type: 'system'}, correlation_id: r.body.reservation_id})
    expect(e.data).toMatchObject({reservation_id: r.body.reservation_id, estimated_amount: 10, unit: 'USD_MICROCENTS', ttl_ms: 1000, extensions_used: 0})
  })
})

describe('budget thresholds from the ledger post-states', () => {
  it('crossing 80 %, 95 % and 100 % rising fires each once, exhaustion once, and a release crosses them back falling', async () => {
    td = await startEventsDaemon()
    await thresholdScenario(td)
  })
})

describe('rollout events', () => {
  it('an applied step is custom.rollout.step_applied (once, not on a repeat); a guard trip is custom.rollout.guard_rollback', async () => {
    td = await startEventsDaemon()
    const step = {plan_id: 'plan-ev', step: 1, tier: 'medium', mode: 'enforce', enforce_percent: 100, reason: 'enforce medium', actor: 'ops'}
    expect((await admin(td, 'POST', '/v1/admin/rollout/steps', step)).status).toBe(200)
    expect((await admin(td, 'POST', '/v1/admin/rollout/steps', step)).body.already_applied).toBe(true)
    const applied = await onlyEvent(td, 'custom.rollout.step_applied')
    expectSpec('Event', applied)
    expect(applied).toMatchObject({category: 'system', tenant_id: '__system__', source: 'cycles-admin', actor: {type: 'admin'}})
    expect(applied.data).toMatchObject({plan_id: 'plan-ev', step: 1, tier: 'medium', mode: 'enforce', enforce_percent: 100, reason: 'enforce medium', actor: 'ops'})

    // A budget frozen behind everyone's back (no freeze in the audit log, not in the config): the
    // guard's BUDGET_FROZEN check sends the enforced tier back to shadow.
    const frozen = await td.daemon.store.apply({deltas: [{book: 'real', scope: 'tenant:acme', unit: 'USD_MICROCENTS', set: {status: 'FROZEN'}}]})
    expect(frozen.ok).toBe(true)
    const denied = await reserve(td, ACME, {subject: {tenant: 'acme'}, action: {kind: 'llm.completion', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 1}})
    expect(denied.status).toBe(409)
    await td.daemon.guard.settled()
    const rollback = await onlyEvent(td, 'custom.rollout.guard_rollback')
    expectSpec('Event', rollback)
    expect(rollback).toMatchObject({category: 'system', source: 'cycles-server', actor: {type: 'system'}})
    expect(rollback.data).toMatchObject({tier: 'medium', kind: 'budget_frozen', scope: 'tenant:acme', unit: 'USD_MICROCENTS'})
  })
})
