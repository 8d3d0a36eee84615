// `cycles events`: the tail loop against a real daemon (each event once, oldest first, across polls
// and pages), the one-line rendering, and the built CLI's list / show / tail end to end.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AdminClient} from '../../src/client/admin-client.js'
import {HttpClient} from '../../src/client/http.js'
import {eventLine, eventQuery, tailEvents} from '../../src/events/cli.js'
import type {CyclesEvent} from '../../src/events/event.js'
import {assertBuilt, cli} from '../admin/cli.js'
import type {TestDaemon} from '../support/daemon.js'
import {ADMIN_KEY, admin, eventsOf, startEventsDaemon} from './support.js'

let td: TestDaemon
let client: AdminClient
const createBudget = (i: number) => admin(td, 'POST', '/v1/admin/budgets', {tenant_id: 'acme', scope: `tenant:acme/agent:a${i}`, unit: 'TOKENS', allocated: {unit: 'TOKENS', amount: 10}})

beforeAll(async () => {
  td = await startEventsDaemon()
  client = new AdminClient(new HttpClient({baseUrl: td.daemon.adminUrl, headers: {'X-Admin-API-Key': ADMIN_KEY}, timeoutMs: 10_000, label: 'admin API', urlHint: ''}))
})
afterAll(() => td?.stop())

describe('tailEvents', () => {
  it('shows every new event once, oldest first, across polls and pages, and only those after its start', async () => {
    await createBudget(0) // before the tail starts: not shown
    await td.daemon.events.writer!.flush()
    const before = await eventsOf(td)
    const shown: CyclesEvent[] = []
    let polls = 0
    const start = Date.parse(before.at(-1)!.timestamp) + 1
    await tailEvents({
      admin: client,
      query: {...eventQuery({tenant: 'acme'}), from: new Date(start).toISOString()},
      intervalMs: 0,
      onEvent: (e) => shown.push(e),
      // Between polls: 150 new events (more than one page), then 1, then nothing.
      sleep: async () => {
        polls++
        const n = polls === 1 ? 150 : polls === 2 ? 1 : 0
        for (let i = 0; i < n; i++) await createBudget(polls * 1000 + i)
        await td.daemon.events.writer!.flush()
      },
      stopped: () => polls >= 4,
    })
    const expected = (await eventsOf(td)).filter((e) => !before.some((b) => b.event_id === e.event_id))
    expect(expected).toHaveLength(151)
    expect(shown.map((e) => e.event_id)).toEqual(expected.map((e) => e.event_id))
  })

  it('one event is one line: time, type, tenant, scope, key figures, id', () => {
    const line = eventLine({
      event_id: 'evt_x',
      event_type: 'budget.threshold_crossed',
      category: 'budget',
      timestamp: '2026-03-02T09:00:00.000Z',
      tenant_id: 'acme',
      scope: 'tenant:acme',
      source: 'cycles-server',
      data: {threshold: 0.8, direction: 'rising', utilization: 0.8123456, allocated: 10},
    })
    expect(line.replace(/\x1b\[[0-9;]*m/g, '')).toBe('2026-03-02T09:00:00.000Z  budget.threshold_crossed  acme  tenant:acme  threshold=0.8 direction=rising utilization=0.8123  evt_x')
    expect(line).not.toContain('\n')
  })
})

describe('the built CLI', () => {
  const env = () => ({CYCLES_ADMIN_URL: td.daemon.adminUrl, CYCLES_ADMIN_API_KEY: ADMIN_KEY})

  it('events list --json, events show and tail --json (one JSON object per line)', async () => {
    assertBuilt()
    await createBudget(9)
    await td.daemon.events.writer!.flush()
    const list = await cli(['events', 'list', '--scope', 'tenant:acme/agent:a9', '--json'], env())
    expect(list.code, list.stderr).toBe(0)
    expect(list.json.events.map((e: CyclesEvent) => [e.event_type, e.scope])).toEqual([['budget.created', 'tenant:acme/agent:a9']])
    const id = list.json.events[0].event_id
    const show = await cli(['events', 'show', id], env())
    expect(show.code, show.stderr).toBe(0)
    expect(show.stdout).toContain(`event_id       ${id}`)
    expect(show.stdout).toContain('"operation": "CREATE"')
    const missing = await cli(['events', 'show', 'evt_missing', '--json'], env())
    expect(missing.code).toBe(5)
    expect(missing.json.error.code).toBe('EVENT_NOT_FOUND')
    const tail = await cli(['events', 'tail', '--since', '1h', '--scope', 'tenant:acme/agent:a9', '--duration', '1', '--interval', '1', '--json'], env())
    expect(tail.code, tail.stderr).toBe(0)
    const lines = tail.stdout.trim().split('\n')
    expect(lines.map((l) => JSON.parse(l).event_id)).toEqual([id])
  })
})
