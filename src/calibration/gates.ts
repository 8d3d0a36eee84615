// Verdict gates (`--fail-on`), shared by `cycles calibrate` and `cycles shadow report`: a gate named
// after a verdict fails on every row whose primary verdict it is; `not_ready:<tier>` fails while
// the tier has blockers. insufficient_data is a gate like any other, so a day-one CI job can fail on it.
import type {Tier} from '../protocol/types.js'
import type {Verdict} from './verdict.js'

export const VERDICT_GATES = ['too_tight', 'warm', 'decorative', 'loose', 'insufficient_data', 'estimates', 'config_error'] as const
export type VerdictGate = (typeof VERDICT_GATES)[number] | `not_ready:${Tier}`

export interface GateViolation {
  gate: string
  subject: string
  message: string
}

const TIER_GATE = /^not_ready:(low|medium|high)$/

/** Parse a --fail-on list against the verdict gates plus any extra gates a command has. */
export function parseGateList(value: string | undefined, extra: readonly string[] = []): string[] {
  if (!value) return []
  const gates = value
    .split(',')
    .map((s) => s.trim().toLowerCase().replaceAll('-', '_'))
    .filter((s) => s !== '')
  const known = new Set<string>([...VERDICT_GATES, ...extra])
  const bad = gates.filter((g) => !known.has(g) && !TIER_GATE.test(g))
  if (bad.length > 0) throw new Error(`--fail-on: unknown gate(s) ${bad.join(', ')}; gates are ${[...VERDICT_GATES, ...extra, 'not_ready:<low|medium|high>'].join(', ')}`)
  return [...new Set(gates)]
}

const LIMIT_GATES = new Set(['too_tight', 'warm', 'decorative', 'loose'])

/**
 * A limit gate (too_tight, warm, decorative, loose) fails on the row's denial-rate band — the rate is
 * a fact even when estimates come first — except for configuration errors, which are never a limit
 * problem. insufficient_data, estimates and config_error fail on the primary verdict.
 */
export function rowViolations(row: {scope: string; unit: string; band: string; verdict: Verdict; message: string}, gates: readonly string[]): GateViolation[] {
  const subject = `${row.scope} (${row.unit})`
  const hit = (g: string) => (LIMIT_GATES.has(g) ? row.band === g && row.verdict !== 'config_error' : g === row.verdict)
  return gates.filter((g) => hit(g)).map((gate) => ({gate, subject, message: `${subject}: ${row.message}`}))
}

export function tierViolations(tiers: Array<{tier: Tier; ready: boolean; blockers: string[]}>, gates: readonly string[]): GateViolation[] {
  const out: GateViolation[] = []
  for (const g of gates) {
    const m = TIER_GATE.exec(g)
    if (!m) continue
    const t = tiers.find((x) => x.tier === m[1])
    if (t && !t.ready) out.push({gate: g, subject: `tier ${t.tier}`, message: `tier ${t.tier} is not ready: ${t.blockers.length} blocker(s): ${t.blockers.slice(0, 5).join('; ')}${t.blockers.length > 5 ? '; …' : ''}`})
  }
  return out
}
