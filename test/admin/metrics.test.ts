// Issue 12 §2: a Prometheus /metrics endpoint on the admin plane (decisions by outcome, tier and mode,
// a latency histogram, store health, log and journal figures), `daemon status` not counting its own
// probes, and a structured log line for every control change. A real daemon on a socket.
import {randomUUID} from 'node:crypto'
import fs from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon, tempDir} from '../support/daemon.js'

const ADMIN = 'admin_key_for_metrics_tests_0123456789'
const KEY = 'cyc_metrics_acme_0123456789abcdef'
const CONFIG = `
tenants:
  - id: acme
api_keys:
  - tenant: acme
    secret: ${KEY}
budgets:
  - scope: tenant:acme/workspace:search
    unit: USD_MICROCENTS
    allocated: 1000
tiers:
  low:    { mode: shadow, match: ["search.*"] }
  medium: { mode: enforce, match: ["llm.*"] }
  high:   { mode: shadow, match: ["email.*"] }
admin_key: ${ADMIN}
`

let d: TestDaemon
let dir: string
const logLines: string[] = []

const reserve = (kind: string, amount: number) =>
  call(
    d.url,
    'POST',
    '/v1/reservations',
    {idempotency_key: randomUUID(), subject: {tenant: 'acme', workspace: 'search'}, action: {kind, name: 'q'}, estimate: {unit: 'USD_MICROCENTS', amount}},
    {'X-Cycles-API-Key': KEY},
  )
