// Policies and custom action kinds declared in the config file (`policies:`, `action_kinds:`),
// seeded create-if-absent like budgets: a policy changed or deleted through the admin API at run
// time stays as it was made, and every instance can start from the same file.
import {z} from 'zod'

import {policyFromCreate} from '../policies/policy-ops.js'
import {customKindDeclaration, policyCreate} from '../policies/schema.js'
import {CUSTOM_KINDS_COLLECTION, POLICIES_COLLECTION} from '../policies/types.js'
import type {DocWrite, Store} from '../store/types.js'

export const configPolicy = policyCreate
  .omit({tenant_id: true})
  .extend({
    /** The policy_id: fixed in the file so a restart finds the policy it seeded. */
    id: z.string().regex(/^[a-zA-Z0-9_.-]+$/, 'expected letters, digits, _ . - only').max(128),
    tenant: z.string().min(1).max(64),
  })
  .refine((p) => p.allowed_action_kinds.length === 0 || p.denied_action_kinds.length === 0, {message: 'allowed_action_kinds and denied_action_kinds are mutually exclusive'})
export type ConfigPolicy = z.infer<typeof configPolicy>

export const configActionKinds = z.array(customKindDeclaration).default([])

/** The doc writes that create what the store does not have yet (each guarded by expectVersion 0). */
export async function policySeedWrites(store: Store, config: {policies: ConfigPolicy[]; action_kinds: z.infer<typeof configActionKinds>}, nowMs: number): Promise<DocWrite[]> {
  if (config.policies.length === 0 && config.action_kinds.length === 0) return []
  const [policies, kinds] = await Promise.all([
    config.policies.length > 0 ? store.getDocs(POLICIES_COLLECTION, config.policies.map((p) => p.id)) : [],
    config.action_kinds.length > 0 ? store.getDocs(CUSTOM_KINDS_COLLECTION, config.action_kinds.map((k) => k.kind)) : [],
  ])
  const writes: DocWrite[] = []
  config.action_kinds.forEach((k, i) => {
    if (!kinds[i]) writes.push({collection: CUSTOM_KINDS_COLLECTION, id: k.kind, set: {...k}, expectVersion: 0})
  })
  config.policies.forEach((p, i) => {
    if (policies[i]) return
    const {id, tenant, ...body} = p
    const policy = policyFromCreate(body, tenant, nowMs, id)
    writes.push({collection: POLICIES_COLLECTION, id, set: policy as unknown as Record<string, unknown>, expectVersion: 0})
  })
  return writes
}
