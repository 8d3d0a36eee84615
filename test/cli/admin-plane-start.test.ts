// The Quickstart's daemon is runbook-capable: fixtures/cycles.yaml asks for the admin plane with its
// key from CYCLES_ADMIN_API_KEY, `daemon start` says how the runbook commands reach it, and a runbook
// command against a daemon without its admin plane says so instead of "is the daemon running?".
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {FIXTURE_CONFIG, FIXTURE_FILE, tempDir} from '../support/daemon.js'
import {type SpawnedDaemon, runCli, spawnDaemon} from '../support/process.js'

const ADMIN_KEY = 'admin_key_for_quickstart_0123456789'
let daemon: SpawnedDaemon | undefined
afterEach(() => {
  daemon?.child.kill('SIGKILL')
  daemon = undefined
})

/** Resolve with the first match of `re` in `text()` (the daemon prints its lines one after another). */
async function waitForLine(text: () => string, re: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const m = re.exec(text())
    if (m) return m
    if (Date.now() > deadline) throw new Error(`no line matching ${re} within ${timeoutMs} ms in:\n${text()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('daemon start with fixtures/cycles.yaml', {timeout: 180_000}, () => {
  it('refuses to start without CYCLES_ADMIN_API_KEY, saying how to set it (exit 3)', () => {
    const dir = tempDir()
    const env: Record<string, string> = {CYCLES_ADMIN_API_KEY: ''}
    const res = runCli(['daemon', 'start', '--config', FIXTURE_FILE, '--port', '0', '--admin-port', '0', '--state-dir', path.join(dir, 's'), '--log-dir', path.join(dir, 'l')], {env})
    expect(res.status).toBe(3)
    expect(res.stderr).toContain('asks for the admin plane with its key in $CYCLES_ADMIN_API_KEY, which is not set')
    expect(res.stderr).toContain('export CYCLES_ADMIN_API_KEY=$(openssl rand -hex 16)')
    expect(res.stdout).not.toMatch(/listening/)
  })

  it('with the key in the environment serves the admin plane, prints how to reach it, and answers a runbook command', async () => {
    const dir = tempDir()
    daemon = await spawnDaemon(['--config', FIXTURE_FILE, '--admin-port', '0', '--state-dir', path.join(dir, 's'), '--log-dir', path.join(dir, 'l')], {CYCLES_ADMIN_API_KEY: ADMIN_KEY}, 90_000)
    const adminUrl = (await waitForLine(daemon.stdout, /admin plane listening on (http:\/\/\S+)/))[1]
    expect(adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    await waitForLine(daemon.stderr, /runbook commands:/)
    expect(daemon.stderr()).toContain(`runbook commands: export CYCLES_ADMIN_API_KEY=<this daemon's admin key> CYCLES_ADMIN_URL=${adminUrl}`)
    const res = runCli(['tenant', 'list', '--json'], {env: {CYCLES_ADMIN_API_KEY: ADMIN_KEY, CYCLES_ADMIN_URL: adminUrl!}})
    expect({status: res.status, stderr: res.status === 0 ? '' : res.stderr}).toEqual({status: 0, stderr: ''})
    expect(JSON.parse(res.stdout).tenants.map((t: {tenant_id: string}) => t.tenant_id).sort()).toEqual(['acme', 'globex'])
  })
})

describe('a runbook command against a daemon without its admin plane', {timeout: 180_000}, () => {
  it('says the runtime plane answers but the admin plane is off, and how to start it (exit 7)', async () => {
    const dir = tempDir()
    const config = path.join(dir, 'cycles.yaml')
    fs.writeFileSync(config, FIXTURE_CONFIG)
    daemon = await spawnDaemon(['--config', config, '--state-dir', path.join(dir, 's'), '--log-dir', path.join(dir, 'l')], {CYCLES_ADMIN_API_KEY: ''}, 90_000)
    await waitForLine(daemon.stderr, /admin plane: off/)
    const adminUrl = `http://127.0.0.1:${await closedPort()}`
    const res = runCli(['tenant', 'list', '--json', '--url', daemon.url, '--admin-url', adminUrl], {env: {CYCLES_ADMIN_API_KEY: ADMIN_KEY}})
    expect(res.status).toBe(7)
    const error = JSON.parse(res.stdout || res.stderr).error
    expect(error.code).toBe('UNREACHABLE')
    expect(error.message).toContain(`admin API at ${adminUrl} is unreachable (ECONNREFUSED), but the daemon at ${daemon.url} answers: its admin plane is off or listens elsewhere; start it with an admin key, CYCLES_ADMIN_API_KEY=`)
    expect(error.details).toEqual({runtime_plane: 'up', admin_plane: 'off'})
  })

  it('with nothing listening at all keeps the plain unreachable error', async () => {
    const res = runCli(['tenant', 'list', '--json', '--url', `http://127.0.0.1:${await closedPort()}`, '--admin-url', `http://127.0.0.1:${await closedPort()}`], {env: {CYCLES_ADMIN_API_KEY: ADMIN_KEY}})
    expect(res.status).toBe(7)
    const error = JSON.parse(res.stdout || res.stderr).error
    expect(error.message).toMatch(/^admin API at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)$/)
    expect(error.suggestions[0]).toBe('is the daemon running? cycles daemon start')
  })
})
