// Periodic budgets: UTC calendar boundaries, and the period runner on the embedded store with a
// controllable clock — one RESET_SPENT per boundary in both books (audit row, event doc), none
// mid-period, exactly one when two runners share the store; a real daemon seeded from a config file.
import {describe, expect, it} from 'vitest'

import {BudgetOps} from '../../src/admin/budgets.js'
import {AdminCore, type AdminCtx} from '../../src/admin/context.js'
import {PeriodRunner} from '../../src/daemon/period-runner.js'
import {type BudgetPeriod, nextPeriodStart, periodStart} from '../../src/daemon/periods.js'
import {EVENTS_COLLECTION} from '../../src/events/event.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import type {Store} from '../../src/store/types.js'
import {ACME_KEY, FIXTURE_CONFIG, call, startTestDaemon} from '../support/daemon.js'

const ctx: AdminCtx = {request_id: 'req-periods', trace_id: '1'.repeat(32)}
const SCOPE = 'tenant:acme/workspace:prod'
const UNIT = 'USD_MICROCENTS'
const at = (iso: string) => Date.parse(iso)

describe('period boundaries (UTC calendar)', () => {
  const cases: Array<[BudgetPeriod, string, string, string]> = [
    ['hour', '2026-11-28T09:59:59.999Z', '2026-11-28T09:00:00.000Z', '2026-11-28T10:00:00.000Z'],
    ['day', '2026-11-28T23:59:59.999Z', '2026-11-28T00:00:00.000Z', '2026-11-29T00:00:00.000Z'],
    // 2026-11-28 is a Saturday: its week began on Monday the 23rd.
    ['week', '2026-11-28T12:00:00.000Z', '2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z'],
    ['week', '2026-11-30T00:00:00.000Z', '2026-11-30T00:00:00.000Z', '2026-12-07T00:00:00.000Z'],
    ['week', '2026-11-29T23:59:59.999Z', '2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z'],
    ['month', '2026-12-31T23:59:59.999Z', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['month', '2028-02-29T10:00:00.000Z', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
  ]
  it.each(cases)('%s containing %s starts %s, the next %s', (period, t, start, next) => {
    expect(new Date(periodStart(period, at(t))).toISOString()).toBe(start)
    expect(new Date(nextPeriodStart(period, at(t))).toISOString()).toBe(next)
  })
})

async function periodicBudget(store: Store, nowMs: number, period: BudgetPeriod, spentReal: number, spentShadow: number) {
  const core = new AdminCore({store, now: () => nowMs})
  await store.apply({tenants: [{tenant_id: 'acme', status: 'ACTIVE'}]})
  const created = await new BudgetOps(core).create(ctx, {tenant_id: 'acme', scope: SCOPE, unit: UNIT, allocated: {unit: UNIT, amount: 1_000_000}, period})
  expect(created.status).toBe(201)
  expect(created.body).toMatchObject({period})
  // Spend in both books (different amounts: the shadow book sees would-be spend too), plus a live hold and some debt.
  const spent = await store.apply({
    deltas: [
      {book: 'real', scope: SCOPE, unit: UNIT, add: {spent: spentReal, reserved: 1000, debt: 50}},
      {book: 'shadow', scope: SCOPE, unit: UNIT, add: {spent: spentShadow}},
    ],
  })
  expect(spent.ok).toBe(true)
}

async function resetRows(store: Store) {
  const {entries} = await store.listAudit({operation: 'fundBudget', limit: 100})
  return entries.filter((e) => e.metadata?.operation === 'RESET_SPENT')
}

async function resetEvents(store: Store) {
  return (await store.listDocs(EVENTS_COLLECTION, {limit: 1000})).filter((d) => d.value.event_type === 'budget.reset_spent')
}

describe('period runner (embedded store, injected clock)', () => {
  it('resets spent at the boundary in both books, once, with an audit row and a budget.reset_spent event', async () => {
    let now = at('2026-11-28T10:15:00Z')
    const store = await EmbeddedStore.open({now: () => now})
    await periodicBudget(store, now, 'day', 300_000, 450_000)
    const runner = new PeriodRunner({store, now: () => now})

    // Mid-period: setting the period did not reset what was spent today.
    expect(await runner.tick()).toEqual([])
    now = at('2026-11-28T23:59:59.999Z')
    expect(await runner.tick()).toEqual([])
    let [real] = await store.getLedgers('real', [SCOPE], UNIT)
    expect(real?.spent).toBe(300_000)

    now = at('2026-11-29T00:00:00Z')
    const resets = await runner.tick()
    expect(resets).toEqual([{scope: SCOPE, unit: UNIT, period: 'day', period_start: '2026-11-29T00:00:00.000Z', previous_spent: {real: 300_000, shadow: 450_000}}])
    ;[real] = await store.getLedgers('real', [SCOPE], UNIT)
    const [shadow] = await store.getLedgers('shadow', [SCOPE], UNIT)
    // RESET_SPENT: spent cleared; allocated, reserved and debt carry over.
    expect(real).toMatchObject({spent: 0, allocated: 1_000_000, reserved: 1000, debt: 50, remaining: 1_000_000 - 1000 - 50})
    expect(shadow).toMatchObject({spent: 0, allocated: 1_000_000})

    const rows = await resetRows(store)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({actor_type: 'system', tenant_id: 'acme', resource_id: `${SCOPE}:${UNIT}`, metadata: {trigger: 'period', period: 'day', period_start: '2026-11-29T00:00:00.000Z', previous_spent: 300_000, previous_shadow_spent: 450_000, new_spent: 0}})
    const events = await resetEvents(store)
    expect(events).toHaveLength(1)
    expect(events[0]!.value).toMatchObject({category: 'budget', tenant_id: 'acme', scope: SCOPE, actor: {type: 'scheduler'}, data: {operation: 'RESET_SPENT', spent_override_provided: false, previous_state: {spent: 300_000, reserved: 1000}, new_state: {spent: 0}}})

    // Later in the same period: nothing more, even with new spend.
    await store.apply({deltas: [{book: 'real', scope: SCOPE, unit: UNIT, add: {spent: 7}}]})
    now = at('2026-11-29T18:00:00Z')
    expect(await runner.tick()).toEqual([])
    expect(await resetRows(store)).toHaveLength(1)
    // The next boundary resets again.
    now = at('2026-11-30T00:00:01Z')
    expect((await runner.tick()).map((r) => r.previous_spent.real)).toEqual([7])
    expect(await resetRows(store)).toHaveLength(2)
    await store.close()
  })

  it('two runners on one store across a boundary: exactly one reset', async () => {
    let now = at('2026-11-28T10:59:00Z')
    const store = await EmbeddedStore.open({now: () => now})
    await periodicBudget(store, now, 'hour', 123, 456)
    const a = new PeriodRunner({store, now: () => now, instance: 'a'})
    const b = new PeriodRunner({store, now: () => now, instance: 'b'})
    now = at('2026-11-28T11:00:00Z')
    const [ra, rb] = await Promise.all([a.tick(), b.tick()])
    expect(ra.length + rb.length).toBe(1)
    expect(await resetRows(store)).toHaveLength(1)
    expect(await resetEvents(store)).toHaveLength(1)
    expect((await store.getLedgers('real', [SCOPE], UNIT))[0]?.spent).toBe(0)
    await store.close()
  })

  it('update: period null stops the resets; setting one mid-period does not reset at once', async () => {
    let now = at('2026-11-28T10:00:00Z')
    const store = await EmbeddedStore.open({now: () => now})
    await periodicBudget(store, now, 'hour', 10, 10)
    const ops = new BudgetOps(new AdminCore({store, now: () => now}))
    const query = new URLSearchParams({scope: SCOPE, unit: UNIT})
    expect((await ops.update(ctx, query, {period: null})).status).toBe(200)
    const runner = new PeriodRunner({store, now: () => now})
    now = at('2026-11-28T11:00:00Z')
    expect(await runner.tick()).toEqual([])
    expect((await ops.lookup(query)).body).not.toHaveProperty('period')
    const updated = await ops.update(ctx, query, {period: 'day'})
    expect(updated.body).toMatchObject({period: 'day'})
    expect((await ops.lookup(query)).body).toMatchObject({period: 'day'})
    now = at('2026-11-28T23:00:00Z')
    expect(await runner.tick()).toEqual([])
    now = at('2026-11-29T00:00:00Z')
    expect((await runner.tick()).map((r) => r.period)).toEqual(['day'])
    await store.close()
  })

  it('a daemon seeds the period from its config file and its runner resets at the boundary', async () => {
    let now = at('2026-11-28T22:30:00Z')
    const config = FIXTURE_CONFIG.replace('  - scope: tenant:acme/workspace:prod\n    unit: USD_MICROCENTS\n    allocated: 50000000\n', '  - scope: tenant:acme/workspace:prod\n    unit: USD_MICROCENTS\n    allocated: 50000000\n    period: day\n')
    expect(config).toContain('period: day')
    const d = await startTestDaemon(config, {now: () => now, periodIntervalMs: 3_600_000})
    try {
      const reserve = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: 'p1', subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'llm.completion', name: 'x'}, estimate: {unit: UNIT, amount: 2500}}, {'X-Cycles-API-Key': ACME_KEY})
      expect(reserve.status).toBe(200)
      const commit = await call(d.url, 'POST', `/v1/reservations/${reserve.body.reservation_id}/commit`, {idempotency_key: 'p1c', actual: {unit: UNIT, amount: 2500}}, {'X-Cycles-API-Key': ACME_KEY})
      expect(commit.status).toBe(200)
      expect((await d.daemon.store.getLedgers('real', [SCOPE], UNIT))[0]?.spent).toBe(2500)
      expect(await d.daemon.periods.tick()).toEqual([])
      now = at('2026-11-29T00:00:00Z')
      const resets = await d.daemon.periods.tick()
      expect(resets.map((r) => [r.scope, r.previous_spent.real])).toEqual([[SCOPE, 2500]])
      expect((await d.daemon.store.getLedgers('real', [SCOPE], UNIT))[0]?.spent).toBe(0)
      // Budgets without a period are untouched.
      expect((await d.daemon.store.getLedgers('real', ['tenant:acme'], UNIT))[0]?.spent).toBe(2500)
    } finally {
      await d.stop()
    }
  })
})
