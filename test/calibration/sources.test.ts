// Where the current allocations come from, and where the calibrated ones go: `--admin-url` against a
// real daemon's admin API, and `--write-config --with-overdraft` read back by a real daemon.
import {execFile} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import type {CalibrationResult} from '../../src/calibration/calibrate.js'
import {runCalibrate} from '../../src/calibration/run.js'
import {EXIT} from '../../src/cli/errors.js'
import {budgetsFromAdmin, budgetsFromConfig} from '../../src/calibration/sources.js'
import {AdminClient} from '../../src/client/admin-client.js'
import {HttpClient} from '../../src/client/http.js'
import {type TestDaemon, startTestDaemon} from '../support/daemon.js'
import {BIN} from '../support/process.js'
import {HIERARCHY, type Simulated, cleanup, simulated, withPolicies} from './helpers.js'

const ADMIN_KEY = 'cyc_admin_calibrate_test_0123456789'
const HEADER = '# Daemon config for the calibration source tests.\n# Comments and key order must survive --write-config.\n'

let h: Simulated
let db: string
let configFile: string
let configText: string

beforeAll(async () => {
  h = await simulated(HIERARCHY, withPolicies)
  db = path.join(h.dir, 'shadow.duckdb')
  configFile = path.join(h.dir, 'cycles.yaml')
  const {tiers: _tiers, ...rest} = h.config
  configText = `${HEADER}${YAML.stringify({...rest, admin_key: ADMIN_KEY})}`
  fs.writeFileSync(configFile, configText)
}, 300_000)
afterAll(() => cleanup(h?.dir))

describe('calibrate --admin-url: the current allocations from a running daemon', () => {
  let daemon: TestDaemon
  let adminUrl: string
  let viaConfig: CalibrationResult
  beforeAll(async () => {
    daemon = await startTestDaemon(configText, {adminPort: 0}, path.join(h.dir, 'daemon'))
    adminUrl = daemon.daemon.adminUrl
    viaConfig = (await runCalibrate({db, config: configFile, filter: {}, options: {}, format: 'json', output: path.join(h.dir, 'via-config.json')})).result
  }, 300_000)
  afterAll(() => daemon?.stop())

  it('lists the same budgets and tenants (with their overage policies) as the config the daemon runs', async () => {
    const fromAdmin = await budgetsFromAdmin(adminUrl, ADMIN_KEY)
    const fromConfig = budgetsFromConfig(configFile)
    const key = (b: {scope: string; unit: string}) => `${b.scope} ${b.unit}`
    expect(fromAdmin.budgets.map(key)).toEqual(fromConfig.budgets.map(key).sort())
    expect(fromAdmin.budgets).toEqual(expect.arrayContaining(fromConfig.budgets))
    expect(fromAdmin.budgets.filter((b) => b.overdraft_limit > 0).length).toBe(4)
    const tenantKey = (t: {tenant_id: string}) => t.tenant_id
    expect([...fromAdmin.tenants].sort((x, y) => tenantKey(x).localeCompare(tenantKey(y)))).toEqual(fromConfig.tenants)
    expect(fromAdmin.tenants.map((t) => t.default_commit_overage_policy).sort()).toEqual(['ALLOW_IF_AVAILABLE', 'ALLOW_WITH_OVERDRAFT', 'REJECT'])
  })

  it('gives the same calibration as --config, through the built CLI with the key from the environment', async () => {
    // async: the daemon runs in this process and must answer while the CLI waits
    const cli = await promisify(execFile)(process.execPath, [BIN, 'calibrate', '--db', db, '--admin-url', adminUrl, '--json'], {
      env: {...process.env, NO_COLOR: '1', CYCLES_ADMIN_API_KEY: ADMIN_KEY, CYCLES_CONFIG: ''},
      timeout: 240_000,
      maxBuffer: 64 * 2 ** 20,
    })
    const viaAdmin = JSON.parse(cli.stdout)
    expect(viaAdmin.budgets).toEqual(JSON.parse(fs.readFileSync(path.join(h.dir, 'via-config.json'), 'utf8')).budgets)
    expect(viaAdmin.budgets.filter((b: {status: string}) => b.status === 'calibrated').length).toBe(viaConfig.budgets.filter((b) => b.status === 'calibrated').length)
  }, 300_000)

  it('reads what the daemon holds now: a budget reset through the admin API is the current allocation', async () => {
    // the budget whose traffic is denied most under the config's allocations
    const before = viaConfig.budgets.filter((b) => b.current_allocated !== null).sort((x, y) => y.current_denial_rate - x.current_denial_rate)[0]
    expect(before.current_denial_rate).toBeGreaterThan(0.02)
    const admin = new AdminClient(new HttpClient({baseUrl: adminUrl, headers: {'X-Admin-API-Key': ADMIN_KEY}, timeoutMs: 10_000, label: 'admin API', urlHint: 'test'}))
    const raised = before.current_allocated! * 2
    const tenant = before.scope.split('/')[0].slice('tenant:'.length)
    await admin.fundBudget(tenant, before.scope, before.unit, {operation: 'RESET', amount: {unit: before.unit, amount: raised}, idempotency_key: 'calibrate-test-reset', reason: 'calibrate --admin-url test'})
    const {result} = await runCalibrate({db, adminUrl, adminKey: ADMIN_KEY, filter: {}, options: {}, format: 'json', output: path.join(h.dir, 'after-reset.json')})
    const row = result.budgets.find((b) => b.scope === before.scope && b.unit === before.unit)!
    expect(row.current_allocated).toBe(raised)
    // the replay used it: twice the allocation the traffic was denied under denies less
    expect(row.current_denial_rate).toBeLessThan(before.current_denial_rate)
  }, 300_000)

  it('a wrong admin key is an authentication error, not an empty fleet', async () => {
    await expect(runCalibrate({db, adminUrl, adminKey: 'cyc_admin_wrong_key_0000000000', filter: {}, options: {}, format: 'json', output: path.join(h.dir, 'x.json')})).rejects.toMatchObject({
      exit: EXIT.AUTH,
    })
  })
})

