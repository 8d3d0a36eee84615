import {describe, expect, it} from 'vitest'

import {CliError, EXIT} from '../../src/cli/errors.js'
import {parseConfig} from '../../src/config/load.js'
import {FIXTURE_CONFIG} from '../support/daemon.js'

function configError(text: string): CliError {
  try {
    parseConfig(text, 'bad.yaml')
  } catch (error) {
    return error as CliError
  }
  throw new Error('config was accepted')
}

describe('config validation', () => {
  it('accepts the fixture and fills defaults', () => {
    const c = parseConfig(FIXTURE_CONFIG, 'fixtures/cycles.yaml')
    expect(c.tenants.map((t) => t.id)).toEqual(['acme', 'globex'])
    expect(c.tenants[0].status).toBe('ACTIVE')
    expect(c.budgets[0]).toMatchObject({scope: 'tenant:acme', unit: 'USD_MICROCENTS', allocated: 100000000, overdraft_limit: 0, status: 'ACTIVE'})
    expect(c.tiers.medium).toEqual({mode: 'shadow', enforce_percent: 100, match: ['llm.*'], on_store_error: 'deny'})
  })

  it.each([
    ['budgets:\n  - {scope: "tenant:acme/agents:x", unit: TOKENS, allocated: 1}', /budgets\[0\]\.scope: unknown scope level 'agents:'.*did you mean 'agent:'/],
    ['budgets:\n  - {scope: "tenant:acme", unit: EUROS, allocated: 1}', /budgets\[0\]\.unit: expected one of USD_MICROCENTS/],
    ['budgets:\n  - {scope: "tenant:acme", unit: TOKENS, allocated: "lots"}', /budgets\[0\]\.allocated/],
    ['budgets:\n  - {scope: "tenant:acme", unit: TOKENS, allocated: 1}\n  - {scope: "tenant:ACME", unit: TOKENS, allocated: 2}', /budgets\[1\]: duplicate budget tenant:acme TOKENS/],
    ['tenants:\n  - {id: acme, colour: red}', /tenants\[0\]: unknown key\(s\) colour/],
    ['api_keys:\n  - {tenant: nobody, secret: cyc_test_123456789}', /api_keys\[0\]\.tenant: unknown tenant 'nobody'/],
    ['tiers:\n  low: {mode: observe, match: []}', /tiers\.low\.mode/],
    ['budgets: [1, 2', /not valid YAML/],
    ['admin_key_env: "CYCLES ADMIN KEY"', /admin_key_env: expected the name of an environment variable/],
    ['admin_key: admin_key_for_tests_0123\nadmin_key_env: CYCLES_ADMIN_API_KEY', /admin_key_env: give admin_key or admin_key_env, not both/],
  ])('%s', (text, message) => {
    const error = configError(text)
    expect(error).toBeInstanceOf(CliError)
    expect(error.exit).toBe(EXIT.CONFIG)
    expect(error.message).toMatch(/^bad\.yaml: /)
    expect(error.message).toMatch(message)
  })
})