const scrape = async (headers: Record<string, string> = {'X-Admin-API-Key': ADMIN}) => {
  const res = await fetch(`${d.daemon.adminUrl}/metrics`, {headers})
  return {status: res.status, contentType: res.headers.get('content-type'), text: await res.text()}
}
/** The value of one sample line, found by its exact name and labels (in prom-client's label order). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

beforeAll(async () => {
  dir = tempDir('cycles-metrics-')
  d = await startTestDaemon(CONFIG, {adminPort: 0, log: (line) => logLines.push(line)}, dir)
})

afterAll(async () => {
  await d?.stop()
  fs.rmSync(dir, {recursive: true, force: true})
})

describe('GET /metrics on the admin plane', () => {
  it('counts decisions by endpoint, decision, tier and mode, and would-be denials, from the requests answered', async () => {
    // low (shadow): 3 fit, then 2 over the 1000 budget are allowed but would be denied.
    for (let i = 0; i < 3; i++) expect((await reserve('search.web', 300)).status).toBe(200)
    for (let i = 0; i < 2; i++) expect((await reserve('search.web', 300)).body.decision).toBe('ALLOW')
    // medium (enforce) on the same, now exhausted, budget: denied for real.
    expect((await reserve('llm.chat', 300)).status).toBe(409)
    const m = await scrape()
    expect(m.status).toBe(200)
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(sample(m.text, 'cycles_decisions_total{endpoint="reserve",decision="ALLOW",tier="low",mode="shadow"}')).toBe(5)
    expect(sample(m.text, 'cycles_would_denials_total{endpoint="reserve",tier="low",mode="shadow"}')).toBe(2)
    expect(sample(m.text, 'cycles_decisions_total{endpoint="reserve",decision="DENY",tier="medium",mode="enforce"}')).toBe(1)
    expect(sample(m.text, 'cycles_would_denials_total{endpoint="reserve",tier="medium",mode="enforce"}')).toBe(1)
    // One latency observation per decision record.
    expect(sample(m.text, 'cycles_request_duration_seconds_count{endpoint="reserve"}')).toBe(6)
    expect(sample(m.text, 'cycles_request_duration_seconds_bucket{le="+Inf",endpoint="reserve"}')).toBe(6)
    expect(sample(m.text, 'cycles_store_up')).toBe(1)
    expect(sample(m.text, 'cycles_tier_enforced{tier="low"}')).toBe(0)
    expect(sample(m.text, 'cycles_tier_enforced{tier="medium"}')).toBe(1)
    expect(sample(m.text, 'cycles_tier_enforce_percent{tier="medium"}')).toBe(100)
    expect(sample(m.text, 'cycles_killswitch_engaged')).toBe(0)
    expect(sample(m.text, 'cycles_decision_log_writable')).toBe(1)
    expect(sample(m.text, 'cycles_decision_log_records_dropped')).toBe(0)
    expect(sample(m.text, 'cycles_decision_log_records_written')).toBe(6)
    expect(sample(m.text, 'cycles_state_journal_unwritten_bytes')).toBe(0)
    expect(sample(m.text, 'cycles_requests_shed{reason="in_flight"}')).toBe(0)
  })

  it('takes the admin key as X-Admin-API-Key or as a bearer token; refuses none or a wrong one with the error envelope', async () => {
    expect((await scrape({Authorization: `Bearer ${ADMIN}`})).status).toBe(200)
    const none = await scrape({})
    expect(none.status).toBe(401)
    expect(JSON.parse(none.text)).toMatchObject({error: 'UNAUTHORIZED'})
    const wrong = await scrape({Authorization: 'Bearer not-the-key'})
    expect(wrong.status).toBe(401)
    expect(JSON.parse(wrong.text)).toMatchObject({error: 'UNAUTHORIZED', message: 'Invalid admin API key'})
  })

  it('follows the kill switch and the tier modes at scrape time', async () => {
    const engage = await call(d.daemon.adminUrl, 'POST', '/v1/admin/killswitch/engage', {reason: 'metrics test'}, {'X-Admin-API-Key': ADMIN})
    expect(engage.status).toBe(200)
    const m = await scrape()
    expect(sample(m.text, 'cycles_killswitch_engaged')).toBe(1)
    expect(sample(m.text, 'cycles_tier_enforced{tier="medium"}')).toBe(0)
    expect((await call(d.daemon.adminUrl, 'POST', '/v1/admin/killswitch/release', {reason: 'metrics test done'}, {'X-Admin-API-Key': ADMIN})).status).toBe(200)
    expect(sample((await scrape()).text, 'cycles_tier_enforced{tier="medium"}')).toBe(1)
  })
})

describe('the daemon log and status', () => {
  it('logs one structured line per control change, with the fields that changed', async () => {
    logLines.length = 0
    const set = await call(d.daemon.adminUrl, 'PUT', '/v1/admin/control/tiers/low', {mode: 'enforce', enforce_percent: 25, reason: 'metrics test'}, {'X-Admin-API-Key': ADMIN})
    expect(set.status, set.text).toBe(200)
    const lines = logLines.filter((l) => l.startsWith('control.changed '))
    expect(lines).toHaveLength(1)
    const parsed = JSON.parse(lines[0].slice('control.changed '.length))
    expect(parsed.changes).toEqual([
      {field: 'tiers.low', from: 'shadow', to: 'enforce'},
      {field: 'enforce_percent.low', from: 100, to: 25},
    ])
    expect(parsed.version).toBe(d.daemon.control.version)
    // Setting the same again changes nothing visible: no line.
    logLines.length = 0
    expect((await call(d.daemon.adminUrl, 'PUT', '/v1/admin/control/tiers/low', {mode: 'enforce', enforce_percent: 25, reason: 'again'}, {'X-Admin-API-Key': ADMIN})).status).toBe(200)
    expect(logLines.filter((l) => l.startsWith('control.changed '))).toEqual([])
  })

  it('`daemon status` probes are not counted as requests', async () => {
    const first = (await call(d.url, 'GET', '/actuator/cycles/status')).body.requests
    for (let i = 0; i < 3; i++) {
      expect((await call(d.url, 'GET', '/actuator/health/readiness')).status).toBe(200)
      expect((await call(d.url, 'GET', '/actuator/cycles/status')).status).toBe(200)
    }
    expect((await call(d.url, 'GET', '/actuator/cycles/status')).body.requests).toBe(first)
    expect((await reserve('search.web', 1)).status).toBe(200)
    expect((await call(d.url, 'GET', '/actuator/cycles/status')).body.requests).toBe(first + 1)
  })
})
