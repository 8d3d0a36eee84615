// Client for the admin plane's run-time control routes (a cycles extension): tier modes and the kill switch.
import type {HttpClient} from './http.js'

export type TierName = 'low' | 'medium' | 'high'
export type ModeName = 'shadow' | 'enforce'

export interface ControlWire {
  tiers: Record<TierName, ModeName>
  enforce_percent: Record<TierName, number>
  tier_changed_at_ms?: Partial<Record<TierName, number>>
  effective: Record<TierName, ModeName>
  killswitch: {engaged: boolean; reason?: string; actor?: string; changed_at_ms?: number}
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

  setTier(tier: TierName, mode: ModeName, reason?: string, enforcePercent?: number): Promise<ControlWire> {
    return this.http.request<ControlWire>('PUT', `/v1/admin/control/tiers/${tier}`, {
      body: {mode, ...(enforcePercent !== undefined ? {enforce_percent: enforcePercent} : {}), ...(reason ? {reason} : {})},
    })
  }
}

export function describeControl(c: ControlWire): string[] {
  const lines = [`kill switch: ${c.killswitch.engaged ? `ENGAGED (every tier in shadow)${c.killswitch.reason ? ` — ${c.killswitch.reason}` : ''}` : 'released'}`]
  for (const t of ['low', 'medium', 'high'] as const) {
    const percent = c.tiers[t] === 'enforce' && (c.enforce_percent?.[t] ?? 100) < 100 ? ` (${c.enforce_percent[t]} % of runs)` : ''
    lines.push(`tier ${t.padEnd(6)} configured ${c.tiers[t].padEnd(7)} effective ${c.effective[t]}${percent}`)
  }
  lines.push(`control version ${c.version}`)
  return lines
}
