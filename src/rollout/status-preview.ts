// The preview `cycles tier set <tier> enforce` shows before it asks: what enforcing that tier would
// have denied over the last hour, from the daemon's per-tier counters (GET /v1/admin/rollout?since_ms=…).
import type {TierName} from '../client/control-client.js'
import type {RolloutClient} from '../client/rollout-client.js'
import {ago, rate} from './status.js'

export const PREVIEW_SPAN_MS = 3_600_000

export interface EnforcePreview {
  tier: TierName
  enforce_percent: number
  /** The span the daemon actually covered (it keeps 25 h, counted since it started). */
  since_ms: number
  until_ms: number
  current_mode: 'shadow' | 'enforce'
  /** Live reservations and events of the tier in the span, and how many full enforcement would have denied. */
  requests: number
  would_denials: number
  would_denial_rate: number
  /** Of those, the share the chosen percent would enforce (runs are picked by hash: an estimate). */
  expected_denials: number
}

export async function previewEnforce(client: RolloutClient, tier: TierName, percent: number, nowMs = Date.now()): Promise<EnforcePreview> {
  const wire = await client.status(nowMs - PREVIEW_SPAN_MS)
  const t = wire.tiers[tier]
  return {
    tier,
    enforce_percent: percent,
    since_ms: t.stats.since_ms,
    until_ms: t.stats.until_ms,
    current_mode: t.effective_mode,
    requests: t.stats.requests,
    would_denials: t.stats.would_denials,
    would_denial_rate: t.stats.would_denial_rate,
    expected_denials: Math.round((t.stats.would_denials * percent) / 100),
  }
}

export function describePreview(p: EnforcePreview): string[] {
  const minutes = Math.round((p.until_ms - p.since_ms) / 60_000)
  const span = `the last ${minutes} min (since ${ago(p.since_ms, p.until_ms)}, this daemon instance's counters)`
  if (p.requests === 0) return [`tier ${p.tier}: no live traffic in ${span}; nothing to preview`]
  const lines = [`enforcing tier ${p.tier} would have denied ${p.would_denials} of ${p.requests} live requests (${rate(p.would_denial_rate)}) in ${span}`]
  if (p.enforce_percent < 100) lines.push(`at ${p.enforce_percent} % of runs: about ${p.expected_denials} of them`)
  return lines
}
