// Which subscriptions an event goes to: the subscription's tenant (a __system__ one hears every
// tenant), its selectors (event_types, and event_categories additively), its scope filter, and the
// tenant-accessible boundary re-checked at dispatch (a tenant-owned row never receives admin-only
// events, whatever an older version of the row says).
import {type CyclesEvent, SYSTEM_TENANT} from '../events/event.js'
import {ScopeFilterError, buildScopeFilter} from '../admin/permissions.js'
import {type SubscriptionDoc, tenantAccessible} from './model.js'

export function selects(sub: Pick<SubscriptionDoc, 'event_types' | 'event_categories'>, event: Pick<CyclesEvent, 'event_type' | 'category'>): boolean {
  return sub.event_types.includes(event.event_type) || (sub.event_categories ?? []).includes(event.category)
}

/** A scope filter such as `tenant:acme/*` (permissions.ts grammar); an event without a scope passes no filter. */
export function scopeAllows(filter: string | undefined, scope: string | undefined): boolean {
  if (!filter) return true
  if (!scope) return false
  try {
    return buildScopeFilter([filter]).allows(scope.toLowerCase())
  } catch (error) {
    if (error instanceof ScopeFilterError) return false
    throw error
  }
}

export function matches(sub: SubscriptionDoc, event: CyclesEvent): boolean {
  if (sub.tenant_id !== SYSTEM_TENANT) {
    if (event.tenant_id !== sub.tenant_id) return false
    if (!tenantAccessible(event.event_type)) return false
  }
  return selects(sub, event) && scopeAllows(sub.scope_filter, event.scope)
}
