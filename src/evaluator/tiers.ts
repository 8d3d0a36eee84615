// Risk tiers: each request is classified from its action.kind by the config's glob patterns. When
// several tiers match, the riskiest wins; unmatched actions are high ("if unsure, score one tier higher").
import {createHash} from 'node:crypto'

import type {Mode, Tier} from '../protocol/types.js'
import type {TierControl} from '../store/types.js'

export type TierPatterns = Record<Tier, {match: string[]}>

const RISK_ORDER: Tier[] = ['high', 'medium', 'low']

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')
  return new RegExp(`^${escaped}$`, 'i')
}

export class TierClassifier {
  private readonly compiled: Array<{tier: Tier; patterns: RegExp[]}>
  private readonly cache = new Map<string, Tier>()

  constructor(patterns: TierPatterns) {
    this.compiled = RISK_ORDER.map((tier) => ({tier, patterns: patterns[tier].match.map((g) => globToRegExp(g))}))
  }

  classify(kind: string): Tier {
    const hit = this.cache.get(kind)
    if (hit) return hit
    let tier: Tier = 'high'
    for (const {tier: t, patterns} of this.compiled) {
      if (patterns.some((p) => p.test(kind))) {
        tier = t
        break
      }
    }
    if (this.cache.size < 10_000) this.cache.set(kind, tier)
    return tier
  }
}

/** The effective mode of a tier: the kill switch forces shadow everywhere. */
export function modeFor(control: TierControl, tier: Tier): Mode {
  return control.killswitch.engaged ? 'shadow' : control.tiers[tier]
}

/** The share of runs (0–100) a tier enforces when its mode is enforce; older control records mean 100. */
export function enforcePercentFor(control: TierControl, tier: Tier): number {
  return control.enforce_percent?.[tier] ?? 100
}

/** What the enforcement ramp hashes: the tenant and the request's run (or, without a run id, its subject). */
export interface RampKey {
  tenant: string
  run_id?: string
  /** The derived scope path of the subject, used when there is no run id. */
  scope_path: string
}

/**
 * The ramp bucket of a request, 0–99: the first 4 bytes of SHA-256 over "<tenant>\n<run_id>" (or
 * "<tenant>\nsubject:<scope_path>" without a run id) read as a big-endian unsigned integer, modulo 100.
 * A run always lands in the same bucket, on every instance; tiers do not enter the hash, so a run
 * enforced at 10 % is enforced at 50 % too and in every tier ramped to at least its bucket.
 */
export function rampBucket(key: RampKey): number {
  const id = key.run_id !== undefined ? key.run_id : `subject:${key.scope_path}`
  return createHash('sha256').update(`${key.tenant}\n${id}`).digest().readUInt32BE(0) % 100
}

/**
 * The mode one request gets: the kill switch and a shadow tier mean shadow; an enforce tier enforces
 * the requests whose ramp bucket is below its enforce_percent (all at 100, none at 0).
 */
export function requestMode(control: TierControl, tier: Tier, key: RampKey): Mode {
  if (modeFor(control, tier) === 'shadow') return 'shadow'
  const percent = enforcePercentFor(control, tier)
  if (percent >= 100) return 'enforce'
  if (percent <= 0) return 'shadow'
  return rampBucket(key) < percent ? 'enforce' : 'shadow'
}
