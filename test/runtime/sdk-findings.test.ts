// Protocol findings of the official SDK run (issue 12 §3), each against a real daemon: a replayed
// create of a finished reservation has no time left; shadow headers only on shadowed traffic.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ACME_KEY, type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {specErrors} from '../support/spec.js'

const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${ACME_KEY}}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 1000}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: enforce, match: ["email.*"]}
`
const auth = {'X-Cycles-API-Key': ACME_KEY}
let d: TestDaemon
let n = 0
const reserve = (kind: string, amount: number, extra: Record<string, unknown> = {}) =>
  call(d.url, 'POST', '/v1/reservations', {idempotency_key: `k${++n}`, subject: {tenant: 'acme'}, action: {kind, name: 'x'}, estimate: {unit: 'TOKENS', amount}, ...extra}, auth)

beforeAll(async () => {
  d = await startTestDaemon(CONFIG)
})
afterAll(async () => d?.stop())

describe('replaying a reservation create', () => {
  it.each([['commit', {idempotency_key: 'c', actual: {unit: 'TOKENS', amount: 5}}], ['release', {idempotency_key: 'r'}]] as const)(
    'after %s answers remaining_ttl_ms 0 (the reservation has no time left)',
    async (endpoint, body) => {
      const request = {idempotency_key: `create-${endpoint}`, subject: {tenant: 'acme'}, action: {kind: 'search.web', name: 'x'}, estimate: {unit: 'TOKENS', amount: 10}, ttl_ms: 60_000}
      const created = await call(d.url, 'POST', '/v1/reservations', request, auth)
      expect(created.status).toBe(200)
      expect(created.body.remaining_ttl_ms).toBe(60_000)
      const active = await call(d.url, 'POST', '/v1/reservations', request, auth)
      expect(active.body.reservation_id).toBe(created.body.reservation_id)
      expect(active.body.remaining_ttl_ms).toBeGreaterThan(50_000)
      expect((await call(d.url, 'POST', `/v1/reservations/${created.body.reservation_id}/${endpoint}`, body, auth)).status).toBe(200)
      const replay = await call(d.url, 'POST', '/v1/reservations', request, auth)
      expect(replay.status).toBe(200)
      expect(replay.body).toMatchObject({reservation_id: created.body.reservation_id, remaining_ttl_ms: 0, expires_at_ms: created.body.expires_at_ms})
      expect(specErrors('runtime', 'ReservationCreateResponse', replay.body)).toBeUndefined()
    },
  )
})

describe('X-Cycles-Shadow-* headers', () => {
  it('an enforced dry-run denial carries none: the answer itself is the denial', async () => {
    const res = await reserve('search.web', 5000, {dry_run: true})
    expect(res.body).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_EXCEEDED'})
    expect(res.headers.get('x-cycles-shadow-decision') ?? undefined).toBeUndefined()
    expect(res.headers.get('x-cycles-shadow-reason') ?? undefined).toBeUndefined()
  })

  it('a shadowed request that full enforcement would deny carries both', async () => {
    const dry = await reserve('llm.completion', 5000, {dry_run: true})
    expect(dry.body).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_EXCEEDED'})
    expect(dry.headers.get('x-cycles-shadow-decision')).toBe('DENY')
    expect(dry.headers.get('x-cycles-shadow-reason')).toBe('BUDGET_EXCEEDED')
    const live = await reserve('llm.completion', 5000)
    expect(live.status).toBe(200)
    expect(live.body.decision).toBe('ALLOW')
    expect(live.headers.get('x-cycles-shadow-decision')).toBe('DENY')
  })
})
