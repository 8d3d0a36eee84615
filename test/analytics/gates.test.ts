// `--fail-on` gates of `cycles shadow report` at their edges: the overage gate trips strictly above
// its threshold, and not_ready:<tier> names the blockers of that tier and no other.
import {describe, expect, it} from 'vitest'

import {evaluateGates, scopeViolations} from '../../src/analytics/gates.js'
import type {Report, ScopeRow} from '../../src/analytics/report.js'

const row = (over: Partial<ScopeRow>): ScopeRow =>
  ({scope: 'tenant:a', unit: 'TOKENS', band: 'goldilocks', verdict: 'ready', message: 'ready to enforce', tiers: ['low'], overage_rate: null, blockers: [], ...over}) as ScopeRow

const reportOf = (scopes: ScopeRow[], by = 'scope'): Report =>
  ({scopes, filters: {by}, loops: [], fanout: [], thresholds: {overageThreshold: 0.05}}) as unknown as Report

describe('report gates', () => {
  it('overage: at the threshold passes, above it fails with the rate and the threshold', () => {
    expect(scopeViolations(row({overage_rate: 0.05}), ['overage'], 0.05)).toEqual([])
    expect(scopeViolations(row({overage_rate: 0.06}), ['overage'], 0.05)).toEqual([
      {gate: 'overage', subject: 'tenant:a (TOKENS)', message: 'tenant:a (TOKENS): 6.0 % of commits exceed their estimate (gate > 5.0 %)'},
    ])
    expect(scopeViolations(row({overage_rate: 0.9}), ['too_tight'], 0.05)).toEqual([])
  })

  it('not_ready:<tier> (by scope): the blockers of that tier only', () => {
    const report = reportOf([
      row({scope: 'tenant:a', tiers: ['low']}),
      row({scope: 'tenant:b', tiers: ['medium'], verdict: 'too_tight', band: 'too_tight'}),
      row({scope: 'tenant:c', tiers: ['medium', 'low']}),
    ])
    expect(evaluateGates(report, ['not_ready:low'])).toEqual([])
    expect(evaluateGates(report, ['not_ready:high'])).toEqual([])
    expect(evaluateGates(report, ['not_ready:medium'])).toEqual([
      {gate: 'not_ready:medium', subject: 'tier medium', message: 'tier medium is not ready: 1 blocker(s): tenant:b (TOKENS): too_tight'},
    ])
  })

  it('not_ready:<tier> (by tier): read from the tier row its blockers', () => {
    const report = reportOf([row({scope: 'low', tiers: ['low'], blockers: []}), row({scope: 'medium', tiers: ['medium'], blockers: ['tenant:b (TOKENS): warm', 'tenant:d (CREDITS): estimates']})], 'tier')
    expect(evaluateGates(report, ['not_ready:low'])).toEqual([])
    expect(evaluateGates(report, ['not_ready:medium'])).toEqual([
      {gate: 'not_ready:medium', subject: 'tier medium', message: 'tier medium is not ready: 2 blocker(s): tenant:b (TOKENS): warm; tenant:d (CREDITS): estimates'},
    ])
  })
})
