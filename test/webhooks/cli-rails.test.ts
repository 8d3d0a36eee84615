// The safety rails of `cycles webhook …` with the built CLI: changes ask first (a non-TTY without
// --yes refuses and changes nothing), delete needs --confirm <id>, verify refuses what it cannot check.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ADMIN_CONFIG, ADMIN_KEY} from '../admin/support.js'
import {assertBuilt, cli} from '../admin/cli.js'
import {FIXTURE_CONFIG, type TestDaemon, call, startTestDaemon, tempDir} from '../support/daemon.js'
import {BIN, runCli} from '../support/process.js'
import {PROJECT_ROOT} from '../support/spec.js'
import {SECRET_KEY, exampleHosts} from './support.js'

let d: TestDaemon
let env: Record<string, string>
let id: string

beforeAll(async () => {
  assertBuilt()
  d = await startTestDaemon(ADMIN_CONFIG, {adminPort: 0, webhookSecretKey: SECRET_KEY, webhooks: {manual: true, lookup: exampleHosts}})
  env = {CYCLES_ADMIN_API_KEY: ADMIN_KEY, CYCLES_ADMIN_URL: d.daemon.adminUrl}
  id = (await call(d.daemon.adminUrl, 'POST', '/v1/admin/webhooks?tenant_id=acme', {url: 'https://sink.example.com/x', event_types: ['budget.exhausted']}, {'X-Admin-API-Key': ADMIN_KEY})).body.subscription.subscription_id
}, 60_000)
afterAll(async () => {
  await d?.stop()
})

const status = async () => (await call(d.daemon.adminUrl, 'GET', `/v1/admin/webhooks/${id}`, undefined, {'X-Admin-API-Key': ADMIN_KEY})).body

describe('webhook command rails', {timeout: 180_000}, () => {
  it('pause, rotate-secret and replay refuse without --yes in a non-TTY; delete needs --confirm <id>', async () => {
    for (const args of [['pause', id], ['rotate-secret', id], ['replay', id, '--since', '1h']]) {
      const res = await cli(['webhook', ...args, '--json'], env)
      expect(res.code, args.join(' ')).toBe(2)
      expect(res.json.error.code).toBe('CONFIRMATION_REQUIRED')
    }
    const missing = await cli(['webhook', 'delete', id, '--json'], env)
    expect(missing.code).toBe(2)
    expect(missing.json.error.code).toBe('CONFIRMATION_REQUIRED')
    const wrong = await cli(['webhook', 'delete', id, '--confirm', 'whsub_other', '--json'], env)
    expect(wrong.json.error.code).toBe('CONFIRMATION_MISMATCH')
    expect(await status()).toMatchObject({subscription_id: id, status: 'ACTIVE'})
    const paused = await cli(['webhook', 'pause', id, '--yes', '--reason', 'maintenance window', '--json'], env)
    expect(paused.code, paused.stderr).toBe(0)
    expect(paused.json.status).toBe('PAUSED')
    const audit = await call(d.daemon.adminUrl, 'GET', `/v1/admin/audit/logs?resource_id=${id}&operation=updateWebhookSubscription`, undefined, {'X-Admin-API-Key': ADMIN_KEY})
    expect(audit.body.logs[0].metadata).toMatchObject({reason: 'maintenance window', previous_status: 'ACTIVE', new_status: 'PAUSED'})
    const deleted = await cli(['webhook', 'delete', id, '--confirm', id, '--json'], env)
    expect(deleted.code, deleted.stderr).toBe(0)
    expect((await call(d.daemon.adminUrl, 'GET', `/v1/admin/webhooks/${id}`, undefined, {'X-Admin-API-Key': ADMIN_KEY})).status).toBe(404)
  })

  it('daemon start refuses a malformed CYCLES_WEBHOOK_SECRET_KEY with exit 3, saying what it must be', () => {
    const dir = tempDir('cycles-webhook-key-')
    const config = path.join(dir, 'cycles.yaml')
    fs.writeFileSync(config, FIXTURE_CONFIG)
    const res = runCli(['daemon', 'start', '--config', config, '--port', '0', '--state-dir', path.join(dir, 's'), '--log-dir', path.join(dir, 'l')], {env: {CYCLES_WEBHOOK_SECRET_KEY: 'not-a-key'}})
    expect(res.status).toBe(3)
    expect(res.stderr).toContain('CYCLES_WEBHOOK_SECRET_KEY must be 32 bytes')
    expect(res.stdout).not.toMatch(/listening/)
  })

  it('verify: usage errors (exit 2) for a missing secret, a malformed signature or an empty body', () => {
    const verify = (args: string[], input: string) => spawnSync(process.execPath, [BIN, 'webhook', 'verify', ...args], {cwd: PROJECT_ROOT, input, encoding: 'utf8', env: {...process.env, NO_COLOR: '1', CYCLES_WEBHOOK_SECRET: ''}})
    expect(verify(['--signature', `sha256=${'0'.repeat(64)}`], '{}').status).toBe(2)
    expect(verify(['--secret', 's', '--signature', 'md5=abc'], '{}').status).toBe(2)
    expect(verify(['--secret', 's', '--signature', `sha256=${'0'.repeat(64)}`], '').status).toBe(2)
    expect(verify(['--secret', 's', '--signature', `sha256=${'0'.repeat(64)}`], '{}').status).toBe(8)
  })
})
