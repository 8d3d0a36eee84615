// A lone UTF-16 surrogate ("\ud800" in a JSON string) is not Unicode text: the daemon must refuse it
// with 400 INVALID_REQUEST and the error envelope, on every string field of every runtime request,
// instead of accepting it and writing a decision record the analyzer then has to quarantine.
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {ACME_KEY, FIXTURE_CONFIG, type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

const LONE_HIGH = 'x\ud800y'
const LONE_LOW = '\udc00'
const auth = {'X-Cycles-API-Key': ACME_KEY}

let d: TestDaemon
let reservationId: string
beforeAll(async () => {
  d = await startTestDaemon(FIXTURE_CONFIG)
  const res = await call(d.url, 'POST', '/v1/reservations', {
    idempotency_key: 'surrogate-setup',
    subject: {tenant: 'acme', workspace: 'prod'},
    action: {kind: 'llm.completion', name: 'gpt'},
    estimate: {unit: 'USD_MICROCENTS', amount: 1000},
  }, auth)
  expect(res.status).toBe(200)
  reservationId = res.body.reservation_id
})
afterAll(async () => d?.stop())

const subject = {tenant: 'acme', workspace: 'prod'}
const action = {kind: 'llm.completion', name: 'gpt'}
const reserve = {idempotency_key: 'k', subject, action, estimate: {unit: 'USD_MICROCENTS', amount: 10}}
const event = {idempotency_key: 'k', subject, action, actual: {unit: 'USD_MICROCENTS', amount: 10}}

/** Set `value` at a dotted path (creating objects on the way); `{key}` in the last segment makes it a key. */
function withValue(body: object, dotted: string, value: string): Record<string, unknown> {
  const copy = structuredClone(body) as Record<string, any>
  const parts = dotted.split('.')
  let at = copy
  for (const p of parts.slice(0, -1)) at = at[p] ??= /^\d+$/.test(p) ? [] : {}
  const last = parts.at(-1)!
  if (last === '{key}') at[value] = 'v'
  else at[last] = value
  return copy
}

interface Case {
  name: string
  path: () => string
  body: object
  field: string
  /** The field path the error message names. */
  names: string
}

const cases: Case[] = []
const add = (name: string, p: () => string, body: object, fields: string[]) => {
  for (const field of fields) cases.push({name, path: p, body, field, names: field.replace('.{key}', '')})
}
const common = ['idempotency_key', 'subject.workspace', 'subject.app', 'subject.workflow', 'subject.agent', 'subject.toolset', 'subject.dimensions.team', 'subject.dimensions.{key}',
  'action.kind', 'action.name', 'action.tags.0', 'metadata.note', 'metadata.nested.deeper', 'metadata.{key}']
add('reserve', () => '/v1/reservations', reserve, ['subject.tenant', ...common])
add('decide', () => '/v1/decide', reserve, ['subject.tenant', ...common])
add('event', () => '/v1/events', event, ['subject.tenant', ...common, 'metrics.model_version', 'metrics.custom.label', 'metrics.custom.{key}'])
add('commit', () => `/v1/reservations/${reservationId}/commit`, {idempotency_key: 'k', actual: {unit: 'USD_MICROCENTS', amount: 5}},
  ['idempotency_key', 'metrics.model_version', 'metrics.custom.label', 'metadata.note', 'metadata.{key}'])
add('release', () => `/v1/reservations/${reservationId}/release`, {idempotency_key: 'k'}, ['idempotency_key', 'reason'])
add('extend', () => `/v1/reservations/${reservationId}/extend`, {idempotency_key: 'k', extend_by_ms: 1000}, ['idempotency_key', 'metadata.note', 'metadata.{key}'])

describe('lone UTF-16 surrogates in runtime requests', () => {
  it.each(cases)('$name: $field → 400 INVALID_REQUEST naming the field', async ({path: p, body, field, names}) => {
    for (const bad of [LONE_HIGH, LONE_LOW]) {
      // JSON.stringify writes a lone surrogate as the escape \udXXX, exactly what a client sends
      const text = JSON.stringify(withValue(body, field, bad))
      expect(text).toMatch(/\\ud[89a-f][0-9a-f]{2}/)
      const res = await call(d.url, 'POST', p(), text, auth)
      expect(res.status).toBe(400)
      expect(Object.keys(res.body).sort()).toEqual(['error', 'message', 'request_id', 'trace_id'])
      expect(res.body.error).toBe('INVALID_REQUEST')
      expect(res.body.message).toContain(`${names}: contains a lone UTF-16 surrogate`)
      expect(res.body.request_id).toMatch(/\S/)
    }
  })

  it('accepts well-formed surrogate pairs, and the record they produce ingests cleanly', async () => {
    const emoji = 'summarize 📄 → ✅'
    const res = await call(d.url, 'POST', '/v1/decide', withValue(withValue(reserve, 'action.name', emoji), 'idempotency_key', 'pair-😀'), auth)
    expect(res.status).toBe(200)
    const records = await waitForRecords(d, (r) => (r.action as {name?: string} | undefined)?.name === emoji)
    expect(records.length).toBe(1)
    const db = await openShadowDb(path.join(d.dir, 'shadow.duckdb'), {create: true, threads: 1, memoryLimit: '256MB'})
    try {
      const result = await ingest(db, [d.logDir])
      expect(result.malformed).toBe(0)
      const rows = await db.all<{n: number}>('SELECT count(*)::DOUBLE AS n FROM records WHERE action_name = $1', [emoji])
      expect(rows[0].n).toBe(1)
    } finally {
      db.close()
    }
  })
})

async function waitForRecords(t: TestDaemon, match: (r: Record<string, unknown>) => boolean): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 100; i++) {
    const found = t.records().filter(match)
    if (found.length > 0) return found
    await new Promise((r) => setTimeout(r, 20))
  }
  return []
}
