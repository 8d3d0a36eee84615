import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type CalibrationResult, calibrate} from '../../src/calibration/calibrate.js'
import {evaluateCalibrationGates, renderCalibrationJson} from '../../src/calibration/render.js'
import {bookLayout, replay} from '../../src/calibration/replay.js'
import {roundReadable} from '../../src/calibration/search.js'
import {HIERARCHY, type Simulated, cleanup, simulated, withPolicies} from './helpers.js'

let h: Simulated
let result: CalibrationResult
beforeAll(async () => {
  h = await simulated(HIERARCHY, withPolicies)
  result = calibrate({log: h.log, budgets: h.budgets, tenants: h.tenants})
}, 480_000)
afterAll(() => cleanup(h?.dir))

const row = (scope: string, unit = 'USD_MICROCENTS') => result.budgets.find((b) => b.scope === scope && b.unit === unit)!

describe('calibrate on a hierarchical fleet', () => {
  it('prints every budget, with its tiers, requests, binding denials and a status', () => {
    const configured = result.budgets.filter((b) => b.current_allocated !== null)
    expect(configured.length).toBe(h.budgets.length)
    for (const b of configured) {
      expect(b.requests).toBeGreaterThan(30)
      expect(b.status).toBe('calibrated')
      expect(b.tiers).toEqual(['medium'])
    }
    // the workspace budget denies the reviewer's traffic itself; the agent budget the planner's
    expect(row('tenant:charlie/workspace:prod').binding_denials).toBeGreaterThan(0)
    expect(row('tenant:bravo/workspace:prod/workflow:plan/agent:planner').binding_denials).toBeGreaterThan(0)
  })

  it('the suggestions land in the band together, and the reported rate is what a joint replay measures', () => {
    const calibrated = result.budgets.filter((b) => b.status === 'calibrated')
    const inBand = calibrated.filter((b) => b.suggested_denial_rate! >= 0.01 && b.suggested_denial_rate! <= 0.03)
    expect(inBand.length / calibrated.length).toBeGreaterThanOrEqual(0.9)
    // replay independently with every suggestion applied
    const layout = bookLayout(h.log, h.budgets, h.tenants)
    const allocated = h.budgets.map((b) => row(b.scope, b.unit).suggested_allocated!)
    const outcome = replay(h.log, layout, {allocated})
    h.budgets.forEach((b, i) => {
      let requests = 0
      let denied = 0
      for (let r = 0; r < h.log.n; r++) {
        if (h.log.kind[r] > 2 || !layout.slots[h.log.group[r]].includes(i)) continue
        requests++
        denied += outcome.deny[r]
      }
      expect(row(b.scope, b.unit).suggested_denial_rate, b.scope).toBeCloseTo(denied / requests, 12)
    })
    // suggestions are readable figures (three significant digits)
    for (const b of calibrated) expect(roundReadable(b.suggested_allocated!)).toBe(b.suggested_allocated)
  })

  it('traffic with no budget in its unit is a configuration error with a create-budget action, never "raise the limit"', () => {
    const credits = result.budgets.filter((b) => b.unit === 'CREDITS')
    expect(credits.map((b) => b.scope).sort()).toEqual(['tenant:alpha', 'tenant:bravo', 'tenant:charlie'])
    for (const b of credits) {
      expect(b).toMatchObject({status: 'config_error', verdict: 'config_error', current_allocated: null, suggested_allocated: null})
      expect(b.top_reasons[0].reason).toBe('UNIT_MISMATCH')
      expect(b.action.kind).toBe('create_budget')
      expect(b.action.command).toMatch(new RegExp(`^cycles budget create --scope ${b.scope} --unit CREDITS --amount \\d+$`))
      expect(b.message).not.toMatch(/raise|too tight/)
    }
  })

  it('same database and config give byte-identical JSON', () => {
    const again = calibrate({log: h.log, budgets: h.budgets, tenants: h.tenants})
    const gates = evaluateCalibrationGates(result, [])
    expect(renderCalibrationJson(again, evaluateCalibrationGates(again, []))).toBe(renderCalibrationJson(result, gates))
    const parsed = JSON.parse(renderCalibrationJson(result, gates))
    expect(Object.keys(parsed)).toEqual(expect.arrayContaining(['window', 'target', 'band', 'budgets', 'estimates', 'tiers', 'gates']))
    expect(Object.keys(parsed.budgets[0])).toEqual(
      expect.arrayContaining(['scope', 'unit', 'tiers', 'requests', 'current_allocated', 'current_denial_rate', 'suggested_allocated', 'suggested_denial_rate', 'binding_denials', 'suggested_overdraft_limit', 'method', 'status', 'verdict', 'action']),
    )
    expect(Object.keys(parsed.action ?? parsed.budgets[0].action)).toEqual(['kind', 'command'])
    expect(parsed.gates).toEqual({fail_on: [], violations: [], passed: true})
  }, 240_000)

  it('below the sample floor: no calibration, labelled insufficient_data, current limit kept', () => {
    const strict = calibrate({log: h.log, budgets: h.budgets, tenants: h.tenants}, {minRequests: 1_000_000})
    for (const b of strict.budgets.filter((x) => x.current_allocated !== null)) {
      expect(b).toMatchObject({status: 'insufficient_data', verdict: 'insufficient_data', suggested_allocated: null, method: 'none'})
    }
    // a day-one CI job is not green by accident: insufficient_data is a gate
    expect(evaluateCalibrationGates(strict, ['insufficient_data']).passed).toBe(false)
    // the small-sample rule is offered only as a labelled hint
    const tenant = strict.budgets.find((x) => x.scope === 'tenant:alpha' && x.unit === 'USD_MICROCENTS')!
    expect(tenant.hint!.rule).toMatch(/^3 × the largest spend of one run over \d+ run\(s\) \(shadow-analytics\.md §2\.1 c; small sample, not replayed, not applied\)$/)
    expect(tenant.hint!.allocated).toBeGreaterThan(0)
    expect(tenant.suggested_allocated).toBeNull()
  }, 240_000)

  it('--period scales the window suggestion and says so', () => {
    const monthly = calibrate({log: h.log, budgets: h.budgets, tenants: h.tenants}, {periodDays: 30})
    expect(monthly.period.scaled).toBe(true)
    const b = monthly.budgets.find((x) => x.scope === 'tenant:alpha' && x.unit === 'USD_MICROCENTS')!
    expect(b.suggested_allocated).toBe(roundReadable(b.suggested_allocated_window! * monthly.period.factor))
    expect(monthly.period.factor).toBeCloseTo(30 / monthly.window.days, 2)
  }, 240_000)

  it('fix estimates, not budgets: where estimates are the verdict, the limit once they are corrected is shown too', () => {
    const estimateRows = result.budgets.filter((b) => b.verdict === 'estimates')
    expect(estimateRows.length).toBeGreaterThan(0)
    for (const b of estimateRows) {
      expect(b.message).toMatch(/^fix estimates before the limit: /)
      expect(b.suggested_allocated_after_estimates).toBeGreaterThan(0)
      expect(b.findings.some((f) => f.startsWith('once estimates are corrected by the suggested multipliers, the limit would be '))).toBe(true)
    }
  })

  it('estimate corrections per budget and action: ratio, overage, MAPE and a multiplier when overage > 1 %', () => {
    const planner = result.estimates.find((e) => e.scope === 'tenant:charlie/workspace:prod/workflow:plan/agent:planner' && e.action_name === 'plan')!
    expect(planner.commits).toBeGreaterThan(100)
    expect(planner.overage_rate!).toBeGreaterThan(0.05)
    // Q_0.95(actual/estimate) of a log-normal(0.9, 0.3) with an 8 % ×3 tail is well above 1
    expect(planner.suggested_multiplier!).toBeGreaterThan(1.3)
    expect(planner.mape!).toBeGreaterThan(0)
  })
})
