// Issue 12 §2: `--json` is a contract. Each command's JSON output, produced by the built CLI against a
// real daemon (embedded store) and real DuckDB files, is reduced to its JSON Schema (keys and types,
// see test/support/json-shape.ts) and compared with the checked-in schema in test/cli/json-schemas/.
// Renaming, dropping or retyping a key fails here; a deliberate change is recorded with
// `npx vitest run test/cli/json-contract.test.ts -u` and reviewed. The commands run in this process
// through oclif (the same built command classes bin/run.js loads), so the suite stays fast.
import fs from 'node:fs'
import path from 'node:path'

import {Config} from '@oclif/core'
import {Ajv2020} from 'ajv/dist/2020.js'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {assertBuilt} from '../admin/cli.js'
import {approvalGate} from '../../src/approvals/gate.js'
import {ACME_KEY, ADMIN_CONFIG, ADMIN_KEY} from '../admin/support.js'
import {type TestDaemon, call, startTestDaemon, tempDir} from '../support/daemon.js'
import {shapeOf} from '../support/json-shape.js'
import {PROJECT_ROOT} from '../support/spec.js'

let d: TestDaemon
let dir: string
let config: Config
let configFile: string
let db: string
let reservationId: string
let eventId: string
let webhookId: string
let approvalId: string

/** Run one command in this process with --json and the daemon's addresses; its stdout parsed, and its exit code. */
async function runJson(id: string, argv: string[]): Promise<{json: unknown; exit: number}> {
  const flags = config.findCommand(id)!.flags
  const wiring = [
    ...('admin-url' in flags ? ['--admin-url', d.daemon.adminUrl, '--admin-key', ADMIN_KEY] : []),
    ...('url' in flags ? ['--url', d.url] : []),
    ...('api-key' in flags ? ['--api-key', ACME_KEY] : []),
  ]
  let out = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString()
    return true
  }) as typeof process.stdout.write
  let exit = 0
  try {
    await config.runCommand(id, [...argv, ...wiring, '--json'])
  } catch (error) {
    exit = (error as {oclif?: {exit?: number}}).oclif?.exit ?? 1
  } finally {
    process.stdout.write = write
    process.exitCode = undefined
  }
  return {json: JSON.parse(out), exit}
}

beforeAll(async () => {
  assertBuilt()
  dir = tempDir('cycles-json-contract-')
  d = await startTestDaemon(ADMIN_CONFIG, {adminPort: 0, webhookSecretKey: Buffer.alloc(32, 1), webhooks: {manual: true}}, dir)
  configFile = path.join(dir, 'cycles.yaml')
  fs.writeFileSync(configFile, ADMIN_CONFIG)
  db = path.join(dir, 'shadow.duckdb')
  config = await Config.load(PROJECT_ROOT)
  // Traffic: a committed reservation, a live one, a would-be denial.
  const reserve = (key: string, amount: number) =>
    call(d.url, 'POST', '/v1/reservations', {idempotency_key: key, subject: {tenant: 'acme', workspace: 'prod', agent: 'summarizer', dimensions: {run_id: 'run-1'}}, action: {kind: 'llm.chat', name: 'gpt'}, estimate: {unit: 'USD_MICROCENTS', amount}}, {'X-Cycles-API-Key': ACME_KEY})
  const first = await reserve('json-1', 1_000_000)
  expect(first.status).toBe(200)
  expect((await call(d.url, 'POST', `/v1/reservations/${first.body.reservation_id}/commit`, {idempotency_key: 'json-1c', actual: {unit: 'USD_MICROCENTS', amount: 900_000}}, {'X-Cycles-API-Key': ACME_KEY})).status).toBe(200)
  const live = await reserve('json-2', 500_000)
  reservationId = live.body.reservation_id
  expect((await reserve('json-3', 90_000_000)).body.decision).toBe('ALLOW') // shadow: would be denied
  await d.daemon.decisions.flushed()
  await d.daemon.events.writer!.flush()
  eventId = (await call(d.daemon.adminUrl, 'GET', '/v1/admin/events?limit=1&event_type=reservation.observed_denied', undefined, {'X-Admin-API-Key': ADMIN_KEY})).body.events[0].event_id
  // A system-wide webhook (its audit row is not acme's) on a loopback URL answering 404 (the daemon's own runtime plane); local development opts in.
  const adminCall = (method: string, p: string, body?: unknown) => call(d.daemon.adminUrl, method, p, body, {'X-Admin-API-Key': ADMIN_KEY})
  expect((await adminCall('PUT', '/v1/admin/config/webhook-security', {allow_http: true, blocked_cidr_ranges: []})).status).toBe(200)
  webhookId = (await adminCall('POST', '/v1/admin/webhooks', {url: `${d.url}/hook`, event_types: ['reservation.denied']})).body.subscription.subscription_id
  // An approval request (what a policy requiring approval queues), for approvals list | show.
  const queued = await approvalGate(d.daemon.store, {tenant: 'acme', subject: 'tenant:acme/workspace:prod', action_kind: 'payment.charge', estimate: {unit: 'USD_MICROCENTS', amount: 5000}, nowMs: Date.now()})
  if (queued.admitted) throw new Error('expected the approval gate to queue a request')
  approvalId = queued.request_id
}, 120_000)

