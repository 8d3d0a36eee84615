// The built CLI end to end (needs `npm run build`): config validate exit codes, a config edit
// followed by a daemon restart reported on stderr, config diff / apply through the admin API, and
// rollout plan + apply refusing with exit 8.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {tempDir} from '../support/daemon.js'
import {type SpawnedDaemon, runCli, spawnDaemon} from '../support/process.js'

const ADMIN = 'admin_key_for_config_cli_0123456789'
const CONFIG = `
tenants:
  - id: acme
api_keys:
  - tenant: acme
    secret: cyc_config_cli_acme_0123456789abcdef
budgets:
  - scope: tenant:acme
    unit: USD_MICROCENTS
    allocated: 1000000
tiers:
  low:    { mode: enforce, match: ["search.*"] }
  medium: { mode: shadow, match: ["llm.*"] }
  high:   { mode: shadow, match: ["email.*"] }
`
const dir = tempDir('cycles-config-cli-')
const file = path.join(dir, 'cycles.yaml')
let daemon: SpawnedDaemon | undefined

async function startDaemon(): Promise<{daemon: SpawnedDaemon; adminUrl: string}> {
  daemon = await spawnDaemon(['--config', file, '--state-dir', path.join(dir, 'state'), '--log-dir', path.join(dir, 'decisions'), '--admin-port', '0'], {CYCLES_ADMIN_API_KEY: ADMIN}, 60_000)
  // The admin plane's line follows the runtime plane's, maybe in a later chunk (bounded wait).
  for (let i = 0; i < 200 && !/admin plane listening on http:\/\/\S+\n/.test(daemon.stdout()); i++) await new Promise((r) => setTimeout(r, 50))
  const adminUrl = /admin plane listening on (http:\/\/\S+)\n/.exec(daemon.stdout())![1]
  return {daemon, adminUrl}
}
async function stopDaemon(): Promise<string> {
  const d = daemon!
  d.child.kill('SIGTERM')
  await d.exited
  daemon = undefined
  return d.stderr()
}

/** The daemon's log lines arrive on stderr in their own time: wait for one (bounded), then assert on all of it. */
async function stderrOnceContains(text: string): Promise<string> {
  for (let i = 0; i < 200 && !daemon!.stderr().includes(text); i++) await new Promise((r) => setTimeout(r, 50))
  return daemon!.stderr()
}

afterEach(async () => {
  if (daemon) await stopDaemon()
})
afterAll(() => {
  fs.rmSync(dir, {recursive: true, force: true})
})

