import {describe, expect, it} from 'vitest'

import {resetIdempotencyKey} from '../../src/config/apply.js'
import {type StoredState, configKeyIds, describeDifference, diffConfig} from '../../src/config/diff.js'
import {parseConfig} from '../../src/config/load.js'
import {startupLines} from '../../src/config/startup.js'
import {validateConfigText} from '../../src/config/validate.js'

const CONFIG = `
tenants:
  - {id: acme}
  - {id: globex}
api_keys:
  - {tenant: acme, secret: cyc_test_acme_0123456789abcdef}
budgets:
  - {scope: "tenant:acme", unit: USD_MICROCENTS, allocated: 1000}
  - {scope: "tenant:acme/agent:bot", unit: USD_MICROCENTS, allocated: 300, overdraft_limit: 30, status: FROZEN}
  - {scope: "tenant:globex", unit: CREDITS, allocated: 50}
tiers:
  low: {mode: enforce, enforce_percent: 10}
  medium: {mode: shadow}
  high: {mode: shadow}
`

/** The state a daemon seeded from CONFIG would hold, before any run-time change. */
function seeded(): StoredState {
  const config = parseConfig(CONFIG)
  return {
    tiers: {low: {mode: 'enforce', enforce_percent: 10}, medium: {mode: 'shadow', enforce_percent: 100}, high: {mode: 'shadow', enforce_percent: 100}},
    killswitch_engaged: false,
    budgets: config.budgets.map((b) => ({scope: b.scope, unit: b.unit, allocated: b.allocated, overdraft_limit: b.overdraft_limit, status: b.status})),
    tenants: config.tenants.map((t) => ({id: t.id, status: t.status})),
    keys: configKeyIds(config).map((k) => ({...k, status: 'ACTIVE'})),
  }
}

describe('config diff', () => {
  const config = parseConfig(CONFIG)

  it('finds nothing when the store holds what the file says', () => {
    expect(diffConfig(config, seeded())).toEqual([])
  })

  it('reports tier mode and percent changed at run time, to be applied as a tier change', () => {
    const s = seeded()
    s.tiers!.low = {mode: 'shadow', enforce_percent: 10}
    s.tiers!.high = {mode: 'shadow', enforce_percent: 50}
    expect(diffConfig(config, s)).toEqual([
      {area: 'tier', subject: 'low', field: 'mode', config: 'enforce', stored: 'shadow', apply: 'set_tier'},
      {area: 'tier', subject: 'high', field: 'enforce_percent', config: 100, stored: 50, apply: 'set_tier'},
    ])
  })

  it('reports allocation, overdraft and freeze differences with the operation that applies each', () => {
    const s = seeded()
    s.budgets[0].allocated = 4000
    s.budgets[1].status = 'ACTIVE'
    s.budgets[1].overdraft_limit = 0
    s.budgets[2].status = 'CLOSED'
    s.budgets[2].allocated = 0
    const d = diffConfig(config, s)
    expect(d.map((x) => `${x.subject}|${x.field}|${x.config}|${x.stored}|${x.apply}`)).toEqual([
      'tenant:acme USD_MICROCENTS|allocated|1000|4000|reset_allocation',
      'tenant:acme/agent:bot USD_MICROCENTS|status|FROZEN|ACTIVE|freeze',
      'tenant:acme/agent:bot USD_MICROCENTS|overdraft_limit|30|0|set_overdraft',
      'tenant:globex CREDITS|status|ACTIVE|CLOSED|none',
      'tenant:globex CREDITS|allocated|50|0|none',
    ])
    expect(d[3].note).toMatch(/not reopened/)
  })

  it('unfreezes a budget the file says is active', () => {
    const s = seeded()
    const c = parseConfig(CONFIG.replace(', status: FROZEN', ''))
    s.budgets[1].status = 'FROZEN'
    expect(diffConfig(c, s).map((x) => x.apply)).toEqual(['unfreeze'])
  })

  it('reports presence both ways, tenant status and revoked keys, applying none of them', () => {
    const s = seeded()
    s.budgets.splice(2, 1)
    s.budgets.push({scope: 'tenant:acme/agent:new', unit: 'TOKENS', allocated: 5, overdraft_limit: 0, status: 'ACTIVE'})
    s.tenants[1].status = 'SUSPENDED'
    s.tenants.push({id: 'initech', status: 'ACTIVE'})
    s.keys[0].status = 'REVOKED'
    const d = diffConfig(config, s)
    expect(d.map((x) => `${x.area}|${x.subject}|${x.field}|${x.config}|${x.stored}|${x.apply}`)).toEqual([
      'budget|tenant:globex CREDITS|presence|present|null|none',
      'budget|tenant:acme/agent:new TOKENS|presence|null|present|none',
      'tenant|globex|status|ACTIVE|SUSPENDED|none',
      'tenant|initech|presence|null|present|none',
      `api_key|${configKeyIds(config)[0].key_id}|status|ACTIVE|REVOKED|none`,
    ])
    expect(d[2].note).toBe('not applied from the file: cycles tenant reactivate globex --reason …')
    expect(d[4].note).toMatch(/never brought back from the file/)
  })

  it('says in one line where each value is and what applies it', () => {
    const s = seeded()
    s.tiers!.low = {mode: 'shadow', enforce_percent: 10}
    s.budgets[0].allocated = 4000
    const lines = diffConfig(config, s).map(describeDifference)
    expect(lines[0]).toBe('tier low: mode enforce in the file, shadow in the store — the stored value is in effect; `cycles config apply` or `daemon start --config-wins` applies the file (set tier)')
    expect(lines[1]).toMatch(/^budget tenant:acme USD_MICROCENTS: allocated 1,000 in the file, 4,000 in the store — /)
  })

  it('at start: lists every value difference, summarises store-only entries past ten', () => {
    const s = seeded()
    s.tiers!.medium = {mode: 'enforce', enforce_percent: 100}
    for (let i = 0; i < 14; i++) s.budgets.push({scope: `tenant:acme/agent:a${i}`, unit: 'TOKENS', allocated: 1, overdraft_limit: 0, status: 'ACTIVE'})
    const lines = startupLines(diffConfig(config, s), 'cycles.yaml', false)
    expect(lines[0]).toBe('config: 15 difference(s) between cycles.yaml and the stored state; the stored state is in effect (run-time changes survive restarts):')
    expect(lines.filter((l) => l.includes('tier medium: mode shadow in the file, enforce in the store'))).toHaveLength(1)
    expect(lines.filter((l) => l.includes('in the store, not in the file'))).toHaveLength(10)
    expect(lines).toContain('  … and 4 more budget(s) only in the store (cycles config diff lists them all)')
    expect(lines.at(-1)).toMatch(/cycles config apply/)
    expect(startupLines([], 'cycles.yaml', false)).toEqual(['config: cycles.yaml matches the stored state'])
  })

  it('idempotency keys of allocation resets depend on the change, not only on the target', () => {
    const a = resetIdempotencyKey('tenant:acme', 'USD_MICROCENTS', 4000, 1000)
    expect(resetIdempotencyKey('tenant:acme', 'USD_MICROCENTS', 4000, 1000)).toBe(a)
    expect(resetIdempotencyKey('tenant:acme', 'USD_MICROCENTS', 3000, 1000)).not.toBe(a)
    expect(resetIdempotencyKey('tenant:acme', 'TOKENS', 4000, 1000)).not.toBe(a)
  })
})

