import {describe, expect, it} from 'vitest'

import {ProtocolError} from '../../src/protocol/errors.js'
import {ScopeSyntaxError, deriveScopes, leafSegment, parseScope} from '../../src/protocol/scope.js'

describe('deriveScopes (cycles-protocol.md §3)', () => {
  it.each([
    [{tenant: 'acme'}, ['tenant:acme']],
    [{tenant: 'Acme', workspace: 'Prod'}, ['tenant:acme', 'tenant:acme/workspace:prod']],
    [
      {tenant: 'acme', workspace: 'prod', agent: 'summarizer'},
      ['tenant:acme', 'tenant:acme/workspace:prod', 'tenant:acme/workspace:prod/agent:summarizer'],
    ],
    // gaps are skipped, never filled
    [{tenant: 'acme', toolset: 'web'}, ['tenant:acme', 'tenant:acme/toolset:web']],
    // no tenant: the key's tenant is not injected
    [{agent: 'x'}, ['agent:x']],
    // blank values count as absent
    [{tenant: 'acme', workspace: '  ', app: 'a'}, ['tenant:acme', 'tenant:acme/app:a']],
    // order is the hierarchy's, not the object's
    [{toolset: 't', agent: 'a', workflow: 'w', app: 'p', workspace: 's', tenant: 'x'}, [
      'tenant:x', 'tenant:x/workspace:s', 'tenant:x/workspace:s/app:p', 'tenant:x/workspace:s/app:p/workflow:w',
      'tenant:x/workspace:s/app:p/workflow:w/agent:a', 'tenant:x/workspace:s/app:p/workflow:w/agent:a/toolset:t',
    ]],
    // dimensions never enter the path
    [{tenant: 'acme', dimensions: {run_id: 'r1'}}, ['tenant:acme']],
  ])('%j → %j', (subject, expected) => {
    const derived = deriveScopes(subject)
    expect(derived.affected_scopes).toEqual(expected)
    expect(derived.scope_path).toBe(expected.at(-1))
  })

  it.each([
    [{tenant: 'ac me'}],
    [{tenant: 'acme/x'}],
    [{tenant: 'acme', agent: 'a:b'}],
    [{dimensions: {run_id: 'r'}}],
    [{}],
    [{tenant: '', workspace: ''}],
  ])('rejects %j with INVALID_REQUEST', (subject) => {
    expect(() => deriveScopes(subject)).toThrowError(ProtocolError)
    try {
      deriveScopes(subject)
    } catch (error) {
      expect((error as ProtocolError).code).toBe('INVALID_REQUEST')
      expect((error as ProtocolError).status).toBe(400)
    }
  })

  it('leafSegment gives the last segment', () => {
    expect(leafSegment('tenant:acme/workspace:prod')).toBe('workspace:prod')
    expect(leafSegment('tenant:acme')).toBe('tenant:acme')
  })
})

describe('parseScope (config and CLI grammar)', () => {
  it('normalises values to lower case', () => {
    expect(parseScope('tenant:Acme/agent:Bot')).toBe('tenant:acme/agent:bot')
  })

  it.each([
    ['tenant:acme/agents:x', /unknown scope level 'agents:'/, /did you mean 'agent:'/],
    ['workspace:prod', /must start with tenant:/, undefined],
    ['tenant:acme/agent:x/workspace:y', /out of order/, undefined],
    ['tenant:acme/tenant:b', /out of order or repeated/, undefined],
    ['tenant:ac me', /must match/, undefined],
    ['tenant', /not <level>:<value>/, undefined],
    ['', /empty/, undefined],
  ])('%s is rejected', (input, message, suggestion) => {
    try {
      parseScope(input)
      expect.fail('should have thrown')
    } catch (error) {
      expect(error).toBeInstanceOf(ScopeSyntaxError)
      expect((error as Error).message).toMatch(message)
      if (suggestion) expect((error as ScopeSyntaxError).suggestion).toMatch(suggestion)
    }
  })
})
