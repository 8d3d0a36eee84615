// The limit search's resumed replays (probe.ts) are exact: at every candidate limit they give the
// rate a full replay gives, and a replay stopped early is really above its bound.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BIG, budgetRecords} from '../../src/calibration/accounting.js'
import {LimitProbe} from '../../src/calibration/probe.js'
import {type BookLayout, bookLayout, components, replay} from '../../src/calibration/replay.js'
import {HIERARCHY, type Simulated, cleanup, simulated, withPolicies} from './helpers.js'

let h: Simulated
let layout: BookLayout
beforeAll(async () => {
  h = await simulated(HIERARCHY, withPolicies)
  layout = bookLayout(h.log, h.budgets, h.tenants)
}, 300_000)
afterAll(() => cleanup(h?.dir))

/** b's denial rate over its attempts, from a full replay of `records` with `allocated`. */
function fullRate(records: Int32Array, b: number, allocated: Float64Array): number {
  const outcome = replay(h.log, layout, {allocated, records})
  let requests = 0
  let denials = 0
  for (const r of records) {
    if (h.log.kind[r] > 2 || !layout.slots[h.log.group[r]].includes(b)) continue
    requests++
    denials += outcome.deny[r]
  }
  return denials / requests
}

describe('LimitProbe: resumed replays equal full replays', () => {
  it('for every budget, alone (the others unlimited) and jointly (the others at their allocations), at limits from 0 to above demand', () => {
    const own = budgetRecords(h.log, layout)
    let compared = 0
    let resumedMidway = 0
    for (const comp of components(h.log, layout)) {
      for (const b of comp.budgets) {
        const alone = Float64Array.from(h.budgets, (x) => x.allocated)
        for (const x of comp.budgets) alone[x] = BIG
        const cases: Array<[Int32Array, Float64Array]> = [
          [own[b], alone],
          [comp.records, Float64Array.from(h.budgets, (x) => x.allocated)],
        ]
        for (const [records, allocated] of cases) {
          const probe = new LimitProbe(h.log, layout, records, b, allocated)
          // a checkpoint before every record: resumed exactly at the first record that can see the limit
          const fine = new LimitProbe(h.log, layout, records, b, allocated, undefined, 1)
          const at = h.budgets[b].allocated
          for (const limit of [0, Math.round(at * 0.3), Math.round(at * 0.7), Math.round(at * 0.9), at - 1, at, Math.round(at * 1.05), at * 3]) {
            const alloc = Float64Array.from(allocated)
            alloc[b] = limit
            const expected = fullRate(records, b, alloc)
            const got = probe.rate(limit)
            expect(got, `${h.budgets[b].scope} ${h.budgets[b].unit} at ${limit}`).toEqual({rate: expected, exact: true})
            expect(fine.rate(limit), `${h.budgets[b].scope} ${h.budgets[b].unit} at ${limit}, resumed at the record`).toEqual({rate: expected, exact: true})
            // stopped early: only when the full rate really is above the bound
            const stopped = probe.rate(limit, expected / 2)
            if (!stopped.exact) expect(stopped.rate).toBeGreaterThan(expected / 2)
            expect(stopped.rate).toBeLessThanOrEqual(expected)
            compared++
          }
          // the probe replayed less than a full replay per candidate (it resumed from checkpoints)
          if (probe.stepped < records.length * 9) resumedMidway++
        }
      }
    }
    expect(compared).toBe(h.budgets.length * 2 * 8)
    expect(resumedMidway).toBeGreaterThan(0)
  }, 300_000)
})
