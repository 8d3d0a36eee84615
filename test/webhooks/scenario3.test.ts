// Scenario 3 of the operator story, end to end with the built CLI against a daemon delivering on its
// own timers (real clock): the compliance sink stops answering, the subscription is disabled, the
// operator finds it (`cycles overview`, `cycles webhook deliveries`), tests it, points it at the
// fixed sink, rotates the secret, re-enables it and replays the window, and the sink receives every
// missed event exactly once, signed with the new secret. Events are written into the `events`
// collection as the daemon's event writer does.
import {spawnSync} from 'node:child_process'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ADMIN_CONFIG, ADMIN_KEY} from '../admin/support.js'
import {assertBuilt, cli} from '../admin/cli.js'
import {type TestDaemon, startTestDaemon, tempDir} from '../support/daemon.js'
import {BIN} from '../support/process.js'
import {PROJECT_ROOT} from '../support/spec.js'
import {type Receiver, SECRET_KEY, emit, startReceiver} from './support.js'

let d: TestDaemon
let env: Record<string, string>
const receivers: Receiver[] = []

beforeAll(async () => {
  assertBuilt()
  d = await startTestDaemon(ADMIN_CONFIG, {adminPort: 0, webhookSecretKey: SECRET_KEY, webhooks: {settleMs: 50, pollMs: 50, sendTimeoutMs: 2000}}, tempDir('cycles-scenario3-'))
  env = {CYCLES_ADMIN_API_KEY: ADMIN_KEY, CYCLES_ADMIN_URL: d.daemon.adminUrl}
  // Local development: the sinks listen on 127.0.0.1 over http, which the defaults block.
  const put = await fetch(`${d.daemon.adminUrl}/v1/admin/config/webhook-security`, {method: 'PUT', headers: {'X-Admin-API-Key': ADMIN_KEY, 'Content-Type': 'application/json'}, body: JSON.stringify({allow_http: true, blocked_cidr_ranges: []})})
  expect(put.status).toBe(200)
}, 60_000)

afterAll(async () => {
  await d?.stop()
  for (const r of receivers) await r.close()
})

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const denial = () => emit(d.daemon.store, Date.now(), {event_type: 'reservation.denied', scope: 'tenant:acme/workspace:prod', data: {reason_code: 'BUDGET_EXCEEDED'}})

