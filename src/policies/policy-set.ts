// The policies and declared custom kinds every reservation is evaluated against, cached per store.
// With no policy the request path pays one map lookup. The cache is short-lived (POLICY_CACHE_TTL_MS)
// so that, with Redis, a change made through another instance applies within that time; a change
// made through this process's admin plane invalidates it at once (invalidatePolicies).
import type {Store} from '../store/types.js'
import type {ActionKindEntry} from './action-kinds.js'
import {type SelectedPolicy, selectPolicy} from './match.js'
import {CUSTOM_KINDS_COLLECTION, POLICIES_COLLECTION, type Policy} from './types.js'

export const POLICY_CACHE_TTL_MS = 1000
const MAX_DOCS = 100_000

export interface PolicySet {
  byTenant: ReadonlyMap<string, Policy[]>
  customKinds: ReadonlyMap<string, ActionKindEntry>
}

export const EMPTY_POLICY_SET: PolicySet = {byTenant: new Map(), customKinds: new Map()}

/** The policy that governs a request of `tenant` touching `affectedScopes` now (match.ts selectPolicy over the tenant's policies). */
export function governingPolicy(set: PolicySet, tenant: string, affectedScopes: readonly string[], nowMs: number): SelectedPolicy | undefined {
  const mine = set.byTenant.get(tenant)
  return mine ? selectPolicy(mine, affectedScopes, nowMs) : undefined
}

class PolicyCache {
  private value: PolicySet | undefined
  private loadedAt = 0
  private loading: Promise<PolicySet> | undefined
  private generation = 0

  constructor(private readonly store: Store) {}

  /** The current set: from memory while fresh, else loaded once for all waiting requests. */
  get(nowMs: number): PolicySet | Promise<PolicySet> {
    if (this.value && nowMs - this.loadedAt < POLICY_CACHE_TTL_MS) return this.value
    if (this.loading) return this.loading
    const generation = this.generation
    this.loading = loadPolicySet(this.store).then(
      (set) => {
        this.loading = undefined
        // A change during the load may not be in it: keep the result only if nothing was invalidated meanwhile.
        if (generation === this.generation) {
          this.value = set
          this.loadedAt = nowMs
        }
        return set
      },
      (error) => {
        this.loading = undefined
        throw error
      },
    )
    return this.loading
  }

  /** The set loaded last, however old; undefined before the first load and after a change through this process. */
  lastLoaded(): PolicySet | undefined {
    return this.value
  }

  invalidate(): void {
    this.generation++
    this.value = undefined
    this.loading = undefined
  }
}

const caches = new WeakMap<Store, PolicyCache>()

function cacheFor(store: Store): PolicyCache {
  let cache = caches.get(store)
  if (!cache) caches.set(store, (cache = new PolicyCache(store)))
  return cache
}

export function currentPolicies(store: Store, nowMs: number): PolicySet | Promise<PolicySet> {
  return cacheFor(store).get(nowMs)
}

/** The policies as last loaded, however old: what the store-outage fallback applies while no load can succeed. */
export function lastKnownPolicies(store: Store): PolicySet | undefined {
  return caches.get(store)?.lastLoaded()
}

/** After a policy or custom-kind change through this process. */
export function invalidatePolicies(store: Store): void {
  cacheFor(store).invalidate()
}

export async function loadPolicySet(store: Store): Promise<PolicySet> {
  const [policyDocs, kindDocs] = await Promise.all([store.listDocs(POLICIES_COLLECTION, {limit: MAX_DOCS}), store.listDocs(CUSTOM_KINDS_COLLECTION, {limit: MAX_DOCS})])
  if (policyDocs.length === 0 && kindDocs.length === 0) return EMPTY_POLICY_SET
  const byTenant = new Map<string, Policy[]>()
  for (const d of policyDocs) {
    const p = d.value as unknown as Policy
    const list = byTenant.get(p.tenant_id)
    if (list) list.push(p)
    else byTenant.set(p.tenant_id, [p])
  }
  const customKinds = new Map<string, ActionKindEntry>()
  for (const d of kindDocs) customKinds.set(d.id, d.value as unknown as ActionKindEntry)
  return {byTenant, customKinds}
}
