// The daemon commands as a user runs them: the built binary in a child process.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {FIXTURE_CONFIG, tempDir} from '../support/daemon.js'
import {type SpawnedDaemon, runCli, spawnDaemon} from '../support/process.js'

let daemon: SpawnedDaemon | undefined
afterAll(() => daemon?.child.kill('SIGKILL'))

describe('cycles daemon start / status', () => {
  it('refuses a bad config before listening: exit 3, file, field path and expectation', () => {
    const dir = tempDir()
    const bad = path.join(dir, 'bad.yaml')
    fs.writeFileSync(bad, 'budgets:\n  - {scope: "tenant:acme/agents:x", unit: DOLLARS, allocated: -5}\n')
    const res = runCli(['daemon', 'start', '--config', bad, '--port', '0', '--state-dir', path.join(dir, 's'), '--log-dir', path.join(dir, 'l')])
    expect(res.status).toBe(3)
    expect(res.stderr).toContain(bad)
    expect(res.stderr).toMatch(/budgets\[0\]\.scope: unknown scope level 'agents:'.*did you mean 'agent:'/)
    expect(res.stderr).toMatch(/budgets\[0\]\.unit: expected one of USD_MICROCENTS, TOKENS, CREDITS, RISK_POINTS/)
    expect(res.stderr).toMatch(/budgets\[0\]\.allocated: expected an integer ≥ 0/)
    expect(res.stdout).not.toMatch(/listening/)
    expect(fs.existsSync(path.join(dir, 's'))).toBe(false)
  })

  it('a missing config is exit 3 with a hint', () => {
    const res = runCli(['daemon', 'start', '--config', '/nonexistent/cycles.yaml', '--port', '0'])
    expect(res.status).toBe(3)
    expect(res.stderr).toMatch(/cannot read config file \/nonexistent\/cycles.yaml/)
  })

  it('starts, reports status and counters, and stops cleanly on SIGTERM with exit 0', async () => {
    const dir = tempDir()
    const config = path.join(dir, 'cycles.yaml')
    fs.writeFileSync(config, FIXTURE_CONFIG)
    daemon = await spawnDaemon(['--config', config, '--state-dir', path.join(dir, 's'), '--log-dir', path.join(dir, 'l')])
    const ready = await fetch(`${daemon.url}/actuator/health/readiness`)
    expect(ready.status).toBe(200)
    await fetch(`${daemon.url}/v1/decide`, {
      method: 'POST',
      headers: {'Content-Type': 'application/json', 'X-Cycles-API-Key': 'cyc_test_acme_0123456789abcdef'},
      body: JSON.stringify({idempotency_key: 'x', subject: {tenant: 'acme'}, action: {kind: 'llm.a', name: 'b'}, estimate: {unit: 'USD_MICROCENTS', amount: 1}}),
    })
    const status = runCli(['daemon', 'status', '--url', daemon.url, '--json'])
    expect(status.status).toBe(0)
    const body = JSON.parse(status.stdout)
    expect(body).toMatchObject({ready: true, status: 'UP', store: 'embedded', decisions: {ALLOW: 1, ALLOW_WITH_CAPS: 0, DENY: 0}, by_endpoint: {decide: 1}})
    // The decide only: the readiness probe and this status call are not the traffic it reports.
    expect(body.requests).toBe(1)
    const human = runCli(['daemon', 'status', '--url', daemon.url])
    expect(human.stdout).toMatch(/READY/)
    expect(human.stdout).toMatch(/tiers: +low=shadow medium=shadow high=shadow/)

    daemon.child.kill('SIGTERM')
    expect(await daemon.exited).toBe(0)
    expect(daemon.stderr()).toMatch(/stopped cleanly/)
    daemon = undefined
    const logs = fs.readdirSync(path.join(dir, 'l')).filter((f) => f.endsWith('.jsonl')) // not the checkpoint file
    expect(fs.readFileSync(path.join(dir, 'l', logs[0]), 'utf8').trim().split('\n')).toHaveLength(1)
  })

  it('status of nothing is exit 7 (unreachable), also with --json', () => {
    const res = runCli(['daemon', 'status', '--url', 'http://127.0.0.1:9', '--json'])
    expect(res.status).toBe(7)
    expect(JSON.parse(res.stdout).error).toMatchObject({code: 'UNREACHABLE', exit_code: 7})
  })
})
