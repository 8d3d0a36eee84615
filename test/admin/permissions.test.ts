import {describe, expect, it} from 'vitest'

import {RUNTIME_PERMISSIONS, buildScopeFilter, compileScopeFilter, permits, scopeFilterProblem} from '../../src/admin/permissions.js'
import {DEFAULT_PERMISSIONS} from '../../src/admin/requests.js'
import {CliError, EXIT} from '../../src/cli/errors.js'
import {parseConfig} from '../../src/config/load.js'

describe('permissions', () => {
  it('maps every runtime operation to one permission of the spec', () => {
    expect(RUNTIME_PERMISSIONS).toEqual({
      reserve: 'reservations:create',
      decide: 'reservations:create',
      commit: 'reservations:commit',
      event: 'reservations:commit',
      release: 'reservations:release',
      extend: 'reservations:extend',
      balances: 'balances:read',
      listReservations: 'reservations:list',
      getReservation: 'reservations:list',
      listEvents: 'events:read',
    })
  })

  it('grants exactly what is held, plus the admin:read / admin:write wildcards', () => {
    expect(permits(['balances:read'], 'balances:read')).toBe(true)
    expect(permits(['balances:read'], 'reservations:create')).toBe(false)
    expect(permits([], 'balances:read')).toBe(false)
    // admin:read satisfies *:read and reservations:list, never a write
    expect(permits(['admin:read'], 'balances:read')).toBe(true)
    expect(permits(['admin:read'], 'reservations:list')).toBe(true)
    expect(permits(['admin:read'], 'reservations:create')).toBe(false)
    expect(permits(['admin:read'], 'budgets:write')).toBe(false)
    // admin:write satisfies *:write and the reservation writes, not reads
    expect(permits(['admin:write'], 'reservations:commit')).toBe(true)
    expect(permits(['admin:write'], 'budgets:write')).toBe(true)
    expect(permits(['admin:write'], 'balances:read')).toBe(false)
    // granular admin permissions are not wildcards, but stand for their own resource (the spec's capability table)
    expect(permits(['admin:budgets:read'], 'balances:read')).toBe(false)
    expect(permits(['admin:policies:read'], 'policies:read')).toBe(true)
    expect(permits(['admin:policies:write'], 'policies:write')).toBe(true)
    expect(permits(['admin:policies:read'], 'policies:write')).toBe(false)
    expect(permits(['admin:budgets:write'], 'budgets:write')).toBe(true)
    expect(permits(['admin:webhooks:read'], 'webhooks:read')).toBe(true)
    expect(permits(['admin:events:read'], 'events:read')).toBe(true)
    expect(permits(['admin:budgets:read'], 'policies:read')).toBe(false)
    expect(permits(['admin:tenants:read'], 'tenants:read')).toBe(false)
    // a wildcard never stands in for an admin:* permission
    expect(permits(['admin:read'], 'admin:audit:read')).toBe(false)
  })

  it('has the spec default set for new keys: ten permissions, no webhooks/events', () => {
    expect([...DEFAULT_PERMISSIONS].sort()).toEqual(
      ['reservations:create', 'reservations:commit', 'reservations:release', 'reservations:extend', 'reservations:list', 'balances:read', 'budgets:read', 'budgets:write', 'policies:read', 'policies:write'].sort(),
    )
  })
})

