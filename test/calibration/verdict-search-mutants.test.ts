// The verdict engine (src/calibration/verdict.ts) and the limit search (src/calibration/search.ts),
// pure: every verdict's exact message, action command and findings, the precedence edges, and the
// search's answer, method and replay count on hand-traced rate functions (issue 17 survivors).
import {describe, expect, it} from 'vitest'

import {type VerdictInput, decideVerdict, estimateFindings, limitCommand, tierReadiness} from '../../src/calibration/verdict.js'
import {type RateAt, nextReadable, roundReadable, searchLimit} from '../../src/calibration/search.js'

const O = {minRequests: 30, overageThreshold: 0.05}
const SCOPE = 'tenant:acme/agent:w'
const U = 'USD_MICROCENTS'
/** 1000 requests, estimates on target, 2 % would-be denials (goldilocks) unless overridden. */
const input = (o: Partial<VerdictInput> = {}): VerdictInput => ({
  scope: SCOPE,
  unit: U,
  requests: 1000,
  would_denials: 20,
  reasons: {BUDGET_EXCEEDED: 20},
  commits: 900,
  reserve_commit_ratio: 1,
  overage_rate: 0,
  tiers: ['medium'],
  ...o,
})
const limited = (would: number, o: Partial<VerdictInput> = {}) => decideVerdict(input({would_denials: would, reasons: would > 0 ? {BUDGET_EXCEEDED: would} : {}, ...o}), O)
const RESET = (amount: number, scope = SCOPE) => `cycles budget reset --scope ${scope} --unit ${U} --amount ${amount} --reason 'cycles calibrate' --yes`

describe('decideVerdict: the limit verdicts', () => {
  it('goldilocks is ready: enforce the first tier, or nothing to do without tiers', () => {
    expect(limited(20)).toEqual({verdict: 'ready', band: 'goldilocks', denial_rate: 0.02, message: 'goldilocks: 2.0 % would be denied — ready to enforce', action: {kind: 'enforce_tier', command: 'cycles tier set medium enforce'}, findings: []})
    expect(limited(20, {tiers: ['high', 'low']}).action.command).toBe('cycles tier set high enforce')
    expect(limited(20, {tiers: []}).action).toEqual({kind: 'none', command: null})
  })

  it('too tight: the replayed suggestion when there is one (with or without its rate), else raise / calibrate', () => {
    expect(limited(80, {suggested_allocated: 12_345, suggested_denial_rate: 0.021})).toEqual({
      verdict: 'too_tight',
      band: 'too_tight',
      denial_rate: 0.08,
      message: 'too tight: 8.0 % would be denied — set 12,345 (replayed: 2.1 % denied)',
      action: {kind: 'set_limit', command: RESET(12_345)},
      findings: [],
    })
    expect(limited(80, {suggested_allocated: 12_345, suggested_denial_rate: null}).message).toBe('too tight: 8.0 % would be denied — set 12,345')
    expect(limited(80, {suggested_allocated: 12_345}).message).toBe('too tight: 8.0 % would be denied — set 12,345')
    for (const none of [{}, {suggested_allocated: null}]) {
      const r = limited(80, none)
      expect(r.message).toBe('too tight: 8.0 % would be denied — raise the limit')
      expect(r.action).toEqual({kind: 'calibrate', command: 'cycles calibrate --tenant acme'})
    }
  })

  it('warm, loose and decorative, each with and without a suggestion', () => {
    expect(limited(40).message).toBe('running warm: 4.0 % would be denied — investigate before enforcing')
    expect(limited(40, {suggested_allocated: 900, suggested_denial_rate: 0.02}).message).toBe('running warm: 4.0 % would be denied — set 900 (replayed: 2.0 % denied)')
    expect(limited(5)).toMatchObject({verdict: 'loose', band: 'loose', denial_rate: 0.005, message: 'loose: 0.50 % would be denied — the limit rarely bites; tighten it'})
    expect(limited(5, {suggested_allocated: 700}).message).toBe('loose: 0.50 % would be denied — set 700')
    expect(limited(0)).toMatchObject({verdict: 'decorative', band: 'decorative', denial_rate: 0, message: 'decorative: nothing would be denied — tighten the limit, it protects nothing', findings: []})
    expect(limited(0, {suggested_allocated: 1_500_000, suggested_denial_rate: 0.015}).message).toBe('decorative: nothing would be denied — set 1,500,000 (replayed: 1.5 % denied)')
    expect(limited(0, {suggested_allocated: 1_500_000}).action).toEqual({kind: 'set_limit', command: RESET(1_500_000)})
  })

  it('the tenant for commands: the row\'s own tenant first, else tenant:<id> anywhere in the path, else none', () => {
    expect(limited(80, {tenant: 'zed'}).action.command).toBe('cycles calibrate --tenant zed')
    expect(limited(80, {tenant: 'a b'}).action.command).toBe("cycles calibrate --tenant 'a b'")
    expect(limited(80, {scope: 'org:o/tenant:bob/agent:y'}).action.command).toBe('cycles calibrate --tenant bob')
    expect(limited(80, {scope: 'xtenant:foo'}).action.command).toBe('cycles calibrate')
    expect(limited(80, {scope: 'org:x'}).action.command).toBe('cycles calibrate')
  })

  it('quotes a scope only when the shell needs it, escaping quotes', () => {
    expect(limitCommand('tenant:acme/agent:w-1.b_2', 'TOKENS', 5)).toBe("cycles budget reset --scope tenant:acme/agent:w-1.b_2 --unit TOKENS --amount 5 --reason 'cycles calibrate' --yes")
    expect(limitCommand('tenant:a b', 'TOKENS', 5)).toBe("cycles budget reset --scope 'tenant:a b' --unit TOKENS --amount 5 --reason 'cycles calibrate' --yes")
    expect(limitCommand("tenant:o'neil", 'TOKENS', 5)).toBe("cycles budget reset --scope 'tenant:o'\\''neil' --unit TOKENS --amount 5 --reason 'cycles calibrate' --yes")
    expect(limitCommand('a b/c', 'TOKENS', 5)).toContain("--scope 'a b/c' ")
  })

  it('no requests: insufficient data with a 0 (not NaN) denial rate', () => {
    expect(decideVerdict(input({requests: 0, would_denials: 0, reasons: {}}), O)).toMatchObject({verdict: 'insufficient_data', band: 'insufficient_data', denial_rate: 0})
  })
})

