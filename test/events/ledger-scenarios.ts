// The events read off ledger post-states (the store returns them with each applied transaction), as
// scenarios any events daemon can run: emission.test.ts on the embedded store, redis.test.ts on Redis
// (whose apply script builds the post-states from its working copies).
import {expect} from 'vitest'

import type {TestDaemon} from '../support/daemon.js'
import {ACME, GLOBEX, admin, commit, eventsOf, expectSpec, onlyEvent, release, reserve} from './support.js'

/** Debt incurred by an overdraft, over the limit entered; repaid, exited. */
export async function debtScenario(td: TestDaemon): Promise<void> {
    // globex: 100 allocated, overdraft 50, ALLOW_WITH_OVERDRAFT; 90 reserved and 170 committed = 70 of debt, over the limit.
    const r = await reserve(td, GLOBEX, {subject: {tenant: 'globex'}, action: {kind: 'llm.completion', name: 'x'}, estimate: {unit: 'CREDITS', amount: 90}, overage_policy: 'ALLOW_WITH_OVERDRAFT'})
    expect(r.status, r.text).toBe(200)
    const c = await commit(td, GLOBEX, r.body.reservation_id, 'CREDITS', 170)
    expect(c.status, c.text).toBe(200)
    const incurred = await onlyEvent(td, 'budget.debt_incurred')
    expectSpec('Event', incurred)
    expect(incurred).toMatchObject({tenant_id: 'globex', scope: 'tenant:globex', source: 'cycles-server'})
    expect(incurred.data).toMatchObject({reservation_id: r.body.reservation_id, debt_incurred: 70, total_debt: 70, overdraft_limit: 50, unit: 'CREDITS'})
    const entered = await onlyEvent(td, 'budget.over_limit_entered')
    expect(entered.data).toMatchObject({debt: 70, overdraft_limit: 50, is_over_limit: true, debt_utilization: 1.4})
    const overage = await onlyEvent(td, 'reservation.commit_overage')
    expectSpec('Event', overage)
    expect(overage.data).toMatchObject({reservation_id: r.body.reservation_id, estimated_amount: 90, actual_amount: 170, overage: 80, overage_policy: 'ALLOW_WITH_OVERDRAFT'})

    const repay = await admin(td, 'POST', '/v1/admin/budgets/fund?tenant_id=globex&scope=tenant:globex&unit=CREDITS', {operation: 'REPAY_DEBT', amount: {unit: 'CREDITS', amount: 40}})
    expect(repay.status, repay.text).toBe(200)
    expect((await onlyEvent(td, 'budget.debt_repaid')).data).toMatchObject({operation: 'REPAY_DEBT', previous_state: {debt: 70}, new_state: {debt: 30}})
    expect((await onlyEvent(td, 'budget.over_limit_exited')).data).toMatchObject({debt: 30, is_over_limit: false})
}

/** 80 %, 95 %, 100 % rising once each, exhaustion once; a release crosses them back falling. */
export async function thresholdScenario(td: TestDaemon): Promise<void> {
    const on = {subject: {tenant: 'acme', workspace: 'dev'}, action: {kind: 'llm.completion', name: 'x'}}
    const ids: string[] = []
    // 1000 TOKENS: 700 (70 %) → 850 (85 %) → 900 → 960 (96 %) → 1000 (100 %, exhausted).
    for (const amount of [700, 150, 50, 60, 40]) {
      const r = await reserve(td, ACME, {...on, estimate: {unit: 'TOKENS', amount}})
      expect(r.status, r.text).toBe(200)
      ids.push(r.body.reservation_id)
    }
    const rising = await eventsOf(td, {event_type: 'budget.threshold_crossed'})
    expect(rising.map((e) => [e.data!.threshold, e.data!.direction])).toEqual([
      [0.8, 'rising'],
      [0.95, 'rising'],
      [1, 'rising'],
    ])
    for (const e of rising) expectSpec('Event', e)
    expect(rising[0].data).toMatchObject({scope: 'tenant:acme/workspace:dev', unit: 'TOKENS', utilization: 0.85, allocated: 1000, reserved: 850, spent: 0, remaining: 150})
    expect((await onlyEvent(td, 'budget.exhausted')).data).toMatchObject({remaining: 0, utilization: 1})

    // The 700 back: 30 % — every threshold crossed back once, falling.
    expect((await release(td, ACME, ids[0])).status).toBe(200)
    const all = await eventsOf(td, {event_type: 'budget.threshold_crossed'})
    expect(all.slice(3).map((e) => [e.data!.threshold, e.data!.direction])).toEqual([
      [1, 'falling'],
      [0.95, 'falling'],
      [0.8, 'falling'],
    ])
    expect(await eventsOf(td, {event_type: 'budget.exhausted'})).toHaveLength(1)
}
