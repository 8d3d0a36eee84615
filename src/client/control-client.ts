// Client for the admin plane's run-time control routes (a cycles extension): tier modes and the kill switch.
import type {HttpClient} from './http.js'

export type TierName = 'low' | 'medium' | 'high'
export type ModeName = 'shadow' | 'enforce'

export interface ControlWire {
  tiers: Record<TierName, ModeName>
  effective: Record<TierName, ModeName>
  killswitch: {engaged: boolean; reason?: string; actor?: string; changed_at_ms?: number}
  version: number
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

  setTier(tier: TierName, mode: ModeName, reason?: string): Promise<ControlWire> {
    return this.http.request<ControlWire>('PUT', `/v1/admin/control/tiers/${tier}`, {body: {mode, ...(reason ? {reason} : {})}})
  }
}

export function describeControl(c: ControlWire): string[] {
  const lines = [`kill switch: ${c.killswitch.engaged ? `ENGAGED (every tier in shadow)${c.killswitch.reason ? ` — ${c.killswitch.reason}` : ''}` : 'released'}`]
  for (const t of ['low', 'medium', 'high'] as const) {
    lines.push(`tier ${t.padEnd(6)} configured ${c.tiers[t].padEnd(7)} effective ${c.effective[t]}`)
  }
  lines.push(`control version ${c.version}`)
  return lines
}
