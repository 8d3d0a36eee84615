// The `rollout.guard` config block: the defaults when absent, partial blocks filled in, and
// typos or impossible values refused with the path of the field (exit 3 CONFIG_INVALID).
import {describe, expect, it} from 'vitest'

import {CliError} from '../../src/cli/errors.js'
import {parseConfig} from '../../src/config/load.js'

const refusal = (yaml: string): CliError => {
  try {
    parseConfig(yaml)
  } catch (error) {
    return error as CliError
  }
  throw new Error('expected the config to be refused')
}

describe('rollout.guard config', () => {
  it('defaults to ratio 3, min_denial_rate 0.01, min_requests 50, window_seconds 600, enabled', () => {
    expect(parseConfig('tenants: []\n').rollout.guard).toEqual({enabled: true, ratio: 3, min_denial_rate: 0.01, min_requests: 50, window_seconds: 600})
    expect(parseConfig('rollout: {}\n').rollout.guard.window_seconds).toBe(600)
    expect(parseConfig('rollout: {guard: {ratio: 2, window_seconds: 30}}\n').rollout.guard).toEqual({enabled: true, ratio: 2, min_denial_rate: 0.01, min_requests: 50, window_seconds: 30})
  })

  it('refuses typos and impossible values, naming the field', () => {
    for (const [yaml, field] of [
      ['rollout: {guard: {ratoi: 2}}', 'rollout.guard'],
      ['rollout: {guard: {ratio: 0}}', 'rollout.guard.ratio'],
      ['rollout: {guard: {min_denial_rate: 1.5}}', 'rollout.guard.min_denial_rate'],
      ['rollout: {guard: {min_requests: 0}}', 'rollout.guard.min_requests'],
      ['rollout: {guard: {window_seconds: 0.5}}', 'rollout.guard.window_seconds'],
      ['rollout: {gaurd: {}}', 'rollout'],
    ] as const) {
      const e = refusal(`${yaml}\n`)
      expect(e.code, yaml).toBe('CONFIG_INVALID')
      expect(e.exit).toBe(3)
      expect(e.message, yaml).toContain(field)
    }
  })
})
