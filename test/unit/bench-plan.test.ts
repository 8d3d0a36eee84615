// `npm run bench` with no argument must not generate a 10 M-record log: the default is a quick run,
// the full set is asked for by name or with `all`.
import {describe, expect, it} from 'vitest'

import {SUITE_NAMES, planBench} from '../bench/plan.js'

/** The record count a suite run would generate (the suites' own defaults where none is passed). */
function records(run: {suite: string; args: string[]}): number {
  const given = run.args.find((a) => a.startsWith('--records='))
  if (given) return Number(given.slice('--records='.length))
  return {analyzer: 10_000_000, calibrate: 10_000_000, faithfulness: 1_000_000, verify: 1_000_000}[run.suite] ?? 0
}

describe('npm run bench', () => {
  it('with no argument runs a quick set: no suite generates more than 200,000 records, nothing needs Redis', () => {
    const plan = planBench([])
    expect(plan.quick).toBe(true)
    expect(plan.runs.map((r) => r.suite)).toEqual(['daemon', 'analyzer', 'calibrate', 'startup', 'verify'])
    expect(Math.max(...plan.runs.map(records))).toBe(200_000)
    expect(plan.runs.find((r) => r.suite === 'daemon')?.args).toContain('--quick')
  })

  it('runs the full set only when asked for with `all`, at the suites\' own sizes', () => {
    const plan = planBench(['all'])
    expect(plan.quick).toBe(false)
    expect(plan.runs.map((r) => r.suite)).toEqual([...SUITE_NAMES])
    expect(Math.max(...plan.runs.map(records))).toBe(10_000_000)
  })

  it('runs a named suite with the flags given, and a flag\'s value is not taken for a suite name', () => {
    expect(planBench(['calibrate', '--records', '5000'])).toEqual({quick: false, runs: [{suite: 'calibrate', args: ['--records', '5000']}]})
    expect(planBench(['--records', '5000']).quick).toBe(true)
  })
})
