// `cycles calibrate` as the built binary (npm test builds first): exit codes, formats, usage errors.
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {MARKDOWN_MARKER} from '../../src/calibration/render.js'
import {parseXml} from '../analytics/xml.js'
import {runCli} from '../support/process.js'
import {HIERARCHY, type Simulated, cleanup, simulated, withPolicies} from './helpers.js'

let h: Simulated
let db: string
let config: string

beforeAll(async () => {
  h = await simulated(HIERARCHY, withPolicies)
  db = path.join(h.dir, 'shadow.duckdb')
  config = path.join(h.dir, 'cycles.yaml')
  const {tiers: _tiers, ...rest} = h.config
  fs.writeFileSync(config, `# calibrated by the CLI test\n${YAML.stringify(rest)}`)
}, 300_000)
afterAll(() => cleanup(h?.dir))

describe('cycles calibrate (built binary)', () => {
  it('--json prints the contract; no gate: exit 0', () => {
    const r = runCli(['calibrate', '--db', db, '--config', config, '--json'], {timeoutMs: 120_000})
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.target).toBe(0.02)
    expect(out.band).toEqual([0.01, 0.03])
    expect(out.gates).toEqual({fail_on: [], violations: [], passed: true})
    expect(out.budgets.filter((b: {status: string}) => b.status === 'calibrated').length).toBe(h.budgets.length)
  }, 180_000)

  it('exit 8 when a gate fails (config_error: the CREDITS traffic has no budget), with JUnit and Markdown for CI', () => {
    const xmlFile = path.join(h.dir, 'calibrate.xml')
    const j = runCli(['calibrate', '--db', db, '--config', config, '--format', 'junit', '--output', xmlFile, '--fail-on', 'config_error,not_ready:high'], {timeoutMs: 120_000})
    expect(j.status, j.stderr).toBe(8)
    expect(j.stderr).toMatch(/gate failed: 3 violation\(s\) of --fail-on config_error,not_ready:high \(exit 8\)/)
    const xml = parseXml(fs.readFileSync(xmlFile, 'utf8'))
    const suites = xml.children
    expect(suites.map((s) => s.attrs.name)).toEqual(['calibrate budgets', 'calibrate gates', 'calibrate tiers'])
    expect(suites[0].children.length).toBe(h.budgets.length + 3)
    expect(suites[0].attrs.failures).toBe('3')
    expect(suites[1].children.map((c) => [c.attrs.name, c.children.some((x) => x.name === 'failure')])).toEqual([
      ['gate config_error', true],
      ['gate not_ready:high', false],
    ])
    const mdFile = path.join(h.dir, 'calibrate.md')
    const m = runCli(['calibrate', '--db', db, '--config', config, '--format', 'markdown', '--output', mdFile], {timeoutMs: 120_000})
    expect(m.status, m.stderr).toBe(0)
    const md = fs.readFileSync(mdFile, 'utf8')
    expect(md.startsWith(`${MARKDOWN_MARKER}\n## Cycles calibration\n`)).toBe(true)
    expect(md).toContain('<details><summary>Verdicts and actions (worst first)</summary>')
    expect(md).toContain('<details><summary>Tier readiness</summary>')
  }, 300_000)

  it('usage errors exit 2 and say what to do', () => {
    const noSource = runCli(['calibrate', '--db', db])
    expect(noSource.status).toBe(2)
    expect(noSource.stderr).toMatch(/pass --config FILE \(the daemon config\) or --admin-url URL/)
    const band = runCli(['calibrate', '--db', db, '--config', config, '--band', '0.03,0.01'])
    expect(band.status).toBe(2)
    expect(band.stderr).toMatch(/--band: expected two rates/)
    const gate = runCli(['calibrate', '--db', db, '--config', config, '--fail-on', 'too_tight,bogus'])
    expect(gate.status).toBe(2)
    expect(gate.stderr).toMatch(/unknown gate\(s\) bogus/)
    const missingDb = runCli(['calibrate', '--db', path.join(h.dir, 'none.duckdb'), '--config', config])
    expect(missingDb.status).toBe(5)
  }, 180_000)
})