describe('decideVerdict: configuration errors come first', () => {
  it('a scope with no budget: create one at the observed demand (at least 1), no share when nothing was denied', () => {
    expect(decideVerdict(input({unbudgeted: true, would_denials: 0, reasons: {}, demand: 1234.2}), O)).toEqual({
      verdict: 'config_error',
      band: 'decorative',
      denial_rate: 0,
      message: `configuration: no budget in ${U} covers this scope — configure a budget`,
      action: {kind: 'create_budget', command: `cycles budget create --scope ${SCOPE} --unit ${U} --amount 1235`},
      findings: [],
    })
    expect(decideVerdict(input({unbudgeted: true, would_denials: 0, reasons: {}}), O).action.command).toBe(`cycles budget create --scope ${SCOPE} --unit ${U} --amount 1`)
    // wrong estimates are listed under the configuration error
    expect(decideVerdict(input({unbudgeted: true, would_denials: 0, reasons: {}, overage_rate: 0.1}), O).findings).toEqual(['10.0 % of commits exceed their estimate'])
  })

  it('an unbudgeted scope denied for a unit mismatch says so, and creates the budget on its own scope', () => {
    const r = decideVerdict(input({unbudgeted: true, would_denials: 6, reasons: {UNIT_MISMATCH: 6}}), O)
    expect(r.message).toBe(`configuration: no budget in ${U} here, budgets exist in another unit (6 of 6 would-be denials) — configure a budget in ${U}; the limit is not the problem`)
    expect(r.action.command).toBe(`cycles budget create --scope ${SCOPE} --unit ${U} --amount 1`)
  })

  it('a frozen budget (by status or by its denials): unfreeze, with the share of denials', () => {
    const byStatus = decideVerdict(input({budget_status: 'FROZEN', would_denials: 30, reasons: {BUDGET_FROZEN: 30}}), O)
    expect(byStatus.message).toBe('configuration: the budget is frozen (30 of 30 would-be denials) — unfreeze it or remove it; the limit is not the problem')
    expect(byStatus.action).toEqual({kind: 'unfreeze_budget', command: `cycles budget unfreeze --scope ${SCOPE} --unit ${U} --reason 'cycles calibrate'`})
    expect(decideVerdict(input({budget_status: 'FROZEN', would_denials: 0, reasons: {}}), O).message).toBe('configuration: the budget is frozen — unfreeze it or remove it; the limit is not the problem')
    const byDenials = decideVerdict(input({would_denials: 15, reasons: {BUDGET_EXCEEDED: 5, BUDGET_FROZEN: 10}}), O)
    expect(byDenials).toMatchObject({verdict: 'config_error', message: 'configuration: the budget is frozen (10 of 15 would-be denials) — unfreeze it or remove it; the limit is not the problem'})
    expect(byDenials.action.kind).toBe('unfreeze_budget')
  })

  it('a closed budget: create a budget on that very scope', () => {
    const r = decideVerdict(input({budget_status: 'CLOSED', would_denials: 10, reasons: {BUDGET_CLOSED: 10}, demand: 500}), O)
    expect(r.message).toBe('configuration: the budget is closed (10 of 10 would-be denials) — create a budget for this scope; the limit is not the problem')
    expect(r.action).toEqual({kind: 'create_budget', command: `cycles budget create --scope ${SCOPE} --unit ${U} --amount 500`})
  })

  it('a closed budget with no denials yet is still a configuration error (its status alone decides)', () => {
    const r = decideVerdict(input({budget_status: 'CLOSED', would_denials: 0, reasons: {}, demand: 500}), O)
    expect(r.verdict).toBe('config_error')
    expect(r.action.kind).toBe('create_budget')
  })

  it('the most frequent configuration reason names the error; a unit mismatch creates the budget at the tenant', () => {
    const r = decideVerdict(input({would_denials: 10, reasons: {BUDGET_EXCEEDED: 4, TENANT_CLOSED: 1, BUDGET_FROZEN: 2, UNIT_MISMATCH: 3}}), O)
    expect(r.verdict).toBe('config_error')
    expect(r.message).toBe(`configuration: no budget in ${U} here, budgets exist in another unit (6 of 10 would-be denials) — configure a budget in ${U}; the limit is not the problem`)
    expect(r.action).toEqual({kind: 'create_budget', command: `cycles budget create --scope tenant:acme --unit ${U} --amount 1`})
    expect(decideVerdict(input({scope: 'org:x', would_denials: 3, reasons: {UNIT_MISMATCH: 3}}), O).action.command).toBe(`cycles budget create --scope org:x --unit ${U} --amount 1`)
  })

  it('a closed tenant: show the tenant (no command without one)', () => {
    const r = decideVerdict(input({would_denials: 7, reasons: {TENANT_CLOSED: 7}}), O)
    expect(r.message).toBe('configuration: the tenant is closed (7 of 7 would-be denials) — its traffic is refused whatever the limit')
    expect(r.action).toEqual({kind: 'reactivate_tenant', command: 'cycles tenant show acme'})
    expect(decideVerdict(input({scope: 'org:x', would_denials: 7, reasons: {TENANT_CLOSED: 7}}), O).action).toEqual({kind: 'reactivate_tenant', command: null})
  })

  it('configuration wins at exactly half of the denials; below half it is a secondary finding', () => {
    expect(decideVerdict(input({would_denials: 10, reasons: {BUDGET_EXCEEDED: 5, UNIT_MISMATCH: 5}}), O).verdict).toBe('config_error')
    expect(decideVerdict(input({would_denials: 10, reasons: {BUDGET_EXCEEDED: 6, UNIT_MISMATCH: 4}}), O)).toMatchObject({
      verdict: 'ready',
      denial_rate: 0.01,
      findings: ['4 would-be denial(s) are configuration errors (UNIT_MISMATCH)'],
    })
  })
})

