// The conformance checks themselves must be able to fail: feed them what the SDK would reject.
import {describe, expect, it} from 'vitest'

import {sdkStrictErrors, specErrors} from '../support/spec.js'

describe('official-spec and SDK-strict validators', () => {
  const ok = {decision: 'ALLOW', affected_scopes: ['tenant:a'], scope_path: 'tenant:a', reserved: {unit: 'TOKENS', amount: 1}}

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

  it('flag nulls and unsafe integers anywhere', () => {
    expect(sdkStrictErrors({a: [{b: null}], c: 2 ** 53})).toEqual(['body.a[0].b is null', `body.c is not a safe integer (${2 ** 53})`])
  })
})
