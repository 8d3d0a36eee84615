// Scope-filter parsing and matching (src/admin/permissions.ts) at the edges the last Stryker run left
// unpinned: entries without a colon or with an unknown level, padding, lone '*', repeated levels,
// exact paths against deeper or shallower scopes, and the compiled-filter cache.
import {describe, expect, it} from 'vitest'

import {buildScopeFilter, compileScopeFilter, parseScopeFilterEntry, ScopeFilterError, scopeFilterProblem} from '../../src/admin/permissions.js'

const LEVELS = 'tenant, workspace, app, workflow, agent, toolset'

function filterError(entry: string): string {
  try {
    parseScopeFilterEntry(entry)
  } catch (error) {
    expect(error).toBeInstanceOf(ScopeFilterError)
    return (error as ScopeFilterError).message
  }
  throw new Error(`accepted ${entry}`)
}

describe('parseScopeFilterEntry', () => {
  it('rejects an entry without a colon as not <level>:<value>', () => {
    expect(filterError('agentx')).toBe(`scope_filter entry 'agentx': 'agentx' is not <level>:<value> with a level of ${LEVELS}`)
  })

  it('rejects an unknown level as not <level>:<value>', () => {
    expect(filterError('team:eng')).toBe(`scope_filter entry 'team:eng': 'team:eng' is not <level>:<value> with a level of ${LEVELS}`)
  })

  it('rejects a lone * as not <level>:<value>', () => {
    expect(filterError('*')).toBe(`scope_filter entry '*': '*' is not <level>:<value> with a level of ${LEVELS}`)
  })

  it('rejects a repeated level', () => {
    expect(filterError('tenant:a/tenant:b')).toBe(`scope_filter entry 'tenant:a/tenant:b': levels out of order or repeated (order is tenant → workspace → app → workflow → agent → toolset)`)
  })

  it('trims blanks around an entry', () => {
    expect(parseScopeFilterEntry('  workspace:Eng ')).toStrictEqual({group: 'workspace', segments: [{level: 'workspace', value: 'eng'}], open: false, path: false})
    expect(scopeFilterProblem([' tenant:acme/* '])).toBeUndefined()
  })

  it('opens a path only on a trailing /*', () => {
    expect(parseScopeFilterEntry('tenant:acme/*')).toStrictEqual({group: 'tenant', segments: [{level: 'tenant', value: 'acme'}], open: true, path: true})
    expect(parseScopeFilterEntry('tenant:*')).toStrictEqual({group: 'tenant', segments: [{level: 'tenant', value: '*'}], open: false, path: true})
  })
})

describe('scope filter matching', () => {
  it('an exact path admits that scope only, not a deeper one', () => {
    const filter = buildScopeFilter(['tenant:acme/workspace:eng'])
    expect(filter.allows('tenant:acme/workspace:eng')).toBe(true)
    expect(filter.allows('tenant:acme/workspace:eng/agent:bot')).toBe(false)
    expect(filter.allows('tenant:acme')).toBe(false)
  })

  it('an open path admits the scope and below, not above', () => {
    const filter = buildScopeFilter(['tenant:acme/workspace:eng/*'])
    expect(filter.allows('tenant:acme/workspace:eng')).toBe(true)
    expect(filter.allows('tenant:acme/workspace:eng/agent:bot')).toBe(true)
    expect(filter.allows('tenant:acme')).toBe(false)
  })

  it('an empty filter admits everything', () => {
    expect(buildScopeFilter([]).allows('tenant:acme/agent:x')).toBe(true)
  })
})

describe('compileScopeFilter', () => {
  it('compiles a key filter once and hands out the same one while the entries are unchanged', () => {
    const entries = ['workspace:eng']
    const first = compileScopeFilter(entries)
    expect(first?.allows('tenant:a/workspace:eng')).toBe(true)
    expect(compileScopeFilter(entries)).toBe(first)
  })

  it('fails closed on a stored entry that no longer parses', () => {
    const filter = compileScopeFilter(['team:eng'])
    expect(filter?.allows('tenant:a')).toBe(false)
  })

  it('lets an error that is not a filter error through', () => {
    expect(() => compileScopeFilter([42 as unknown as string])).toThrow(TypeError)
  })
})