describe('config validate', () => {
  it('a valid file: counts and warnings for values that will not do what they say', () => {
    const text = CONFIG.replace('medium: {mode: shadow}', 'medium: {mode: shadow, enforce_percent: 20}').replace('tenant:globex", unit: CREDITS', 'tenant:initech", unit: CREDITS')
    const r = validateConfigText(text, 'cycles.yaml')
    expect(r.valid).toBe(true)
    expect(r.summary).toEqual({tenants: 2, api_keys: 1, budgets: 3, tiers: {low: 'enforce 10 %', medium: 'shadow', high: 'shadow'}})
    expect(r.warnings).toEqual([
      {path: 'tiers.medium.enforce_percent', message: '20 has no effect while the tier is in shadow mode'},
      {path: 'budgets[2].scope', message: "tenant 'initech' is not under tenants:; its traffic is refused until it exists"},
    ])
  })

  it('an invalid file: every problem with the path of its field', () => {
    const text = CONFIG.replace('allocated: 300', 'allocated: -3').replace('low: {mode: enforce', 'low: {mode: enforced').replace('{id: globex}', '{id: globex, colour: red}')
    const r = validateConfigText(text, 'cycles.yaml')
    expect(r.valid).toBe(false)
    expect(r.issues.map((i) => i.path).sort()).toEqual(['budgets[1].allocated', 'tenants[1]', 'tiers.low.mode'])
    expect(r.issues.find((i) => i.path === 'tenants[1]')!.message).toBe('unknown key(s) colour')
  })

  it('not YAML at all', () => {
    const r = validateConfigText('tenants: [\n', 'cycles.yaml')
    expect(r).toMatchObject({valid: false, issues: [{path: '(file)'}]})
    expect(r.issues[0].message).toMatch(/^not valid YAML/)
  })
})
