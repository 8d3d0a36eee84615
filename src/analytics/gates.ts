// CI gates (`--fail-on`): which findings make `cycles shadow report` exit EXIT.GATE_FAILED. Verdict
// gates (too_tight … config_error, not_ready:<tier>) are the ones `cycles calibrate` uses
// (src/calibration/gates.ts); loops, fanout and overage are the report's own.
import {VERDICT_GATES, parseGateList, rowViolations} from '../calibration/gates.js'
import {tierReadiness} from '../calibration/verdict.js'
import type {Report, ScopeRow} from './report.js'

export const GATES = [...VERDICT_GATES, 'loops', 'fanout', 'overage'] as const
export type Gate = (typeof GATES)[number] | `not_ready:${'low' | 'medium' | 'high'}`

export interface Violation {
  gate: Gate
  subject: string
  message: string
}

export function parseGates(value: string | undefined): Gate[] {
  return parseGateList(value, ['loops', 'fanout', 'overage']) as Gate[]
}

/** The gates one scope row violates. */
export function scopeViolations(s: ScopeRow, gates: Gate[], overageThreshold: number): Violation[] {
  const out: Violation[] = rowViolations(s, gates) as Violation[]
  const subject = `${s.scope} (${s.unit})`
  for (const g of gates) {
    if (g === 'overage' && s.overage_rate !== null && s.overage_rate > overageThreshold) {
      out.push({gate: g, subject, message: `${subject}: ${(s.overage_rate * 100).toFixed(1)} % of commits exceed their estimate (gate > ${(overageThreshold * 100).toFixed(1)} %)`})
    }
  }
  return out
}

export function evaluateGates(report: Report, gates: Gate[]): Violation[] {
  const out: Violation[] = []
  for (const s of report.scopes) out.push(...scopeViolations(s, gates, report.thresholds.overageThreshold))
  // not_ready:<tier> — judged from the rows' tiers (per scope with --by scope; the tier rows with --by tier)
  for (const g of gates) {
    const tier = /^not_ready:(low|medium|high)$/.exec(g)?.[1]
    if (!tier) continue
    const t = tierReadiness(report.scopes.filter((s) => report.filters.by !== 'tier' || s.scope === tier)).find((x) => x.tier === tier)
    const blockers = report.filters.by === 'tier' ? report.scopes.find((s) => s.scope === tier)?.blockers ?? [] : t?.blockers ?? []
    if (blockers.length > 0) out.push({gate: g, subject: `tier ${tier}`, message: `tier ${tier} is not ready: ${blockers.length} blocker(s): ${blockers.slice(0, 5).join('; ')}`})
  }
  if (gates.includes('loops')) {
    for (const l of report.loops) {
      out.push({gate: 'loops', subject: l.run_id, message: `run ${l.run_id} on ${l.scope}: ${l.count} reservations (${l.signals.join(' + ')}) ${l.first_ts} → ${l.last_ts}`})
    }
  }
  if (gates.includes('fanout')) {
    for (const f of report.fanout.filter((x) => x.flagged)) {
      out.push({gate: 'fanout', subject: f.run_id, message: `run ${f.run_id}: ${f.children} children, depth ${f.depth}, ${f.amplification}× amplification`})
    }
  }
  return out
}
