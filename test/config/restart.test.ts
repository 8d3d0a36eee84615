// Configuration that takes effect, with a real daemon on the embedded store: an edit followed by a
// restart is reported line by line (and changes nothing), `config apply` through the admin API makes
// it take effect, and `daemon start --config-wins` applies the file at start.
import fs from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {AdminClient} from '../../src/client/admin-client.js'
import {ControlClient} from '../../src/client/control-client.js'
import {HttpClient} from '../../src/client/http.js'
import {adminApiTarget, applyConfigDifferences} from '../../src/config/apply.js'
import {diffConfig} from '../../src/config/diff.js'
import {loadConfig} from '../../src/config/load.js'
import type {StartupReconcile} from '../../src/config/startup.js'
import {storedStateFromAdmin} from '../../src/config/state.js'
import type {Daemon} from '../../src/daemon/daemon.js'
import {startDaemon} from '../../src/daemon/start.js'
import {call, tempDir} from '../support/daemon.js'

const ADMIN = 'admin_key_for_config_tests_0123456789'
const CONFIG = `
tenants:
  - id: acme
api_keys:
  - tenant: acme
    secret: cyc_config_acme_0123456789abcdef
budgets:
  - scope: tenant:acme
    unit: USD_MICROCENTS
    allocated: 1000000
  - scope: tenant:acme/workspace:prod
    unit: USD_MICROCENTS
    allocated: 500000
tiers:
  low:    { mode: shadow, match: ["search.*"] }
  medium: { mode: shadow, match: ["llm.*"] }
  high:   { mode: shadow, match: ["email.*"] }
admin_key: ${ADMIN}
`
/** The on-call edit: roll low forward to enforce 10 %, raise the tenant budget, freeze the workspace. */
const EDITED = CONFIG.replace('low:    { mode: shadow', 'low:    { mode: enforce, enforce_percent: 10').replace('allocated: 1000000', 'allocated: 3000000').replace('allocated: 500000', 'allocated: 500000\n    status: FROZEN')

let dir: string
let daemon: Daemon | undefined
let lines: string[] = []
let reconciled: StartupReconcile | undefined

async function start(configWins = false): Promise<Daemon> {
  lines = []
  daemon = await startDaemon({
    configPath: path.join(dir, 'cycles.yaml'),
    host: '127.0.0.1',
    port: 0,
    adminPort: 0,
    logDir: path.join(dir, 'decisions'),
    stateDir: path.join(dir, 'state'),
    log: (l) => lines.push(l),
    configWins,
    onConfigReconciled: (r) => {
      reconciled = r
    },
  })
  return daemon
}
const adminCall = (method: string, p: string) => call(daemon!.adminUrl, method, p, undefined, {'X-Admin-API-Key': ADMIN})
const ledger = async (scope: string) => (await adminCall('GET', `/v1/admin/budgets/lookup?scope=${encodeURIComponent(scope)}&unit=USD_MICROCENTS`)).body
const clients = () => {
  const http = new HttpClient({baseUrl: daemon!.adminUrl, headers: {'X-Admin-API-Key': ADMIN}, timeoutMs: 10_000, label: 'admin API', urlHint: '--admin-url'})
  return {admin: new AdminClient(http), control: new ControlClient(http)}
}

afterEach(async () => {
  await daemon?.stop()
  daemon = undefined
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
})

