// The conformance checks themselves must be able to fail: feed them what the SDK would reject.
import {describe, expect, it, vi} from 'vitest'

import {SPEC_CHECKS, sdkStrictErrors, specErrors} from '../support/spec.js'

const ok = {decision: 'ALLOW', affected_scopes: ['tenant:a'], scope_path: 'tenant:a', reserved: {unit: 'TOKENS', amount: 1}}

// Runs whenever the spec files are there (always in .ci/run); the run's first line says when they are not.
describe.runIf(SPEC_CHECKS)('official-spec validator (needs the official spec files: CYCLES_SPEC_DIR)', () => {
  it('accept a valid dry-run response', () => {
    expect(specErrors('runtime', 'ReservationCreateResponse', ok)).toBeUndefined()
    expect(sdkStrictErrors(ok)).toEqual([])
  })

  it.each([
    ['an unknown key', {...ok, shadow_decision: 'DENY'}],
    ['a null', {...ok, reservation_id: null}],
    ['a bad enum', {...ok, decision: 'MAYBE'}],
    ['a negative amount', {...ok, reserved: {unit: 'TOKENS', amount: -1}}],
    ['an extra amount key', {...ok, reserved: {unit: 'TOKENS', amount: 1, currency: 'x'}}],
    ['a missing required key', {decision: 'ALLOW'}],
  ])('reject %s', (_name, body) => {
    expect(specErrors('runtime', 'ReservationCreateResponse', body)).toBeTypeOf('string')
  })

})

describe('SDK-strict validator', () => {
  it('flags nothing in a valid body', () => expect(sdkStrictErrors(ok)).toEqual([]))

  it('flag nulls and unsafe integers anywhere', () => {
    expect(sdkStrictErrors({a: [{b: null}], c: 2 ** 53})).toEqual(['body.a[0].b is null', `body.c is not a safe integer (${2 ** 53})`])
  })
})

describe('where the spec files come from', () => {
  it('a CYCLES_SPEC_DIR without the files fails the check that needs them instead of skipping it', async () => {
    const before = process.env.CYCLES_SPEC_DIR
    process.env.CYCLES_SPEC_DIR = '/nonexistent/cycles-spec'
    vi.resetModules()
    try {
      const spec = await import('../support/spec.js')
      expect(spec.SPEC_REQUIRED).toBe(true)
      expect(spec.specChecksBanner()).toBe('official spec checks: ON (CYCLES_SPEC_DIR=/nonexistent/cycles-spec)')
      expect(() => spec.specErrors('runtime', 'ReservationCreateResponse', ok)).toThrow('official spec file missing: /nonexistent/cycles-spec/cycles-protocol-v0.yaml')
    } finally {
      if (before === undefined) delete process.env.CYCLES_SPEC_DIR
      else process.env.CYCLES_SPEC_DIR = before
      vi.resetModules()
    }
  })
})
