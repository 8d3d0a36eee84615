import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ACME_KEY, FIXTURE_CONFIG, type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {sdkStrictErrors, specErrors} from '../support/spec.js'

describe('daemon smoke', () => {
  let d: TestDaemon
  beforeAll(async () => {
    d = await startTestDaemon(FIXTURE_CONFIG)
  })
  afterAll(async () => d.stop())

  it('answers readiness and a dry-run that validates against the official spec', async () => {
    expect((await call(d.url, 'GET', '/actuator/health/readiness')).status).toBe(200)
    const res = await call(d.url, 'POST', '/v1/reservations', {
      idempotency_key: 'smoke-1',
      subject: {tenant: 'acme', workspace: 'prod'},
      action: {kind: 'llm.completion', name: 'gpt'},
      estimate: {unit: 'USD_MICROCENTS', amount: 1000},
      dry_run: true,
    }, {'X-Cycles-API-Key': ACME_KEY})
    expect(res.status).toBe(200)
    expect(specErrors('runtime', 'ReservationCreateResponse', res.body)).toBeUndefined()
    expect(sdkStrictErrors(res.body)).toEqual([])
    expect(res.body.decision).toBe('ALLOW')
    expect(res.body.reservation_id).toBeUndefined()
  })
})
