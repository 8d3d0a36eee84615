// The config file contract (README "Config file"). Strict: a typo is an error, not a silent default.
import {z} from 'zod'

import {scopeFilterProblem} from '../admin/permissions.js'
import {eventsConfigSchema} from '../events/config.js'
import {configActionKinds, configPolicy} from './policies.js'
import {PERMISSIONS} from '../admin/requests.js'
import {ScopeSyntaxError, parseScope} from '../protocol/scope.js'
import {BUDGET_PERIODS} from '../daemon/periods.js'
import {BUDGET_STATUSES, OVERAGE_POLICIES, TENANT_STATUSES, TIERS, type Tier, UNITS} from '../protocol/types.js'

const id = z.string().regex(/^[a-zA-Z0-9_.-]+$/, 'expected letters, digits, _ . - only').max(128)
const amount = z.int().min(0, 'expected an integer ≥ 0').max(Number.MAX_SAFE_INTEGER, 'must be at most 2^53-1')

const scope = z.string().transform((value, ctx) => {
  try {
    return parseScope(value)
  } catch (error) {
    if (error instanceof ScopeSyntaxError) {
      ctx.addIssue({code: 'custom', message: error.suggestion ? `${error.message} (${error.suggestion})` : error.message})
      return z.NEVER
    }
    throw error
  }
})

const caps = z.strictObject({
  max_tokens: amount.optional(),
  max_steps_remaining: amount.optional(),
  tool_allowlist: z.array(z.string().max(256)).optional(),
  tool_denylist: z.array(z.string().max(256)).optional(),
  cooldown_ms: amount.optional(),
})

const tenant = z.strictObject({
  id,
  name: z.string().max(256).optional(),
  status: z.enum(TENANT_STATUSES).default('ACTIVE'),
  default_commit_overage_policy: z.enum(OVERAGE_POLICIES).optional(),
  default_reservation_ttl_ms: z.int().min(1000).max(86_400_000).optional(),
  max_reservation_ttl_ms: z.int().min(1000).max(86_400_000).optional(),
  max_reservation_extensions: z.int().min(0).max(1000).optional(),
})

const apiKey = z
  .strictObject({
    tenant: id,
    key_id: id.optional(),
    name: z.string().max(256).optional(),
    secret: z.string().min(8, 'expected at least 8 characters').max(256).optional(),
    secret_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters').optional(),
    /** Default: the spec's default set for new tenant keys (DEFAULT_PERMISSIONS). */
    permissions: z.array(z.enum(PERMISSIONS, {message: `expected a permission of the admin spec, e.g. ${PERMISSIONS.slice(0, 3).join(', ')}`})).optional(),
    /** Scope filter entries (README "API keys: permissions and scope filters"). */
    scope_filter: z
      .array(z.string().min(1).max(256))
      .max(64)
      .superRefine((list, ctx) => {
        const problem = scopeFilterProblem(list)
        if (problem) ctx.addIssue({code: 'custom', message: problem})
      })
      .optional(),
  })
  .refine((k) => (k.secret === undefined) !== (k.secret_sha256 === undefined), {
    message: 'give exactly one of secret or secret_sha256',
  })

const budget = z.strictObject({
  scope,
  unit: z.enum(UNITS, {message: `expected one of ${UNITS.join(', ')}`}),
  allocated: amount,
  overdraft_limit: amount.default(0),
  status: z.enum(BUDGET_STATUSES).default('ACTIVE'),
  caps: caps.optional(),
  commit_overage_policy: z.enum(OVERAGE_POLICIES).optional(),
  /** A periodic budget (a cycles extension): its spent resets at each UTC hour, day, week (Monday) or month. */
  period: z.enum(BUDGET_PERIODS).optional(),
})

const tierConfig = z.strictObject({
  mode: z.enum(['shadow', 'enforce']),
  /** In enforce mode, the share of runs enforced (a deterministic choice per run); the rest stay in shadow. */
  enforce_percent: z.number().int().min(0).max(100).default(100),
  match: z.array(z.string().min(1)).default([]),
  /** Enforce mode while the budget store is unreachable: deny (503 INTERNAL_ERROR) or allow (admit, logged). */
  on_store_error: z.enum(['deny', 'allow']).default('deny'),
})

/** Defaults follow the Cycles guidance: read-only and search low, generation medium, side effects high. */
export const DEFAULT_TIERS: Record<Tier, {mode: 'shadow' | 'enforce'; enforce_percent: number; match: string[]; on_store_error?: 'deny' | 'allow'}> = {
  low: {mode: 'shadow', enforce_percent: 100, match: ['search.*', 'retrieval.*', '*.read', '*.get', '*.lookup']},
  medium: {mode: 'shadow', enforce_percent: 100, match: ['llm.*', 'db.query', 'db.read']},
  high: {mode: 'shadow', enforce_percent: 100, match: ['email.*', 'payment.*', 'deploy.*', 'db.write', '*.delete']},
}