describe('cycles config (built CLI)', () => {
  it('validate: exit 0 with a summary, exit 3 with one line per problem', () => {
    fs.writeFileSync(file, CONFIG)
    const ok = runCli(['config', 'validate', '--config', file])
    expect(ok.status).toBe(0)
    expect(ok.stdout).toBe(`${file}: valid — 1 tenant(s), 1 API key(s), 1 budget(s); tiers low=enforce medium=shadow high=shadow\n`)
    const bad = path.join(dir, 'bad.yaml')
    fs.writeFileSync(bad, CONFIG.replace('allocated: 1000000', 'allocated: lots').replace('mode: enforce', 'mode: on'))
    const r = runCli(['config', 'validate', '--config', bad])
    expect(r.status).toBe(3)
    expect(r.stderr.split('\n').filter((l) => l.startsWith('  ')).sort()).toEqual(['  budgets[0].allocated: Invalid input: expected number, received string', '  tiers.low.mode: Invalid option: expected one of "shadow"|"enforce"'].sort())
    const json = runCli(['config', 'validate', '--config', bad, '--json'])
    expect(json.status).toBe(3)
    expect(JSON.parse(json.stdout)).toMatchObject({valid: false, issues: expect.arrayContaining([expect.objectContaining({path: 'tiers.low.mode'})])})
  }, 240_000)

  it('an edit and a restart are reported on stderr; config apply --yes makes the file take effect', async () => {
    fs.writeFileSync(file, CONFIG)
    await startDaemon()
    await stopDaemon()
    // The on-call rollback by editing the file: low back to shadow, and a bigger budget.
    fs.writeFileSync(file, CONFIG.replace('mode: enforce', 'mode: shadow').replace('allocated: 1000000', 'allocated: 2000000'))
    const {adminUrl} = await startDaemon()
    const stderr = await stderrOnceContains('tiers: low=')
    expect(stderr).toContain(`config: 2 difference(s) between ${file} and the stored state; the stored state is in effect`)
    expect(stderr).toContain('  tier low: mode shadow in the file, enforce in the store')
    expect(stderr).toContain('  budget tenant:acme USD_MICROCENTS: allocated 2,000,000 in the file, 1,000,000 in the store')
    expect(stderr).toMatch(/tiers: low=enforce medium=shadow high=shadow/)
    const env = {CYCLES_ADMIN_URL: adminUrl, CYCLES_ADMIN_API_KEY: ADMIN}
    const diff = runCli(['config', 'diff', '--config', file, '--json', '--exit-code'], {env})
    expect(diff.status).toBe(1)
    expect(JSON.parse(diff.stdout).differences.map((d: {subject: string; field: string}) => `${d.subject}.${d.field}`)).toEqual(['low.mode', 'tenant:acme USD_MICROCENTS.allocated'])
    const refused = runCli(['config', 'apply', '--config', file], {env})
    expect(refused.status).toBe(2) // not a TTY, no --yes: nothing changed
    const applied = runCli(['config', 'apply', '--config', file, '--yes', '--reason', 'on-call rollback'], {env})
    expect(applied.status).toBe(0)
    expect(applied.stdout).toBe('applied tier low: shadow at 100 %\napplied tenant:acme USD_MICROCENTS: allocated 1000000 → 2000000 (RESET)\n')
    expect(runCli(['config', 'diff', '--config', file, '--exit-code'], {env})).toMatchObject({status: 0, stdout: `${file} matches the daemon's stored state\n`})
    const control = runCli(['tier', 'set', 'medium', 'shadow', '--json'], {env})
    expect(JSON.parse(control.stdout).tiers.low).toBe('shadow')
    await stopDaemon()
  }, 240_000)

  it('rollout plan writes the plan; rollout apply refuses a failing gate with exit 8 and the figures as JSON', async () => {
    fs.writeFileSync(file, CONFIG.replace('mode: enforce', 'mode: shadow'))
    const {adminUrl} = await startDaemon()
    const calib = path.join(dir, 'calib.json')
    fs.writeFileSync(
      calib,
      JSON.stringify({
        window: {from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z', days: 7},
        target: 0.02,
        band: [0.01, 0.03],
        budgets: [{scope: 'tenant:acme', unit: 'USD_MICROCENTS', tiers: ['low'], requests: 500, current_allocated: 2_000_000, suggested_allocated: 1_500_000, suggested_denial_rate: 0.02, status: 'calibrated', verdict: 'loose'}],
      }),
    )
    const planFile = path.join(dir, 'plan.yaml')
    const plan = runCli(['rollout', 'plan', '--calibration', calib, '--tiers', 'low', '--output', planFile])
    expect(plan.status).toBe(0)
    expect(plan.stderr).toMatch(/^plan rp_[0-9a-f]{16}: 4 steps written to /m)
    const env = {CYCLES_ADMIN_URL: adminUrl, CYCLES_ADMIN_API_KEY: ADMIN}
    const first = runCli(['rollout', 'apply', planFile, '--json'], {env})
    expect(first.status).toBe(0)
    expect(JSON.parse(first.stdout)).toMatchObject({status: 'applied', step: {step: 1, kind: 'limits'}, fundings: [{new_allocated: 1_500_000}]})
    const second = runCli(['rollout', 'apply', planFile, '--json'], {env})
    expect(second.status).toBe(8)
    const error = JSON.parse(second.stdout).error
    expect(error.code).toBe('GATE_FAILED')
    expect(error.details.gate.checks.filter((c: {passed: boolean}) => !c.passed).map((c: {gate: string}) => c.gate)).toEqual(['dwell', 'min_requests', 'reserve_commit_ratio', 'overage'])
    const dry = runCli(['rollout', 'apply', planFile, '--dry-run'], {env})
    expect(dry.status).toBe(8)
    expect(dry.stdout).toMatch(/FAIL {2}dwell/)
    expect(runCli(['rollout', 'apply', planFile, '--step', '1'], {env})).toMatchObject({status: 0, stdout: expect.stringMatching(/was applied before; nothing changed/)})
    await stopDaemon()
  }, 240_000)
})
