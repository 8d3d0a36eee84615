// The detectors inside a real daemon, on a controllable clock: five minutes of normal traffic
// (steady spend, 2 % enforced denials, runs of ten attempts) raise none of them; then planted
// traffic raises each exactly once — a denial spike, a looping run, a burn-rate jump.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {CyclesEvent} from '../../src/events/event.js'
import type {TestDaemon} from '../support/daemon.js'
import {ACME, commit, eventsOf, expectSpec, reserve, startEventsDaemon} from './support.js'

const DETECTORS = `  thresholds:
    rate_window_seconds: 60
    rate_min_samples: 20
    burn_rate_window_seconds: 60
    burn_rate_baseline_windows: 3
`

let td: TestDaemon
let t = Date.parse('2026-03-02T09:00:00Z')
const tick = (ms: number) => (t += ms)
const watched = ['reservation.denial_rate_spike', 'custom.reservation.loop_detected', 'budget.burn_rate_anomaly', 'budget.threshold_crossed', 'budget.exhausted', 'api_key.auth_failure_rate_spike']
const fired = async (): Promise<CyclesEvent[]> => (await eventsOf(td)).filter((e) => watched.includes(e.event_type))

const llm = (run: string) => ({subject: {tenant: 'acme', dimensions: {run_id: run}}, action: {kind: 'llm.completion', name: 'chat'}})

/** One second of normal traffic: a reserve and its commit (10 units), every 50th second an enforced denial. */
async function normalSecond(i: number): Promise<void> {
  tick(1000)
  const r = await reserve(td, ACME, {...llm(`run-${Math.floor(i / 10)}`), estimate: {unit: 'USD_MICROCENTS', amount: 10}})
  expect(r.status, r.text).toBe(200)
  expect((await commit(td, ACME, r.body.reservation_id, 'USD_MICROCENTS', 10)).status).toBe(200)
  if (i % 50 === 0) expect((await deny()).status).toBe(409)
}

const deny = () => reserve(td, ACME, {subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'email.send', name: 'x'}, estimate: {unit: 'USD_MICROCENTS', amount: 5000}})

beforeAll(async () => {
  td = await startEventsDaemon(DETECTORS, {now: () => t})
})
afterAll(() => td?.stop())

describe('detectors on simulated traffic', () => {
  it('five minutes of normal traffic raise no alert', async () => {
    for (let i = 0; i < 300; i++) await normalSecond(i)
    expect(await fired()).toEqual([])
    expect((await eventsOf(td, {event_type: 'reservation.denied'})).length).toBe(6)
  })

  it('a burst of denials raises reservation.denial_rate_spike once', async () => {
    for (let i = 0; i < 40; i++) {
      tick(500)
      expect((await deny()).status).toBe(409)
    }
    const spikes = (await fired()).filter((e) => e.event_type === 'reservation.denial_rate_spike')
    expect(spikes).toHaveLength(1)
    expectSpec('Event', spikes[0])
    expect(spikes[0]).toMatchObject({tenant_id: 'acme', category: 'reservation'})
    expect(spikes[0].data).toMatchObject({metric: 'denial_rate', threshold_rate: 0.1, window_seconds: 60})
    expect(spikes[0].data!.current_rate as number).toBeGreaterThanOrEqual(0.1)
    expect(spikes[0].data!.sample_count as number).toBeGreaterThanOrEqual(20)
  })

  it('a run crossing the loop signature (47 attempts in 90 s) raises custom.reservation.loop_detected once', async () => {
    for (let i = 0; i < 80; i++) {
      tick(500)
      expect((await reserve(td, ACME, {...llm('looper'), estimate: {unit: 'USD_MICROCENTS', amount: 1}})).status).toBe(200)
    }
    const loops = (await fired()).filter((e) => e.event_type === 'custom.reservation.loop_detected')
    expect(loops).toHaveLength(1)
    expectSpec('Event', loops[0])
    expect(loops[0]).toMatchObject({tenant_id: 'acme', category: 'reservation', correlation_id: 'run:looper'})
    expect(loops[0].data).toMatchObject({run_id: 'looper', count: 47, window_seconds: 90})
  })

  it('spend at ten times its baseline raises budget.burn_rate_anomaly once, with the projection', async () => {
    for (let i = 0; i < 60; i++) {
      tick(1000)
      const r = await reserve(td, ACME, {...llm(`burst-${Math.floor(i / 10)}`), estimate: {unit: 'USD_MICROCENTS', amount: 100}})
      expect((await commit(td, ACME, r.body.reservation_id, 'USD_MICROCENTS', 100)).status).toBe(200)
    }
    const burns = (await fired()).filter((e) => e.event_type === 'budget.burn_rate_anomaly')
    expect(burns).toHaveLength(1)
    expectSpec('Event', burns[0])
    expect(burns[0]).toMatchObject({scope: 'tenant:acme', tenant_id: 'acme'})
    const d = burns[0].data as Record<string, number>
    expect(d.window_seconds).toBe(60)
    expect(d.multiplier).toBeGreaterThanOrEqual(3)
    expect(d.baseline_rate).toBeGreaterThan(0)
    expect(d.current_rate).toBeCloseTo(d.multiplier * d.baseline_rate, 6)
    expect(d.projected_exhaustion_minutes).toBeGreaterThan(0)
    // Nothing else fired along the way: each planted signal once, no threshold on a budget at 1 %.
    expect((await fired()).map((e) => e.event_type).sort()).toEqual(['budget.burn_rate_anomaly', 'custom.reservation.loop_detected', 'reservation.denial_rate_spike'])
  })
})