describe('calibrate --write-config --with-overdraft', () => {
  it('writes each calibrated allocated and suggested overdraft_limit, keeps comments, order and everything else; a daemon runs it', async () => {
    const plainFile = path.join(h.dir, 'calibrated.yaml')
    const withOverdraftFile = path.join(h.dir, 'calibrated-overdraft.yaml')
    const plain = await runCalibrate({db, config: configFile, filter: {}, options: {}, format: 'json', output: path.join(h.dir, 'c1.json'), writeConfig: plainFile})
    const withOverdraft = await runCalibrate({db, config: configFile, filter: {}, options: {}, format: 'json', output: path.join(h.dir, 'c2.json'), writeConfig: withOverdraftFile, withOverdraft: true})
    expect(withOverdraft.written).toBe(h.budgets.length)
    const rows = new Map(withOverdraft.result.budgets.map((b) => [`${b.scope} ${b.unit}`, b]))
    const suggestedOverdraft = withOverdraft.result.budgets.filter((b) => b.status === 'calibrated' && b.suggested_overdraft_limit !== null)
    expect(suggestedOverdraft.length).toBeGreaterThan(0) // commits overrun: there is an overdraft to write

    const text = fs.readFileSync(withOverdraftFile, 'utf8')
    expect(text.startsWith(HEADER)).toBe(true)
    const before = YAML.parse(configText)
    const after = YAML.parse(text)
    expect(Object.keys(after)).toEqual(Object.keys(before))
    for (const k of Object.keys(before)) if (k !== 'budgets') expect(after[k], k).toEqual(before[k])
    after.budgets.forEach((b: Record<string, unknown>, i: number) => {
      const was = before.budgets[i]
      const row = rows.get(`${b.scope} ${b.unit}`)!
      expect(Object.keys(b).filter((k) => k !== 'overdraft_limit')).toEqual(Object.keys(was).filter((k) => k !== 'overdraft_limit'))
      expect(b.allocated).toBe(row.suggested_allocated)
      expect(b.overdraft_limit).toBe(row.suggested_overdraft_limit ?? was.overdraft_limit)
    })
    // without --with-overdraft the overdraft limits are left alone
    const plainAfter = YAML.parse(fs.readFileSync(plainFile, 'utf8'))
    plainAfter.budgets.forEach((b: Record<string, unknown>, i: number) => expect(b.overdraft_limit).toBe(before.budgets[i].overdraft_limit))
    expect(plain.result.budgets).toEqual(withOverdraft.result.budgets)

    // a daemon started with the written config runs the calibrated limits and overdrafts
    const daemon = await startTestDaemon(text, {adminPort: 0}, path.join(h.dir, 'daemon-calibrated'))
    try {
      const listed = await budgetsFromAdmin(daemon.daemon.adminUrl, ADMIN_KEY)
      for (const b of listed.budgets) {
        const row = rows.get(`${b.scope} ${b.unit}`)!
        expect(b.allocated, b.scope).toBe(row.suggested_allocated)
        if (row.suggested_overdraft_limit !== null) expect(b.overdraft_limit, b.scope).toBe(row.suggested_overdraft_limit)
      }
    } finally {
      await daemon.stop()
    }
  }, 300_000)
})
