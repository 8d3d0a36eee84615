// CI gates (`--fail-on`): which findings make `cycles shadow report` exit EXIT.GATE_FAILED.
import type {Report, ScopeRow} from './report.js'

export const GATES = ['too_tight', 'warm', 'decorative', 'loose', 'loops', 'fanout', 'overage'] as const
export type Gate = (typeof GATES)[number]

export interface Violation {
  gate: Gate
  subject: string
  message: string
}

export function parseGates(value: string | undefined): Gate[] {
  if (!value) return []
  const gates = value
    .split(',')
    .map((s) => s.trim().toLowerCase().replace('-', '_'))
    .filter((s) => s !== '')
  const bad = gates.filter((g) => !(GATES as readonly string[]).includes(g))
  if (bad.length > 0) throw new Error(`--fail-on: unknown gate(s) ${bad.join(', ')}; gates are ${GATES.join(', ')}`)
  return [...new Set(gates)] as Gate[]
}

const BAND_GATES = new Set<Gate>(['too_tight', 'warm', 'decorative', 'loose'])

/** The gates one scope row violates. */
export function scopeViolations(s: ScopeRow, gates: Gate[], overageThreshold: number): Violation[] {
  const out: Violation[] = []
  const subject = `${s.scope} (${s.unit})`
  for (const g of gates) {
    if (BAND_GATES.has(g) && s.band === g) out.push({gate: g, subject, message: `${subject}: ${s.verdict}`})
    if (g === 'overage' && s.overage_rate !== null && s.overage_rate > overageThreshold) {
      out.push({gate: g, subject, message: `${subject}: ${(s.overage_rate * 100).toFixed(1)} % of commits exceed their estimate (gate > ${(overageThreshold * 100).toFixed(1)} %)`})
    }
  }
  return out
}

export function evaluateGates(report: Report, gates: Gate[]): Violation[] {
  const out: Violation[] = []
  for (const s of report.scopes) out.push(...scopeViolations(s, gates, report.thresholds.overageThreshold))
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