/** The daemon's auto-rollback guard (README "Auto-rollback guard"): when an enforced tier's denial rate stays high, back to shadow. */
export const rolloutGuardSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Trip at this multiple of the tier's baseline (its shadow would-deny rate when enforcement began)… */
  ratio: z.number().positive().default(3),
  /** …and at or above this denial rate, whatever the baseline… */
  min_denial_rate: z.number().min(0).max(1).default(0.01),
  /** …with at least this many enforced requests in the window… */
  min_requests: z.int().min(1).default(50),
  /** …sustained for this long (also the length of the sliding window). */
  window_seconds: z.int().min(1).max(86_400).default(600),
})
export type RolloutGuardConfig = z.infer<typeof rolloutGuardSchema>

export const configSchema = z
  .strictObject({
    tenants: z.array(tenant).default([]),
    api_keys: z.array(apiKey).default([]),
    budgets: z.array(budget).default([]),
    /** Policies (admin spec + v0.1.26 governance fields), seeded create-if-absent (src/config/policies.ts). */
    policies: z.array(configPolicy).default([]),
    /** Declared custom.* action kinds with their risk class (cycles-action-kinds CUSTOM.* NAMESPACE RULES). */
    action_kinds: configActionKinds,
    tiers: z
      .strictObject({low: tierConfig.optional(), medium: tierConfig.optional(), high: tierConfig.optional()})
      .optional()
      .transform((t) => ({
        low: t?.low ?? DEFAULT_TIERS.low,
        medium: t?.medium ?? DEFAULT_TIERS.medium,
        high: t?.high ?? DEFAULT_TIERS.high,
      })),
    rollout: z.strictObject({guard: rolloutGuardSchema.prefault({})}).prefault({}),
    /** Events: retention, the writer's batching, the detectors' thresholds (src/events/config.ts). */
    events: eventsConfigSchema.prefault({}),
    /** The tamper-evident decision log (README "Tamper-evident decision log"). */
    decision_log: z
      .strictObject({
        /** Hash-chain every record (schema v2) and write signed checkpoints; false writes schema v1. */
        chain: z.boolean().default(true),
        /** Seconds between signed checkpoints (also one at start and at shutdown); 0 = only those two. */
        checkpoint_interval_s: z.int().min(0).max(86_400).default(60),
        /** PEM file of the Ed25519 checkpoint key (else $CYCLES_LOG_SIGNING_KEY, else one generated in the state directory). */
        signing_key_file: z.string().min(1).optional(),
      })
      .prefault({}),
    /** Admin plane key (the admin plane stays off without one). */
    admin_key: z.string().min(16, 'expected at least 16 characters').optional(),
    /**
     * The environment variable that holds the admin key (`cycles daemon start` refuses to start
     * without it): the admin plane is on and its key stays out of the file.
     */
    admin_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the name of an environment variable, e.g. CYCLES_ADMIN_API_KEY').optional(),
  })
  .superRefine((config, ctx) => {
    if (config.admin_key && config.admin_key_env) ctx.addIssue({code: 'custom', path: ['admin_key_env'], message: 'give admin_key or admin_key_env, not both'})
    const seen = new Map<string, number>()
    config.budgets.forEach((b, i) => {
      const key = `${b.scope} ${b.unit}`
      const first = seen.get(key)
      if (first === undefined) seen.set(key, i)
      else ctx.addIssue({code: 'custom', path: ['budgets', i], message: `duplicate budget ${key} (first at budgets.${first})`})
    })
    const tenants = new Set<string>()
    config.tenants.forEach((t, i) => {
      if (tenants.has(t.id)) ctx.addIssue({code: 'custom', path: ['tenants', i, 'id'], message: `duplicate tenant ${t.id}`})
      tenants.add(t.id)
    })
    config.policies.forEach((p, i) => {
      if (!tenants.has(p.tenant)) ctx.addIssue({code: 'custom', path: ['policies', i, 'tenant'], message: `unknown tenant '${p.tenant}'; add it under tenants:`})
    })
    config.api_keys.forEach((k, i) => {
      if (!tenants.has(k.tenant)) {
        ctx.addIssue({code: 'custom', path: ['api_keys', i, 'tenant'], message: `unknown tenant '${k.tenant}'; add it under tenants:`})
      }
    })
  })

export type CyclesConfig = z.infer<typeof configSchema>
export const TIER_NAMES = TIERS
