// The enforcement ramp inside a tier (README "The enforcement ramp"): which requests of an enforce
// tier are enforced is decided by a stable hash of tenant and run id (subject scope path without a
// run), so a run is enforced or shadowed as a whole. The expected sets are computed here from the
// documented rule with a different code path (hex digest, parseInt), not by calling rampBucket.
import {createHash} from 'node:crypto'

import {describe, expect, it} from 'vitest'

import {rampBucket, requestMode} from '../../src/evaluator/tiers.js'
import type {TierControl} from '../../src/store/types.js'

/** The README's rule: first 4 bytes of SHA-256("<tenant>\n<run id>") as an unsigned integer, mod 100. */
function documentedBucket(tenant: string, id: string): number {
  return parseInt(createHash('sha256').update(`${tenant}\n${id}`, 'utf8').digest('hex').slice(0, 8), 16) % 100
}

const control = (percent: number | undefined, extra: Partial<TierControl> = {}): TierControl => ({
  tiers: {low: 'enforce', medium: 'shadow', high: 'enforce'},
  ...(percent === undefined ? {} : {enforce_percent: {low: percent, high: percent, medium: percent}}),
  killswitch: {engaged: false},
  version: 1,
  ...extra,
})
const runs = Array.from({length: 2000}, (_, i) => `run-${i}`)
const key = (run_id: string | undefined, tenant = 'acme') => ({tenant, run_id, scope_path: 'tenant:acme/workspace:w'})

describe('requestMode', () => {
  it('at 10 % enforces exactly the runs whose documented bucket is below 10', () => {
    const enforced = runs.filter((r) => requestMode(control(10), 'low', key(r)) === 'enforce')
    const expected = runs.filter((r) => documentedBucket('acme', r) < 10)
    expect(enforced).toEqual(expected)
    // The hash spreads: about a tenth of 2000 runs (the exact set is checked above).
    expect(expected.length).toBeGreaterThan(150)
    expect(expected.length).toBeLessThan(250)
  })

  it('100 % (and an older control record without percents) enforces every run; 0 % none', () => {
    expect(runs.every((r) => requestMode(control(100), 'high', key(r)) === 'enforce')).toBe(true)
    expect(runs.every((r) => requestMode(control(undefined), 'high', key(r)) === 'enforce')).toBe(true)
    expect(runs.every((r) => requestMode(control(0), 'high', key(r)) === 'shadow')).toBe(true)
  })

  it('a run keeps its mode on every request, and a run enforced at 10 % stays enforced at 50 %', () => {
    for (const r of runs.slice(0, 200)) {
      const first = requestMode(control(37), 'low', key(r))
      for (let i = 0; i < 3; i++) expect(requestMode(control(37), 'low', {...key(r), scope_path: `tenant:acme/workspace:w${i}`})).toBe(first)
      if (requestMode(control(10), 'low', key(r)) === 'enforce') expect(requestMode(control(50), 'low', key(r))).toBe('enforce')
    }
  })

  it('the tenant is part of the hash; without a run id the subject scope path decides', () => {
    const differs = runs.filter((r) => documentedBucket('acme', r) < 50 !== documentedBucket('globex', r) < 50)
    expect(differs.length).toBeGreaterThan(0)
    for (const r of differs.slice(0, 20)) expect(requestMode(control(50), 'low', key(r, 'acme'))).not.toBe(requestMode(control(50), 'low', key(r, 'globex')))
    const paths = Array.from({length: 300}, (_, i) => `tenant:acme/workflow:wf${i}`)
    const enforced = paths.filter((p) => requestMode(control(25), 'low', {tenant: 'acme', scope_path: p}) === 'enforce')
    expect(enforced).toEqual(paths.filter((p) => documentedBucket('acme', `subject:${p}`) < 25))
    expect(rampBucket({tenant: 'acme', scope_path: paths[0]})).toBe(documentedBucket('acme', `subject:${paths[0]}`))
  })

  it('a shadow tier and the kill switch mean shadow whatever the percent', () => {
    expect(runs.every((r) => requestMode(control(100), 'medium', key(r)) === 'shadow')).toBe(true)
    const engaged = control(100, {killswitch: {engaged: true, reason: 'test'}})
    expect(runs.every((r) => requestMode(engaged, 'low', key(r)) === 'shadow')).toBe(true)
  })
})
