// `cycles rollout rollback`: one tier or every tier back to shadow through POST /v1/admin/rollout/rollback
// (audited with actor and reason; every instance sharing the store applies it within a second).
import type {TierName} from '../client/control-client.js'
import type {RolloutClient} from '../client/rollout-client.js'
import {type RolloutStatus, rolloutStatusOf} from './status.js'

export interface RollbackResult {
  /** The tiers asked for, and which of them were enforcing before. */
  tiers: TierName[]
  changed: TierName[]
  status: RolloutStatus
}

export async function rollbackTiers(client: RolloutClient, o: {tier?: TierName; reason: string; actor?: string}): Promise<RollbackResult> {
  const before = await client.status()
  const after = await client.rollback(o.reason, o.tier, o.actor)
  const tiers: TierName[] = o.tier ? [o.tier] : ['low', 'medium', 'high']
  return {tiers, changed: tiers.filter((t) => before.tiers[t].mode !== 'shadow'), status: rolloutStatusOf(after)}
}

export function describeRollback(r: RollbackResult): string[] {
  const head =
    r.changed.length === 0
      ? `already in shadow: ${r.tiers.join(', ')} (recorded in the audit log anyway)`
      : `back to shadow: ${r.changed.join(', ')} (every instance sharing the store applies it within 1 s)`
  const lines = [head]
  if (r.status.killswitch.engaged) lines.push('note: the kill switch is engaged; every tier answers in shadow until it is released')
  return lines
}