describe('decideVerdict: missing data and estimates', () => {
  it('below the sample floor: keep observing, listing configuration and estimate findings', () => {
    const r = decideVerdict(input({requests: 20, would_denials: 3, reasons: {BUDGET_EXCEEDED: 2, UNIT_MISMATCH: 1}, commits: 40, overage_rate: 0.1}), O)
    expect(r).toEqual({
      verdict: 'insufficient_data',
      band: 'insufficient_data',
      denial_rate: 0.15,
      message: 'not enough data: 20 requests (need 30) — keep observing',
      action: {kind: 'keep_observing', command: 'cycles shadow ingest .cycles/decisions'},
      findings: ['1 would-be denial(s) are configuration errors (UNIT_MISMATCH)', '10.0 % of commits exceed their estimate'],
    })
  })

  it('wrong estimates come before the limit, with the band as a finding', () => {
    expect(limited(80, {overage_rate: 0.1})).toEqual({
      verdict: 'estimates',
      band: 'too_tight',
      denial_rate: 0.08,
      message: 'fix estimates before the limit: 10.0 % of commits exceed their estimate',
      action: {kind: 'fix_estimates', command: 'cycles calibrate --tenant acme --format json'},
      findings: ['8.00 % would be denied (too tight band) — judge the limit after estimates are fixed'],
    })
    const decorative = limited(0, {scope: 'org:x', reserve_commit_ratio: 2.5, overage_rate: 0.06})
    expect(decorative.message).toBe('fix estimates before the limit: 6.0 % of commits exceed their estimate; estimates are 2.5× actual — the budget is effectively 2.5× tighter')
    expect(decorative.findings).toEqual(['no request would be denied at the current limit — judge the limit after estimates are fixed'])
    expect(decorative.action).toEqual({kind: 'fix_estimates', command: 'cycles calibrate --format json'})
  })

  it('estimate findings need exactly the sample floor of commits; a missing ratio or overage is no finding', () => {
    expect(estimateFindings({commits: 30, reserve_commit_ratio: 0.5, overage_rate: null}, O)).toEqual(['estimates are only 0.50× actual — under-estimating'])
    expect(estimateFindings({commits: 30, reserve_commit_ratio: null, overage_rate: 0.2}, O)).toEqual(['20.0 % of commits exceed their estimate'])
    expect(estimateFindings({commits: 30, reserve_commit_ratio: null, overage_rate: null}, O)).toEqual([])
    expect(estimateFindings({commits: 30, reserve_commit_ratio: 2.01, overage_rate: 0}, O)).toEqual(['estimates are 2.0× actual — the budget is effectively 2.0× tighter'])
  })
})