afterAll(async () => {
  await d?.stop()
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
})

// In order: later commands read what earlier ones wrote (the credit's audit row, the ingested database).
const COMMANDS: Array<{name: string; id: string; argv: () => string[]; exit?: number}> = [
  {name: 'tenant-list', id: 'tenant:list', argv: () => []},
  {name: 'tenant-show', id: 'tenant:show', argv: () => ['acme']},
  {name: 'budget-credit', id: 'budget:credit', argv: () => ['--scope', 'tenant:acme', '--unit', 'TOKENS', '--amount', '100', '--reason', 'json contract', '--idempotency-key', 'json-contract-credit']},
  {name: 'budget-list', id: 'budget:list', argv: () => ['--tenant', 'acme']},
  {name: 'budget-show', id: 'budget:show', argv: () => ['--scope', 'tenant:acme', '--unit', 'USD_MICROCENTS']},
  {name: 'api-key-list', id: 'api-key:list', argv: () => ['--tenant', 'acme']},
  {name: 'audit-list', id: 'audit:list', argv: () => ['--tenant', 'acme']},
  {name: 'reservation-list', id: 'reservation:list', argv: () => ['--tenant', 'acme']},
  {name: 'reservation-show', id: 'reservation:show', argv: () => [reservationId]},
  {name: 'overview', id: 'overview', argv: () => []},
  {name: 'events-list', id: 'events:list', argv: () => ['--tenant', 'acme', '--category', 'reservation']},
  {name: 'events-show', id: 'events:show', argv: () => [eventId]},
  {name: 'killswitch-status', id: 'killswitch:status', argv: () => []},
  {name: 'rollout-status', id: 'rollout:status', argv: () => []},
  {name: 'daemon-status', id: 'daemon:status', argv: () => []},
  {name: 'config-validate', id: 'config:validate', argv: () => ['--config', configFile]},
  {name: 'config-diff', id: 'config:diff', argv: () => ['--config', configFile]},
  {name: 'shadow-ingest', id: 'shadow:ingest', argv: () => [d.logDir, '--db', db]},
  {name: 'shadow-report', id: 'shadow:report', argv: () => ['--db', db]},
  {name: 'shadow-loops', id: 'shadow:loops', argv: () => ['--db', db]},
  {name: 'calibrate', id: 'calibrate', argv: () => ['--db', db, '--config', configFile]},
  {name: 'webhook-create', id: 'webhook:create', argv: () => ['--tenant', 'acme', '--endpoint', `${d.url}/hook2`, '--events', 'budget.exhausted']},
  {name: 'webhook-list', id: 'webhook:list', argv: () => ['--tenant', 'acme']},
  {name: 'webhook-test', id: 'webhook:test', argv: () => [webhookId]}, // a failed test sets exit code 8 (process.exitCode, which this harness resets)
  {name: 'webhook-show', id: 'webhook:show', argv: () => [webhookId]},
  {name: 'webhook-deliveries', id: 'webhook:deliveries', argv: () => [webhookId]},
  {name: 'webhook-replay', id: 'webhook:replay', argv: () => [webhookId, '--since', '1h', '--yes']},
  {name: 'webhook-pause', id: 'webhook:pause', argv: () => [webhookId, '--yes']},
  {name: 'approvals-list', id: 'approvals:list', argv: () => ['--tenant', 'acme']},
  {name: 'approvals-show', id: 'approvals:show', argv: () => [approvalId]},
  {name: 'audit-verify', id: 'audit:verify', argv: () => ['--log-dir', d.logDir]},
  {name: 'error-not-found', id: 'budget:show', argv: () => ['--scope', 'tenant:nobody', '--unit', 'TOKENS'], exit: 5},
]

describe('--json outputs match their checked-in JSON Schemas', () => {
  for (const c of COMMANDS) {
    it(`${c.id.replaceAll(':', ' ')} (${c.name})`, async () => {
      const {json, exit} = await runJson(c.id, c.argv())
      expect(exit, JSON.stringify(json)).toBe(c.exit ?? 0)
      const schema = shapeOf(json)
      await expect(`${JSON.stringify({$schema: 'https://json-schema.org/draft/2020-12/schema', title: `cycles ${c.id.replaceAll(':', ' ')} --json`, ...schema}, null, 2)}\n`).toMatchFileSnapshot(`./json-schemas/${c.name}.schema.json`)
      // The checked-in schema is a real JSON Schema that the output validates against (on a first,
      // local run the file is only being written; in CI a missing file fails the assertion above).
      const file = path.join(import.meta.dirname, 'json-schemas', `${c.name}.schema.json`)
      if (fs.existsSync(file)) {
        const validate = new Ajv2020({strict: false}).compile(JSON.parse(fs.readFileSync(file, 'utf8')))
        expect(validate(json), JSON.stringify(validate.errors)).toBe(true)
      }
    })
  }
})
