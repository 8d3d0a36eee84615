// Risk tiers: each request is classified from its action.kind by the config's glob patterns. When
// several tiers match, the riskiest wins; unmatched actions are high ("if unsure, score one tier higher").
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
