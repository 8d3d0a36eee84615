// The admin-key matcher (src/admin/auth.ts) on presented values that are empty or not strings.
import {describe, expect, it} from 'vitest'

import {adminKeyMatcher, keyUsable, publicKeyPrefix} from '../../src/admin/auth.js'
import type {ApiKey} from '../../src/protocol/types.js'

describe('adminKeyMatcher', () => {
  it('matches the configured key only', () => {
    const matches = adminKeyMatcher('s3cret')
    expect(matches('s3cret')).toBe(true)
    expect(matches('s3cret ')).toBe(false)
    expect(matches('')).toBe(false)
  })

  it('never matches an empty presented key, even against an empty configuration', () => {
    expect(adminKeyMatcher('')('')).toBe(false)
  })

  it('answers false (no exception) for a header that is not a string', () => {
    const matches = adminKeyMatcher('s3cret')
    expect(matches(undefined as unknown as string)).toBe(false)
    expect(matches(['s3cret'] as unknown as string)).toBe(false)
  })
})

describe('keyUsable and publicKeyPrefix at their edges', () => {
  const key = (over: Partial<ApiKey>) => ({status: 'ACTIVE', ...over}) as ApiKey
  it('a key is unusable from its expiry instant on (expires_at is exclusive)', () => {
    expect(keyUsable(key({expires_at_ms: 1000}), 999)).toBe(true)
    expect(keyUsable(key({expires_at_ms: 1000}), 1000)).toBe(false)
    expect(keyUsable(key({}), 1e15)).toBe(true)
    expect(keyUsable(key({status: 'REVOKED'}), 0)).toBe(false)
  })
  it('the prefix is the scheme at the start only; nothing of a value that merely contains it', () => {
    expect(publicKeyPrefix('cyc_live_abcdef')).toBe('cyc_live_')
    expect(publicKeyPrefix('cyc_test_abcdef')).toBe('cyc_test_')
    expect(publicKeyPrefix('xcyc_live_abcdef')).toBe('')
    expect(publicKeyPrefix('secret')).toBe('')
  })
})