describe('scope filters', () => {
  const allows = (filter: string[], scope: string) => buildScopeFilter(filter).allows(scope)

  it('a single segment matches that segment anywhere in the path', () => {
    expect(allows(['workspace:eng'], 'tenant:acme/workspace:eng')).toBe(true)
    expect(allows(['workspace:eng'], 'tenant:acme/workspace:eng/agent:bot')).toBe(true)
    expect(allows(['workspace:eng'], 'tenant:acme/workspace:prod/agent:bot')).toBe(false)
    expect(allows(['workspace:eng'], 'tenant:acme')).toBe(false)
    expect(allows(['agent:bot'], 'tenant:acme/workspace:x/agent:bot')).toBe(true)
  })

  it('a level wildcard needs a segment of that level', () => {
    expect(allows(['agent:*'], 'tenant:acme/agent:anything')).toBe(true)
    expect(allows(['agent:*'], 'tenant:acme/workspace:eng')).toBe(false)
  })

  it('the spec example ["workspace:eng", "agent:*"] limits the key to agents of the eng workspace', () => {
    const f = ['workspace:eng', 'agent:*']
    expect(allows(f, 'tenant:acme/workspace:eng/agent:bot')).toBe(true)
    expect(allows(f, 'tenant:acme/workspace:prod/agent:bot')).toBe(false)
    expect(allows(f, 'tenant:acme/workspace:eng')).toBe(false)
  })

  it('entries of the same level are alternatives', () => {
    const f = ['workspace:eng', 'workspace:ops']
    expect(allows(f, 'tenant:acme/workspace:eng')).toBe(true)
    expect(allows(f, 'tenant:acme/workspace:ops/agent:x')).toBe(true)
    expect(allows(f, 'tenant:acme/workspace:prod')).toBe(false)
  })

  it('a path from the tenant is an exact scope; * as a value matches any; a trailing /* admits the subtree', () => {
    expect(allows(['tenant:acme/workspace:eng'], 'tenant:acme/workspace:eng')).toBe(true)
    expect(allows(['tenant:acme/workspace:eng'], 'tenant:acme/workspace:eng/agent:bot')).toBe(false)
    expect(allows(['tenant:acme/workspace:*'], 'tenant:acme/workspace:ops')).toBe(true)
    expect(allows(['tenant:acme/workspace:*'], 'tenant:acme/agent:ops')).toBe(false)
    expect(allows(['tenant:acme/workspace:eng/*'], 'tenant:acme/workspace:eng')).toBe(true)
    expect(allows(['tenant:acme/workspace:eng/*'], 'tenant:acme/workspace:eng/app:a/agent:b')).toBe(true)
    expect(allows(['tenant:acme/workspace:eng/*'], 'tenant:acme/workspace:prod/agent:b')).toBe(false)
    expect(allows(['tenant:acme/*'], 'tenant:acme/app:x')).toBe(true)
    expect(allows(['tenant:acme/*'], 'tenant:globex/app:x')).toBe(false)
  })

  it('paths and segments combine: every level named must hold', () => {
    const f = ['tenant:acme/workspace:eng/*', 'agent:bot']
    expect(allows(f, 'tenant:acme/workspace:eng/agent:bot')).toBe(true)
    expect(allows(f, 'tenant:acme/workspace:eng/agent:other')).toBe(false)
  })

  it('is case-insensitive like scopes (values are lower-cased)', () => {
    expect(allows(['workspace:ENG'], 'tenant:acme/workspace:eng')).toBe(true)
  })

  it('no filter or an empty one admits every scope', () => {
    expect(compileScopeFilter(undefined)).toBeUndefined()
    expect(compileScopeFilter([])).toBeUndefined()
  })

  it('rejects malformed entries with a message naming the entry', () => {
    expect(scopeFilterProblem(['workspace:eng', 'agent:*', 'tenant:acme/*'])).toBeUndefined()
    expect(scopeFilterProblem(['agents:bot'])).toContain("'agents:bot'")
    expect(scopeFilterProblem(['workspace'])).toContain("'workspace'")
    expect(scopeFilterProblem(['workspace:eng/agent:x'])).toContain('must start with tenant:')
    expect(scopeFilterProblem(['tenant:acme/agent:x/workspace:y'])).toContain('out of order')
    expect(scopeFilterProblem(['workspace:a b'])).toContain('must be *')
  })

  it('a stored filter that no longer parses admits nothing (fail closed)', () => {
    const f = compileScopeFilter(['bogus'])
    expect(f?.allows('tenant:acme')).toBe(false)
  })
})

describe('config keys', () => {
  const base = 'tenants:\n  - {id: acme}\napi_keys:\n'
  const parse = (key: string) => {
    try {
      return {config: parseConfig(`${base}  - {tenant: acme, secret: cyc_test_abcdefgh, ${key}}\n`, 'keys.yaml')}
    } catch (error) {
      return {error: error as CliError}
    }
  }

  it('accepts spec permissions and scope filters, and names a bad one', () => {
    const ok = parse('permissions: [balances:read, admin:read], scope_filter: ["workspace:eng", "tenant:acme/*"]')
    expect(ok.config?.api_keys[0]).toMatchObject({permissions: ['balances:read', 'admin:read'], scope_filter: ['workspace:eng', 'tenant:acme/*']})
    const badPermission = parse('permissions: [reservations:delete]')
    expect(badPermission.error?.exit).toBe(EXIT.CONFIG)
    expect(badPermission.error?.message).toMatch(/api_keys\[0\]\.permissions\[0\]: expected a permission of the admin spec/)
    const badFilter = parse('scope_filter: ["agents:bot"]')
    expect(badFilter.error?.message).toMatch(/api_keys\[0\]\.scope_filter: scope_filter entry 'agents:bot'/)
  })
})
