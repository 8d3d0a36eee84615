// The admin-key matcher (src/admin/auth.ts) on presented values that are empty or not strings.
import {describe, expect, it} from 'vitest'

import {adminKeyMatcher} from '../../src/admin/auth.js'

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