describe('tierReadiness', () => {
  it('per tier in risk order (tiers without traffic left out): ready only when every budget is, blockers sorted', () => {
    const rows = [
      {scope: 'b', unit: 'U', tiers: ['low' as const, 'high' as const], verdict: 'ready' as const},
      {scope: 'c', unit: 'U', tiers: ['high' as const], verdict: 'estimates' as const},
      {scope: 'a', unit: 'U', tiers: ['high' as const], verdict: 'warm' as const},
    ]
    expect(tierReadiness(rows)).toEqual([
      {tier: 'low', ready: true, budgets: 1, blockers: [], action: {kind: 'enforce_tier', command: 'cycles tier set low enforce'}},
      {tier: 'high', ready: false, budgets: 3, blockers: ['a (U): warm', 'c (U): estimates'], action: {kind: 'none', command: null}},
    ])
  })
})

describe('readable figures', () => {
  it('round up to three significant figures; exact figures stay; 0 and below are 0', () => {
    expect([41_234_567, 987, 1000, 1001, 12.3, 0.5].map(roundReadable)).toEqual([41_300_000, 987, 1000, 1010, 13, 1])
    expect(roundReadable(0)).toBe(0) // +0, not -0
    expect(roundReadable(-5)).toBe(0)
  })

  it('the next readable figure is one step in the third significant figure', () => {
    expect([41_234_567, 987, 1000, 0.5, 0].map(nextReadable)).toEqual([41_400_000, 988, 1010, 2, 1])
  })
})

