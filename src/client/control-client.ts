// Client for the admin plane's run-time control routes (a cycles extension): tier modes and the kill switch.
import type {HttpClient} from './http.js'

export type TierName = 'low' | 'medium' | 'high'
export type ModeName = 'shadow' | 'enforce'

export interface ControlWire {
  tiers: Record<TierName, ModeName>
  enforce_percent: Record<TierName, number>
  tier_changed_at_ms?: Partial<Record<TierName, number>>
  effective: Record<TierName, ModeName>
  killswitch: {engaged: boolean; reason?: string; actor?: string; changed_at_ms?: number; engagements?: Array<{reason: string; actor?: string; at_ms: number}>}
  version: number
  rollout?: Record<string, unknown>
}

export class ControlClient {
  constructor(private readonly http: HttpClient) {}

  status(): Promise<ControlWire> {
    return this.http.request<ControlWire>('GET', '/v1/admin/control')
  }

  engage(reason: string, actor?: string): Promise<ControlWire> {
    return this.http.request<ControlWire>('POST', '/v1/admin/killswitch/engage', {body: {reason, ...(actor ? {actor} : {})}})
  }

  release(reason?: string, actor?: string): Promise<ControlWire> {
    return this.http.request<ControlWire>('POST', '/v1/admin/killswitch/release', {body: {...(reason ? {reason} : {}), ...(actor ? {actor} : {})}})
  }

  setTier(tier: TierName, mode: ModeName, reason?: string, enforcePercent?: number, actor?: string): Promise<ControlWire> {
    return this.http.request<ControlWire>('PUT', `/v1/admin/control/tiers/${tier}`, {
      body: {mode, ...(enforcePercent !== undefined ? {enforce_percent: enforcePercent} : {}), ...(reason ? {reason} : {}), ...(actor ? {actor} : {})},
    })
  }
}

const when = (ms: number | undefined) => (ms === undefined ? 'at an unknown time' : `at ${new Date(ms).toISOString()}`)

export function describeControl(c: ControlWire): string[] {
  const k = c.killswitch
  const lines: string[] = []
  if (k.engaged) {
    lines.push(`kill switch: ENGAGED (every tier in shadow) ${when(k.changed_at_ms)}${k.actor ? ` by ${k.actor}` : ''}${k.reason ? ` — ${k.reason}` : ''}`)
    for (const e of (k.engagements ?? []).slice(1)) lines.push(`  engaged again ${when(e.at_ms)}${e.actor ? ` by ${e.actor}` : ''} — ${e.reason}`)
  } else {
    lines.push(`kill switch: released${k.changed_at_ms === undefined ? '' : ` ${when(k.changed_at_ms)}`}${k.actor ? ` by ${k.actor}` : ''}${k.reason ? ` — ${k.reason}` : ''}`)
  }
  for (const t of ['low', 'medium', 'high'] as const) {
    const percent = c.tiers[t] === 'enforce' && (c.enforce_percent?.[t] ?? 100) < 100 ? ` (${c.enforce_percent[t]} % of runs)` : ''
    lines.push(`tier ${t.padEnd(6)} configured ${c.tiers[t].padEnd(7)} effective ${c.effective[t]}${percent}`)
  }
  lines.push(`control version ${c.version}`)
  return lines
}

/**
 * Tiers a release would start enforcing whose enforce mode was set while the switch was engaged
 * (nobody has seen them enforce yet). Empty when the switch is released or nothing changed meanwhile.
 */
export function enforcementSetWhileEngaged(c: ControlWire): Array<{tier: TierName; set_at_ms: number; enforce_percent: number}> {
  const since = c.killswitch.changed_at_ms
  if (!c.killswitch.engaged || since === undefined) return []
  return (['low', 'medium', 'high'] as const)
    .filter((t) => c.tiers[t] === 'enforce' && (c.tier_changed_at_ms?.[t] ?? -1) >= since)
    .map((t) => ({tier: t, set_at_ms: c.tier_changed_at_ms![t]!, enforce_percent: c.enforce_percent?.[t] ?? 100}))
}