describe('config edits and restarts', () => {
  it('a fresh state is seeded and says so; an unchanged file matches', async () => {
    dir = tempDir('cycles-config-')
    fs.writeFileSync(path.join(dir, 'cycles.yaml'), CONFIG)
    await start()
    expect(lines).toContain(`config: new state, seeded from ${path.join(dir, 'cycles.yaml')}`)
    expect(reconciled!.fresh).toBe(true)
    await daemon!.stop()
    await start()
    expect(lines).toContain(`config: ${path.join(dir, 'cycles.yaml')} matches the stored state`)
    expect(reconciled!.differences).toEqual([])
  })

  it('an edit followed by a restart is reported and changes nothing; config apply makes it take effect, audited', async () => {
    dir = tempDir('cycles-config-')
    const file = path.join(dir, 'cycles.yaml')
    fs.writeFileSync(file, CONFIG)
    await start()
    await daemon!.stop()
    fs.writeFileSync(file, EDITED)
    await start()
    expect(reconciled!.differences.map((x) => `${x.subject}|${x.field}|${x.config}|${x.stored}|${x.apply}`)).toEqual([
      'low|mode|enforce|shadow|set_tier',
      'low|enforce_percent|10|100|set_tier',
      'tenant:acme USD_MICROCENTS|allocated|3000000|1000000|reset_allocation',
      'tenant:acme/workspace:prod USD_MICROCENTS|status|FROZEN|ACTIVE|freeze',
    ])
    expect(lines).toContain(`config: 4 difference(s) between ${file} and the stored state; the stored state is in effect (run-time changes survive restarts):`)
    expect(lines.some((l) => l.startsWith('  tier low: mode enforce in the file, shadow in the store'))).toBe(true)
    expect(lines.some((l) => l.startsWith('  budget tenant:acme USD_MICROCENTS: allocated 3,000,000 in the file, 1,000,000 in the store'))).toBe(true)
    // Nothing took effect by restarting.
    expect(daemon!.control.tiers.low).toBe('shadow')
    expect((await ledger('tenant:acme')).allocated.amount).toBe(1_000_000)

    const {admin, control} = clients()
    const config = loadConfig(file)
    const diffs = diffConfig(config, await storedStateFromAdmin(admin, control))
    const applied = await applyConfigDifferences(diffs, config, adminApiTarget(admin, control), 'on-call: low to enforce 10 %')
    expect(applied.map((a) => `${a.subject}: ${a.change}: ${a.outcome}`)).toEqual([
      'tenant:acme USD_MICROCENTS: allocated 1000000 → 3000000 (RESET): applied',
      'tenant:acme/workspace:prod USD_MICROCENTS: freeze: applied',
      'tier low: enforce at 10 %: applied',
    ])
    const now = await control.status()
    expect([now.tiers.low, now.enforce_percent.low]).toEqual(['enforce', 10])
    expect(daemon!.control.tiers.low).toBe('enforce')
    expect((await ledger('tenant:acme')).allocated.amount).toBe(3_000_000)
    expect((await ledger('tenant:acme/workspace:prod')).status).toBe('FROZEN')
    expect(diffConfig(config, await storedStateFromAdmin(admin, control))).toEqual([])
    // Audited with the reason.
    const audit = (await adminCall('GET', '/v1/admin/audit/logs?limit=50')).body.logs as Array<{operation: string; metadata?: Record<string, unknown>}>
    const ops = audit.map((a) => `${a.operation}:${a.metadata?.reason}`)
    expect(ops).toEqual(expect.arrayContaining(['fundBudget:on-call: low to enforce 10 %', 'freezeBudget:on-call: low to enforce 10 %', 'control.tier.set:on-call: low to enforce 10 %']))
    // A second apply has nothing left to do, and a retried RESET would replay (same key for the same change).
    expect(await applyConfigDifferences(diffConfig(config, await storedStateFromAdmin(admin, control)), config, adminApiTarget(admin, control), 'again')).toEqual([])
    // And the applied values survive a restart with no difference left.
    await daemon!.stop()
    await start()
    expect(reconciled!.differences).toEqual([])
  })

  it('daemon start --config-wins applies the file before serving', async () => {
    dir = tempDir('cycles-config-')
    const file = path.join(dir, 'cycles.yaml')
    fs.writeFileSync(file, CONFIG)
    await start()
    await daemon!.stop()
    fs.writeFileSync(file, EDITED)
    await start(true)
    expect(lines[0]).toBe(`config: 4 difference(s) between ${file} and the stored state; --config-wins applies 4 of them:`)
    expect(reconciled!.applied.map((a) => a.outcome)).toEqual(['applied', 'applied', 'applied'])
    expect([daemon!.control.tiers.low, daemon!.control.enforce_percent?.low]).toEqual(['enforce', 10])
    expect((await ledger('tenant:acme')).allocated.amount).toBe(3_000_000)
    expect((await ledger('tenant:acme/workspace:prod')).status).toBe('FROZEN')
    const audit = (await adminCall('GET', '/v1/admin/audit/logs?operation=control.tier.set')).body.logs
    expect(audit[0].metadata).toMatchObject({tier: 'low', mode: 'enforce', enforce_percent: 10, reason: `daemon start --config-wins: ${file}`})
    await daemon!.stop()
    await start()
    expect(reconciled!.differences).toEqual([])
  })
})