/** A replay stub: `rate(L)`, stopping early (inexact) above `stopAbove`; records every call. */
function stub(rate: (l: number) => number) {
  const calls: Array<[number, number]> = []
  const rateAt: RateAt = (l, stopAbove) => {
    calls.push([l, stopAbove])
    const r = rate(l)
    return {rate: r, exact: r <= stopAbove}
  }
  return {rateAt, calls}
}

describe('searchLimit', () => {
  it('bisects to the smallest limit under the goal (traced by hand: 10 replays)', () => {
    const s = stub((l) => (l >= 37 ? 0 : 1))
    expect(searchLimit(s.rateAt, 0.02, 99.5)).toEqual({allocated: 37, rate: 0, method: 'target', replays: 10})
    // the ceiling first, replayed to the end; then 0 and the midpoints, stopped above the goal; then the 10 % neighbour
    expect(s.calls).toEqual([[100, Infinity], [0, 0.02], [50, 0.02], [25, 0.02], [37, 0.02], [31, 0.02], [34, 0.02], [35, 0.02], [36, 0.02], [33, 0.02]])
  })

  it('a limit of 0 when even no budget meets the goal exactly', () => {
    const s = stub(() => 0.02)
    expect(searchLimit(s.rateAt, 0.02, 100)).toEqual({allocated: 0, rate: 0.02, method: 'target', replays: 2})
  })

  it('a lower neighbour that meets the goal wins (the rate is not monotone)', () => {
    // good from 40, and at 36 alone: bisection ends at 40; 39 and 38 fail; 36 (10 % below) passes
    const s = stub((l) => (l >= 40 || l === 36 ? 0 : 1))
    expect(searchLimit(s.rateAt, 0.02, 100)).toEqual({allocated: 36, rate: 0, method: 'target', replays: 10})
  })

  it('best effort when even the ceiling misses the goal: the ceiling\'s rate becomes the goal', () => {
    const s = stub((l) => (l >= 37 ? 0.05 : 0.5))
    expect(searchLimit(s.rateAt, 0.02, 100)).toEqual({allocated: 37, rate: 0.05, method: 'best_effort', replays: 10})
    expect(s.calls[1]).toEqual([0, 0.05])
    // exactly at the goal is still the target
    expect(searchLimit(stub((l) => (l >= 37 ? 0.02 : 0.5)).rateAt, 0.02, 100).method).toBe('target')
  })

  it('a readable figure that misses the goal steps up to the next one, at most 8 times', () => {
    // good from 43,210, except at the round hundreds below `hole`: the readable rounding must climb
    const rate = (hole: number) => (l: number) => (l >= 43_210 && (l % 100 !== 0 || l >= hole) ? 0 : 1)
    expect(searchLimit(stub(rate(43_500)).rateAt, 0.02, 100_000)).toMatchObject({allocated: 43_500, rate: 0})
    const capped = searchLimit(stub(rate(44_300)).rateAt, 0.02, 100_000)
    expect(capped).toMatchObject({allocated: 44_100, rate: 1})
  })

  it('stops bisecting at 0.2 % of the limit on large figures', () => {
    const s = stub((l) => (l >= 43_210 ? 0 : 1))
    const r = searchLimit(s.rateAt, 0.02, 100_000)
    expect(r.allocated).toBe(43_300)
    const probes = s.calls.slice(2).map(([l]) => l)
    // every midpoint is farther than 0.2 % (≈ 86) from the last bracket it narrowed
    expect(probes.slice(0, 10)).toEqual([50_000, 25_000, 37_500, 43_750, 40_625, 42_187, 42_968, 43_359, 43_163, 43_261])
    expect(r.replays).toBe(s.calls.length)
  })
})

describe('searchLimit: a neighbour exactly at the goal', () => {
  it('is taken (at or below the goal, not strictly below)', () => {
    // Rates: 0.01 from 1000 up; exactly the goal at 950; far above elsewhere below 1000.
    const rateAt: RateAt = (x) => ({rate: x >= 1000 ? 0.01 : x === 950 ? 0.02 : 0.5, exact: true})
    const r = searchLimit(rateAt, 0.02, 2000)
    expect(r.allocated).toBe(950)
    expect(r.rate).toBe(0.02)
  })
})
