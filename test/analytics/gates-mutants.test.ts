// not_ready:<tier> gates at their edges (kills surviving mutants of src/analytics/gates.ts, issue 17):
// a tier with no row passes, and a long blocker list is cut to five in the message.
import {describe, expect, it} from 'vitest'

import {evaluateGates} from '../../src/analytics/gates.js'
import type {Report, ScopeRow} from '../../src/analytics/report.js'

const row = (over: Partial<ScopeRow>): ScopeRow =>
  ({scope: 'tenant:a', unit: 'TOKENS', band: 'goldilocks', verdict: 'ready', message: 'ready to enforce', tiers: ['low'], overage_rate: null, ...over}) as ScopeRow

const reportOf = (scopes: ScopeRow[], by: string): Report =>
  ({scopes, filters: {by}, loops: [], fanout: [], thresholds: {overageThreshold: 0.05}}) as unknown as Report

describe('not_ready:<tier> edges', () => {
  it('--by tier: a tier without a row, or a row without blockers, passes', () => {
    const report = reportOf([row({scope: 'medium', tiers: ['medium'], verdict: 'too_tight', blockers: ['tenant:b (TOKENS): too_tight']}), row({scope: 'low', tiers: ['low']})], 'tier')
    expect(evaluateGates(report, ['not_ready:high', 'not_ready:low'])).toEqual([])
    expect(evaluateGates(report, ['not_ready:medium']).map((v) => v.subject)).toEqual(['tier medium'])
  })

  it('the message names the number of blockers and the first five of them', () => {
    const scopes = Array.from({length: 7}, (_, i) => row({scope: `tenant:s${i}`, tiers: ['high'], verdict: 'warm', band: 'warm'}))
    const [v] = evaluateGates(reportOf(scopes, 'scope'), ['not_ready:high'])
    expect(v).toEqual({
      gate: 'not_ready:high',
      subject: 'tier high',
      message: 'tier high is not ready: 7 blocker(s): tenant:s0 (TOKENS): warm; tenant:s1 (TOKENS): warm; tenant:s2 (TOKENS): warm; tenant:s3 (TOKENS): warm; tenant:s4 (TOKENS): warm',
    })
  })
})
