// Policy request bodies (admin spec PolicyCreateRequest / updatePolicy, with the v0.1.26 governance
// extension fields and the `cycles` approval extension), shared by the admin API and the config
// file. Strict: unknown fields and out-of-range values are refused.
import {z} from 'zod'

import {OVERAGE_POLICIES} from '../protocol/types.js'
import {CUSTOM_KIND_PATTERN} from './action-kinds.js'
import {scopePatternProblem} from './match.js'
import {QUOTA_WINDOWS, RISK_CLASSES} from './types.js'

const kind = z.string().min(1).max(64)
const dateTime = z.iso.datetime({offset: true})
const perRunTtl = z.int().min(60_000).max(604_800_000)
const threshold = z.number().min(0.01).max(0.99)

export const capsSchema = z.strictObject({
  max_tokens: z.int().min(0).optional(),
  max_steps_remaining: z.int().min(0).optional(),
  tool_allowlist: z.array(z.string().max(256)).optional(),
  tool_denylist: z.array(z.string().max(256)).optional(),
  cooldown_ms: z.int().min(0).optional(),
})

const actionQuota = z
  .strictObject({
    action_kind: kind,
    max_calls: z.int().min(1).max(100_000),
    window: z.enum(QUOTA_WINDOWS),
    host_allowlist: z.array(z.string().max(253)).optional(),
    recipient_domain_allowlist: z.array(z.string().max(253)).optional(),
    resource_type_allowlist: z.array(z.string().max(128)).optional(),
    per_run_counter_ttl_ms: perRunTtl.optional(),
    threshold_pct: threshold.optional(),
  })
  .refine((q) => q.per_run_counter_ttl_ms === undefined || q.window === 'per_run', {message: 'per_run_counter_ttl_ms is only allowed with window per_run'})

const riskClassQuota = z
  .strictObject({
    risk_class: z.enum(RISK_CLASSES),
    max_calls: z.int().min(1).max(100_000),
    window: z.enum(QUOTA_WINDOWS),
    per_run_counter_ttl_ms: perRunTtl.optional(),
    threshold_pct: threshold.optional(),
  })
  .refine((q) => q.per_run_counter_ttl_ms === undefined || q.window === 'per_run', {message: 'per_run_counter_ttl_ms is only allowed with window per_run'})

const scopePattern = z.string().superRefine((v, ctx) => {
  const problem = scopePatternProblem(v)
  if (problem) ctx.addIssue({code: 'custom', message: problem})
})

const fields = {
  name: z.string().min(1).max(256),
  description: z.string().max(1024).optional(),
  priority: z.int().min(0).max(1_000_000),
  caps: capsSchema.optional(),
  commit_overage_policy: z.enum(OVERAGE_POLICIES).optional(),
  reservation_ttl_override: z
    .strictObject({default_ttl_ms: z.int().min(1000).max(86_400_000).optional(), max_ttl_ms: z.int().min(1000).max(86_400_000).optional(), max_extensions: z.int().min(0).optional()})
    .optional(),
  rate_limits: z.strictObject({max_reservations_per_minute: z.int().min(1).optional(), max_commits_per_minute: z.int().min(1).optional()}).optional(),
  effective_from: dateTime.optional(),
  effective_until: dateTime.optional(),
  action_quotas: z.array(actionQuota).max(50),
  risk_class_quotas: z.array(riskClassQuota).max(20),
  allowed_action_kinds: z.array(kind).max(200),
  denied_action_kinds: z.array(kind).max(200),
  approval_required_action_kinds: z.array(kind).max(200),
}

export const policyCreate = z.strictObject({
  tenant_id: z.string().min(1).max(64).optional(),
  name: fields.name,
  description: fields.description,
  scope_pattern: scopePattern,
  priority: fields.priority.default(0),
  caps: fields.caps,
  commit_overage_policy: fields.commit_overage_policy,
  reservation_ttl_override: fields.reservation_ttl_override,
  rate_limits: fields.rate_limits,
  effective_from: fields.effective_from,
  effective_until: fields.effective_until,
  // v0.1.26: absent lists are stored as [] (DEFAULT VALUE SEMANTICS).
  action_quotas: fields.action_quotas.default([]),
  risk_class_quotas: fields.risk_class_quotas.default([]),
  allowed_action_kinds: fields.allowed_action_kinds.default([]),
  denied_action_kinds: fields.denied_action_kinds.default([]),
  approval_required_action_kinds: fields.approval_required_action_kinds.default([]),
})
export type PolicyCreate = z.infer<typeof policyCreate>

export const policyUpdate = z.strictObject({
  name: fields.name.optional(),
  description: fields.description,
  priority: fields.priority.optional(),
  caps: fields.caps,
  commit_overage_policy: fields.commit_overage_policy,
  reservation_ttl_override: fields.reservation_ttl_override,
  rate_limits: fields.rate_limits,
  effective_from: fields.effective_from,
  effective_until: fields.effective_until,
  status: z.enum(['ACTIVE', 'DISABLED']).optional(),
  scope_pattern: scopePattern.optional(),
  action_quotas: fields.action_quotas.optional(),
  risk_class_quotas: fields.risk_class_quotas.optional(),
  allowed_action_kinds: fields.allowed_action_kinds.optional(),
  denied_action_kinds: fields.denied_action_kinds.optional(),
  approval_required_action_kinds: fields.approval_required_action_kinds.optional(),
})
export type PolicyUpdate = z.infer<typeof policyUpdate>

export const customKindDeclaration = z.strictObject({
  kind: z.string().max(64).regex(CUSTOM_KIND_PATTERN, 'expected custom.<org>.<operation>[.<qualifier>]'),
  risk_class: z.enum(RISK_CLASSES),
  description: z.string().max(512).optional(),
  policy_key_spec: z
    .strictObject({host: z.boolean().optional(), recipient_domain: z.boolean().optional(), resource_type: z.string().optional(), path_prefix: z.boolean().optional()})
    .optional(),
})
export type CustomKindDeclaration = z.infer<typeof customKindDeclaration>
