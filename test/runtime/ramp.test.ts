// The enforcement ramp on a real daemon (README "The enforcement ramp"): with low at enforce 10 %,
// exactly the runs whose documented hash bucket is below 10 are enforced, every request of a run gets
// the same mode, commits follow the reservation's stored mode, every record carries the mode and the
// tier's percent; the kill switch still forces shadow; the control endpoint refuses bad percents.
import {createHash} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const ADMIN = 'admin_key_for_tests_0123456789'
const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
admin_key: ${ADMIN}
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 100000000}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: enforce, match: ["email.*"]}
`
const auth = {'X-Cycles-API-Key': KEY}

/** The README's rule, computed independently: SHA-256("<tenant>\n<run id>"), first 4 bytes, mod 100. */
const bucket = (id: string) => parseInt(createHash('sha256').update(`acme\n${id}`).digest('hex').slice(0, 8), 16) % 100

let d: TestDaemon
let n = 0
const admin = (method: string, p: string, body?: unknown) => call(d.daemon.adminUrl, method, p, body, {'X-Admin-API-Key': ADMIN})
const setLow = (body: Record<string, unknown>) => admin('PUT', '/v1/admin/control/tiers/low', {reason: 'ramp test', ...body})
const subject = (run?: string, workflow = 'wf') => ({tenant: 'acme', workflow, ...(run ? {dimensions: {run_id: run}} : {})})
const reserve = (run: string | undefined, extra: Record<string, unknown> = {}, workflow?: string) =>
  call(d.url, 'POST', '/v1/reservations', {idempotency_key: `rp-${++n}`, subject: subject(run, workflow), action: {kind: 'search.web', name: 'x'}, estimate: {unit: 'TOKENS', amount: 5}, ...extra}, auth)
const commit = (id: string) => call(d.url, 'POST', `/v1/reservations/${id}/commit`, {idempotency_key: `rc-${++n}`, actual: {unit: 'TOKENS', amount: 4}}, auth)
const recordOf = (res: {headers: Headers}) => d.records().find((r) => r.request_id === res.headers.get('x-request-id'))!

beforeAll(async () => {
  d = await startTestDaemon(CONFIG, {adminPort: 0})
})
afterAll(async () => d?.stop())

describe('the enforcement ramp on one daemon', () => {
  it('at 10 % enforces exactly the runs the documented hash picks, each run whole: reserve, commit and decide alike', async () => {
    expect((await setLow({mode: 'enforce', enforce_percent: 10})).status).toBe(200)
    const runs = Array.from({length: 150}, (_, i) => `r-${i}`)
    const requestIds = new Map<string, string[]>()
    for (const run of runs) {
      const r = await reserve(run)
      expect(r.status, r.text).toBe(200)
      const c = await commit(r.body.reservation_id)
      const dec = await call(d.url, 'POST', '/v1/decide', {idempotency_key: `rd-${++n}`, subject: subject(run, 'other'), action: {kind: 'search.web', name: 'x'}, estimate: {unit: 'TOKENS', amount: 1}}, auth)
      requestIds.set(run, [r, c, dec].map((x) => x.headers.get('x-request-id')!))
    }
    const byRequest = new Map(d.records().map((x) => [x.request_id, x]))
    const modes = new Map<string, Set<unknown>>()
    const percents = new Set<unknown>()
    for (const [run, ids] of requestIds) {
      const records = ids.map((id) => byRequest.get(id)!)
      expect(records.map((x) => x.endpoint)).toEqual(['reserve', 'commit', 'decide'])
      modes.set(run, new Set(records.map((x) => x.mode)))
      for (const x of records) percents.add(x.enforce_percent)
    }
    expect([...modes.values()].every((m) => m.size === 1)).toBe(true)
    const enforced = runs.filter((run) => modes.get(run)!.has('enforce'))
    expect(enforced).toEqual(runs.filter((run) => bucket(run) < 10))
    expect(enforced.length).toBeGreaterThan(0)
    expect([...percents]).toEqual([10])
  })

  it('without a run id the subject decides', async () => {
    const flows = Array.from({length: 60}, (_, i) => `flow${i}`)
    const enforced: string[] = []
    for (const wf of flows) {
      const res = await reserve(undefined, {dry_run: true}, wf)
      if (recordOf(res).mode === 'enforce') enforced.push(wf)
    }
    expect(enforced).toEqual(flows.filter((wf) => bucket(`subject:tenant:acme/workflow:${wf}`) < 10))
  })

  it('commit follows the mode the reservation got, whatever the percent is now', async () => {
    const shadowed = Array.from({length: 100}, (_, i) => `s-${i}`).find((run) => bucket(run) >= 10)!
    const r = await reserve(shadowed)
    expect(recordOf(r)).toMatchObject({mode: 'shadow', enforce_percent: 10})
    expect((await setLow({mode: 'enforce', enforce_percent: 100})).status).toBe(200)
    const c = await commit(r.body.reservation_id)
    expect(c.status).toBe(200)
    expect(recordOf(c)).toMatchObject({endpoint: 'commit', mode: 'shadow', enforce_percent: 10})
    // The same run's next reservation is enforced now (100 %).
    expect(recordOf(await reserve(shadowed))).toMatchObject({mode: 'enforce', enforce_percent: 100})
  })

  it('0 % shadows every run of an enforce tier; the kill switch shadows them at 100 %', async () => {
    expect((await setLow({mode: 'enforce', enforce_percent: 0})).status).toBe(200)
    for (const run of ['a', 'b', 'c', 'd']) expect(recordOf(await reserve(run, {dry_run: true}))).toMatchObject({mode: 'shadow', enforce_percent: 0})
    expect((await setLow({mode: 'enforce', enforce_percent: 100})).status).toBe(200)
    expect((await admin('POST', '/v1/admin/killswitch/engage', {reason: 'ramp test'})).status).toBe(200)
    for (const run of ['a', 'b']) expect(recordOf(await reserve(run, {dry_run: true}))).toMatchObject({mode: 'shadow', enforce_percent: 100})
    expect((await admin('POST', '/v1/admin/killswitch/release', {reason: 'ramp test'})).status).toBe(200)
    expect(recordOf(await reserve('a', {dry_run: true}))).toMatchObject({mode: 'enforce', enforce_percent: 100})
  })

  it('the control endpoint refuses enforce_percent 101, -1 and 1.5 with 400 and the error envelope', async () => {
    for (const bad of [101, -1, 1.5, '50']) {
      const res = await setLow({mode: 'enforce', enforce_percent: bad})
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({error: 'INVALID_REQUEST', message: expect.stringContaining('enforce_percent')})
      expect(typeof res.body.request_id).toBe('string')
    }
    expect((await admin('GET', '/v1/admin/control')).body.enforce_percent.low).toBe(100)
  })
})