describe('scenario 3: a failing compliance sink, found, fixed and caught up with the built CLI', {timeout: 180_000}, () => {
  it('the sink receives every missed event exactly once', async () => {
    const sink = await startReceiver('healthy')
    receivers.push(sink)
    const created = await cli(['webhook', 'create', '--tenant', 'acme', '--endpoint', sink.url, '--events', 'reservation.denied', '--max-retries', '1', '--disable-after', '3', '--name', 'compliance sink', '--json'], env)
    expect(created.code, created.stderr).toBe(0)
    expect(created.stderr).toContain('will not be shown again')
    const id = created.json.subscription.subscription_id as string
    const firstSecret = created.json.signing_secret as string
    sink.secrets.push(firstSecret)
    const start = new Date(Date.now() - 1000).toISOString()

    const before = await denial()
    await until('the first event at the sink', () => sink.delivered().some((e) => e.event_id === before.event_id))

    // The sink breaks: three deliveries fail (each retried once), the subscription is disabled,
    // and the events after that are not even queued.
    sink.mode = 'failing'
    const missed = []
    for (let i = 0; i < 3; i++) {
      missed.push(await denial())
      await until(`failed delivery ${i + 1}`, async () => {
        const res = await fetch(`${d.daemon.adminUrl}/v1/admin/webhooks/${id}`, {headers: {'X-Admin-API-Key': ADMIN_KEY}})
        return ((await res.json()) as {consecutive_failures: number}).consecutive_failures === i + 1
      })
    }
    for (let i = 0; i < 2; i++) missed.push(await denial())

    // The operator finds it.
    const overview = await cli(['overview', '--json'], env)
    expect(overview.code, overview.stderr).toBe(0)
    expect(overview.json.overview.webhook_counts).toMatchObject({total: 1, disabled: 1, with_failures: 1})
    expect(overview.json.overview.failing_webhooks).toEqual([expect.objectContaining({subscription_id: id, url: sink.url, consecutive_failures: 3})])
    const human = await cli(['overview'], env)
    expect(human.stdout).toContain('Webhooks: 1 (0 active, 1 disabled, 1 failing)')
    expect(human.stdout).toContain(id)
    const failed = await cli(['webhook', 'deliveries', id, '--status', 'failed', '--json'], env)
    expect(failed.code).toBe(0)
    expect(failed.json.deliveries).toHaveLength(3)
    expect(failed.json.deliveries.every((x: {response_status: number; attempts: number}) => x.response_status === 500 && x.attempts === 2)).toBe(true)
    expect(failed.json.deliveries.map((x: {event_id: string}) => x.event_id).sort()).toEqual(missed.slice(0, 3).map((e) => e.event_id).sort())

    // A test still fails (exit 8); the fixed sink lives at a new URL.
    const stillBroken = await cli(['webhook', 'test', id], env)
    expect(stillBroken.code).toBe(8)
    expect(stillBroken.stdout).toContain('FAILED: HTTP 500')
    const fixed = await startReceiver('healthy')
    receivers.push(fixed)
    fixed.secrets = [firstSecret]
    const moved = await cli(['webhook', 'update', id, '--endpoint', fixed.url, '--reason', 'compliance sink moved', '--json'], env)
    expect(moved.code, moved.stderr).toBe(0)
    expect(moved.json.url).toBe(fixed.url)
    const test = await cli(['webhook', 'test', id, '--json'], env)
    expect(test.code, test.stderr).toBe(0)
    expect(test.json).toMatchObject({success: true, response_status: 200})

    // Rotate the secret (shown once), re-enable, replay the window.
    const rotated = await cli(['webhook', 'rotate-secret', id, '--yes', '--json'], env)
    expect(rotated.code, rotated.stderr).toBe(0)
    const newSecret = rotated.json.signing_secret as string
    expect(newSecret).toMatch(/^whsec_[0-9a-f]{64}$/)
    expect(newSecret).not.toBe(firstSecret)
    fixed.secrets = [newSecret]
    const resumed = await cli(['webhook', 'resume', id, '--yes', '--reason', 'sink fixed'], env)
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stdout).toContain('is now ACTIVE')
    const replay = await cli(['webhook', 'replay', id, '--from', start, '--yes', '--json'], env)
    expect(replay.code, replay.stderr).toBe(0)
    expect(replay.json.events_queued).toBe(5) // the one delivered before the outage is not sent again

    const missedIds = missed.map((e) => e.event_id)
    const received = () => fixed.delivered().filter((e) => e.event_type === 'reservation.denied').map((e) => e.event_id)
    await until('every missed event at the fixed sink', () => missedIds.every((m) => received().includes(m)))
    const again = await cli(['webhook', 'replay', id, '--from', start, '--yes', '--json'], env)
    expect(again.json.events_queued).toBe(0)
    expect(received()).toEqual(missedIds) // each once, in order, signed with the new secret
    expect(fixed.received.filter((r) => r.event.event_type === 'reservation.denied').every((r) => r.signatureValid)).toBe(true)

    // A receiver author checks one delivery's signature with the CLI.
    const one = fixed.received.find((r) => r.event.event_type === 'reservation.denied')!
    const verify = (secret: string) =>
      spawnSync(process.execPath, [BIN, 'webhook', 'verify', '--secret', secret, '--signature', one.headers['x-cycles-signature'] as string], {cwd: PROJECT_ROOT, input: one.body, encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}})
    const valid = verify(newSecret)
    expect({status: valid.status, stdout: valid.stdout.trim()}).toEqual({status: 0, stdout: 'valid: the body was signed with this secret'})
    const invalid = verify(firstSecret)
    expect(invalid.status).toBe(8)
    expect(invalid.stdout).toContain('INVALID')
  })
})
