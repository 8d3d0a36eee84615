// Request body schemas of the runtime plane. Strict like the reference server: unknown fields,
// wrong types, non-safe integers and out-of-range values are 400 INVALID_REQUEST, never a 500.
import {z} from 'zod'

import {invalid} from './errors.js'
import {OVERAGE_POLICIES, UNITS} from './types.js'

const MAX_METADATA_DEPTH = 16

const safeInt = (min: number, max = Number.MAX_SAFE_INTEGER) => z.int().min(min).max(max)

const amount = z.strictObject({unit: z.enum(UNITS), amount: safeInt(0)})

const subjectValue = z.string().max(128)
const subject = z.strictObject({
  tenant: subjectValue.optional(),
  workspace: subjectValue.optional(),
  app: subjectValue.optional(),
  workflow: subjectValue.optional(),
  agent: subjectValue.optional(),
  toolset: subjectValue.optional(),
  dimensions: z
    .record(z.string(), z.string().max(256))
    .refine((d) => Object.keys(d).length <= 16, 'at most 16 dimensions')
    .optional(),
})

const action = z.strictObject({
  kind: z.string().max(64).refine((s) => s.trim() !== '', 'must not be blank'),
  name: z.string().max(256).refine((s) => s.trim() !== '', 'must not be blank'),
  tags: z.array(z.string().max(64)).max(10).optional(),
})

function depth(value: unknown, limit: number): number {
  if (value === null || typeof value !== 'object') return 0
  if (limit <= 0) return 1
  let max = 0
  for (const v of Object.values(value as object)) max = Math.max(max, depth(v, limit - 1))
  return max + 1
}

const metadata = z
  .record(z.string(), z.unknown())
  .refine((m) => depth(m, MAX_METADATA_DEPTH + 1) <= MAX_METADATA_DEPTH, `nested deeper than ${MAX_METADATA_DEPTH} levels`)

const idempotencyKey = z.string().min(1).max(256)
const overagePolicy = z.enum(OVERAGE_POLICIES)

const metrics = z.strictObject({
  tokens_input: safeInt(0).optional(),
  tokens_output: safeInt(0).optional(),
  latency_ms: safeInt(0).optional(),
  model_version: z.string().max(128).optional(),
  custom: metadata.optional(),
})

export const reservationCreateRequest = z.strictObject({
  idempotency_key: idempotencyKey,
  subject,
  action,
  estimate: amount,
  ttl_ms: safeInt(1000, 86_400_000).optional(),
  // Defaults are materialised so an omitted default and an explicit one hash alike (idempotency).
  grace_period_ms: safeInt(0, 60_000).default(5_000),
  overage_policy: overagePolicy.optional(),
  dry_run: z.boolean().default(false),
  metadata: metadata.optional(),
})
export type ReservationCreateRequest = z.output<typeof reservationCreateRequest>

export const decisionRequest = z.strictObject({
  idempotency_key: idempotencyKey,
  subject,
  action,
  estimate: amount,
  metadata: metadata.optional(),
})
export type DecisionRequest = z.infer<typeof decisionRequest>

export const commitRequest = z.strictObject({
  idempotency_key: idempotencyKey,
  actual: amount,
  metrics: metrics.optional(),
  metadata: metadata.optional(),
})
export type CommitRequest = z.infer<typeof commitRequest>

export const releaseRequest = z.strictObject({
  idempotency_key: idempotencyKey,
  reason: z.string().max(256).optional(),
})
export type ReleaseRequest = z.infer<typeof releaseRequest>

export const extendRequest = z.strictObject({
  idempotency_key: idempotencyKey,
  extend_by_ms: safeInt(1, 86_400_000),
  metadata: metadata.optional(),
})
export type ExtendRequest = z.infer<typeof extendRequest>

export const eventCreateRequest = z.strictObject({
  idempotency_key: idempotencyKey,
  subject,
  action,
  actual: amount,
  overage_policy: overagePolicy.default('ALLOW_IF_AVAILABLE'),
  metrics: metrics.optional(),
  client_time_ms: safeInt(0).optional(),
  metadata: metadata.optional(),
})
export type EventCreateRequest = z.output<typeof eventCreateRequest>

/** Parse `body` with `schema`, or throw 400 INVALID_REQUEST naming each bad field. */
export function parseRequest<T>(schema: z.ZodType<T, any>, body: unknown): T {
  const result = schema.safeParse(body)
  if (result.success) return result.data
  throw invalid(`Validation failed: ${formatIssues(result.error.issues)}`)
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(body)'
      if (issue.code === 'unrecognized_keys') return `${path}: unknown field(s) ${issue.keys.join(', ')}`
      return `${path}: ${issue.message}`
    })
    .join(', ')
}
