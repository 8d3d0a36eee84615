// The daemon's log line for a control change (tier modes, ramp percents, the kill switch, the guard):
// one line per applied change, `control.changed {json}`, so an operator can grep it and a log shipper
// can parse it. Who and why are in the audit trail; the line carries what changed and the actor the
// control record names (the kill switch's, a guard trip's).
import {TIERS} from '../protocol/types.js'
import type {TierControl} from '../store/types.js'

export interface ControlChange {
  field: string
  from: unknown
  to: unknown
}

/** What differs between two control records, field by field (empty when nothing an operator sees changed). */
export function controlChanges(before: TierControl, after: TierControl): ControlChange[] {
  const changes: ControlChange[] = []
  for (const tier of TIERS) {
    if (before.tiers[tier] !== after.tiers[tier]) changes.push({field: `tiers.${tier}`, from: before.tiers[tier], to: after.tiers[tier]})
    const from = before.enforce_percent?.[tier] ?? 100
    const to = after.enforce_percent?.[tier] ?? 100
    if (from !== to) changes.push({field: `enforce_percent.${tier}`, from, to})
    const tripBefore = before.rollout?.guard_trips?.[tier]?.at_ms
    const tripAfter = after.rollout?.guard_trips?.[tier]
    if (tripAfter && tripAfter.at_ms !== tripBefore) changes.push({field: `guard_trips.${tier}`, from: tripBefore ?? null, to: {kind: tripAfter.kind, at: new Date(tripAfter.at_ms).toISOString()}})
  }
  if (before.killswitch.engaged !== after.killswitch.engaged) changes.push({field: 'killswitch.engaged', from: before.killswitch.engaged, to: after.killswitch.engaged})
  const stepsBefore = before.rollout?.applied_steps?.length ?? 0
  const stepsAfter = after.rollout?.applied_steps?.length ?? 0
  if (stepsBefore !== stepsAfter) changes.push({field: 'rollout.applied_steps', from: stepsBefore, to: stepsAfter})
  return changes
}

/** The log line for an applied control record, or undefined when it changes nothing visible. */
export function controlChangeLine(before: TierControl, after: TierControl): string | undefined {
  if (after.version === before.version) return undefined
  const changes = controlChanges(before, after)
  if (changes.length === 0) return undefined
  const ks = after.killswitch
  const killswitch = before.killswitch.engaged !== ks.engaged ? {killswitch: {engaged: ks.engaged, ...(ks.actor ? {actor: ks.actor} : {}), ...(ks.reason ? {reason: ks.reason} : {})}} : {}
  return `control.changed ${JSON.stringify({version: after.version, changes, ...killswitch})}`
}
