// Exact scope paths, level values and error texts of src/protocol/scope.ts at the edges the last
// Stryker run found unpinned: surrounding blanks, a missing level, tied and distant suggestions.
import {describe, expect, it} from 'vitest'

import {leafSegment, parseScope, scopeLevelValue, ScopeSyntaxError} from '../../src/protocol/scope.js'

function syntaxError(input: string): ScopeSyntaxError {
  try {
    parseScope(input)
  } catch (error) {
    expect(error).toBeInstanceOf(ScopeSyntaxError)
    return error as ScopeSyntaxError
  }
  throw new Error(`accepted ${input}`)
}

describe('leafSegment', () => {
  it('is the part after the last slash, or the whole path', () => {
    expect(leafSegment('tenant:a/agent:b')).toBe('agent:b')
    expect(leafSegment('tenant:a')).toBe('tenant:a')
    expect(leafSegment('/tenant:a')).toBe('tenant:a')
  })
})

describe('scopeLevelValue', () => {
  it('finds the named level, not the first one', () => {
    expect(scopeLevelValue('tenant:a/workspace:w/agent:b', 'agent')).toBe('b')
    expect(scopeLevelValue('tenant:a/workspace:w/agent:b', 'workspace')).toBe('w')
    expect(scopeLevelValue('tenant:a/agent:b', 'app')).toBeUndefined()
  })
})

describe('parseScope', () => {
  it('trims surrounding blanks before parsing', () => {
    expect(parseScope('  tenant:Acme/agent:Bot \n')).toBe('tenant:acme/agent:bot')
  })

  it('calls an empty or blank scope empty', () => {
    expect(syntaxError('').message).toBe('scope is empty; expected e.g. tenant:acme/agent:bot')
    expect(syntaxError('   ').message).toBe('scope is empty; expected e.g. tenant:acme/agent:bot')
  })

  it('calls a segment without a level not <level>:<value>', () => {
    const error = syntaxError(':acme')
    expect(error.message).toBe("scope segment ':acme' is not <level>:<value>")
    expect(error.suggestion).toBe('expected e.g. tenant:acme/agent:bot')
  })

  it('suggests the first of equally near levels, only within distance 3, counting every letter', () => {
    const levels = 'levels are tenant, workspace, app, workflow, agent, toolset'
    // 'age' is 2 edits from both app and agent: the earlier level in hierarchy order wins.
    expect(syntaxError('tenant:a/age:x').suggestion).toBe(`did you mean 'app:'? ${levels}`)
    // 'tool' is 3 edits from toolset (the limit itself); its last letter matters.
    expect(syntaxError('tenant:a/tool:x').suggestion).toBe(`did you mean 'toolset:'? ${levels}`)
    expect(syntaxError('tenant:a/zzzz:x').suggestion).toBe(levels)
    expect(syntaxError('tenant:a/zzzz:x').message).toBe("unknown scope level 'zzzz:' in 'tenant:a/zzzz:x'")
  })
})
