// Admin request bodies and query parameters, as strict as the reference server: unknown fields,
// wrong types and out-of-range values are 400 INVALID_REQUEST naming the field.
import {z} from 'zod'

import {ProtocolError, invalid} from '../protocol/errors.js'
import {OVERAGE_POLICIES, UNITS} from '../protocol/types.js'
import {BUDGET_PERIODS} from '../daemon/periods.js'
import {scopeFilterProblem} from './permissions.js'

const amountValue = z.int().min(0).max(Number.MAX_SAFE_INTEGER)
export const amountSchema = z.strictObject({unit: z.enum(UNITS), amount: amountValue})
const stringMap = z.record(z.string(), z.string())
const freeMap = z.record(z.string(), z.unknown())
const ttl = z.int().min(1000).max(86_400_000)
const dateTime = z.iso.datetime({offset: true})

export const TENANT_ID = /^[a-z0-9-]+$/

export const tenantCreate = z.strictObject({
  tenant_id: z.string().min(3).max(64).regex(TENANT_ID, 'must match ^[a-z0-9-]+$'),
  name: z.string().min(1).max(256),
  parent_tenant_id: z.string().min(1).optional(),
  metadata: stringMap.optional(),
  default_commit_overage_policy: z.enum(OVERAGE_POLICIES).optional(),
  default_reservation_ttl_ms: ttl.optional(),
  max_reservation_ttl_ms: ttl.optional(),
  max_reservation_extensions: z.int().min(0).max(1_000_000).optional(),
  reservation_expiry_policy: z.enum(['AUTO_RELEASE', 'MANUAL_CLEANUP', 'GRACE_ONLY']).optional(),
})
export type TenantCreate = z.infer<typeof tenantCreate>

export const tenantUpdate = z.strictObject({
  name: z.string().min(1).max(256).optional(),
  status: z.enum(['ACTIVE', 'SUSPENDED', 'CLOSED']).optional(),
  metadata: stringMap.refine((m) => Object.keys(m).length <= 32, 'at most 32 entries').optional(),
  default_commit_overage_policy: z.enum(OVERAGE_POLICIES).optional(),
  default_reservation_ttl_ms: ttl.optional(),
  max_reservation_ttl_ms: ttl.optional(),
  max_reservation_extensions: z.int().min(0).max(1_000_000).optional(),
  /** v0.1.26 governance extension: the tenant's default observe mode. */
  observe_mode: z.enum(['DISABLED', 'OBSERVE', 'ENFORCE']).optional(),
})
export type TenantUpdate = z.infer<typeof tenantUpdate>

export const budgetCreate = z.strictObject({
  tenant_id: z.string().min(1).optional(),
  scope: z.string().min(1).max(1024),
  unit: z.enum(UNITS),
  allocated: amountSchema,
  overdraft_limit: amountSchema.optional(),
  commit_overage_policy: z.enum(OVERAGE_POLICIES).optional(),
  rollover_policy: z.enum(['NONE', 'CARRY_FORWARD', 'CAP_AT_ALLOCATED']).optional(),
  period_start: dateTime.optional(),
  period_end: dateTime.optional(),
  metadata: freeMap.optional(),
  /** A cycles extension: spent resets at each UTC hour, day, week or month (README "Periodic budgets"). */
  period: z.enum(BUDGET_PERIODS).optional(),
})
export type BudgetCreate = z.infer<typeof budgetCreate>

export const budgetUpdate = z.strictObject({
  overdraft_limit: amountSchema.optional(),
  commit_overage_policy: z.enum(OVERAGE_POLICIES).optional(),
  metadata: freeMap.optional(),
  /** A cycles extension: set or change the period; null makes the budget non-periodic. */
  period: z.enum(BUDGET_PERIODS).nullable().optional(),
})
export type BudgetUpdate = z.infer<typeof budgetUpdate>

export const FUNDING_OPERATIONS = ['CREDIT', 'DEBIT', 'RESET', 'REPAY_DEBT', 'RESET_SPENT'] as const
export type FundingOperation = (typeof FUNDING_OPERATIONS)[number]

export const budgetFunding = z.strictObject({
  operation: z.enum(FUNDING_OPERATIONS),
  amount: amountSchema,
  spent: amountSchema.optional(),
  reason: z.string().max(512).optional(),
  idempotency_key: z.string().min(1).max(256).optional(),
  metadata: freeMap.optional(),
})
export type BudgetFunding = z.infer<typeof budgetFunding>

export const statusTransition = z.strictObject({
  reason: z.string().max(512).optional(),
  metadata: freeMap.optional(),
})

export const PERMISSIONS = [
  'reservations:create', 'reservations:commit', 'reservations:release', 'reservations:extend', 'reservations:list',
  'balances:read', 'budgets:read', 'budgets:write', 'policies:read', 'policies:write',
  'webhooks:read', 'webhooks:write', 'events:read',
  'admin:read', 'admin:write',
  'admin:tenants:read', 'admin:tenants:write', 'admin:budgets:read', 'admin:budgets:write',
  'admin:policies:read', 'admin:policies:write', 'admin:apikeys:read', 'admin:apikeys:write',
  'admin:webhooks:read', 'admin:webhooks:write', 'admin:events:read', 'admin:audit:read',
  // v0.1.26 PermissionExtension: reads the action-quota counters (balances:read is its deprecated fallback).
  'action_quotas:read',
] as const

/** The spec's default permission set for new tenant keys. */
export const DEFAULT_PERMISSIONS = PERMISSIONS.slice(0, 10) as unknown as string[]

const permissions = z.array(z.string()).superRefine((list, ctx) => {
  for (const p of list) {
    if (!(PERMISSIONS as readonly string[]).includes(p)) ctx.addIssue({code: 'custom', message: `Unrecognized permission: ${p}`})
  }
})

/** Scope filter entries must parse (permissions.ts documents the forms), so a typo is a 400, not a key that matches nothing. */
const scopeFilter = z
  .array(z.string().min(1).max(256))
  .max(64)
  .superRefine((list, ctx) => {
    const problem = scopeFilterProblem(list)
    if (problem) ctx.addIssue({code: 'custom', message: problem})
  })

export const apiKeyCreate = z.strictObject({
  tenant_id: z.string().min(1),
  name: z.string().min(1).max(256),
  description: z.string().max(1024).optional(),
  permissions: permissions.optional(),
  scope_filter: scopeFilter.optional(),
  expires_at: dateTime.optional(),
  metadata: freeMap.optional(),
})
export type ApiKeyCreate = z.infer<typeof apiKeyCreate>

export const apiKeyUpdate = z.strictObject({
  name: z.string().min(1).max(256).optional(),
  description: z.string().max(1024).optional(),
  permissions: permissions.optional(),
  scope_filter: scopeFilter.optional(),
  metadata: freeMap.optional(),
})
export type ApiKeyUpdate = z.infer<typeof apiKeyUpdate>

/** Parse a body; a zod failure becomes 400 INVALID_REQUEST "Validation failed: field: message, ...". */
export function parseBody<T>(schema: z.ZodType<T>, raw: unknown): T {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('Request body must be a JSON object')
  const result = schema.safeParse(raw)
  if (result.success) return result.data
  const unknownKeys = result.error.issues.find((i) => i.code === 'unrecognized_keys')
  if (unknownKeys) throw invalid(`Malformed request body: unknown field(s) ${(unknownKeys as {keys: string[]}).keys.join(', ')}`)
  const parts = result.error.issues.slice(0, 5).map((i) => `${i.path.length > 0 ? i.path.join('.') : 'body'}: ${i.message}`)
  throw invalid(`Validation failed: ${parts.join(', ')}`)
}

// ---------------------------------------------------------------- query parameters

export function queryEnum<T extends string>(query: URLSearchParams, name: string, values: readonly T[]): T | undefined {
  const v = query.get(name)
  if (v === null || v === '') return undefined
  if (!(values as readonly string[]).includes(v)) throw invalid(`Validation failed: ${name}: expected one of ${values.join(', ')}`)
  return v as T
}

export function queryBool(query: URLSearchParams, name: string): boolean | undefined {
  const v = query.get(name)
  if (v === null || v === '') return undefined
  if (v === 'true') return true
  if (v === 'false') return false
  throw invalid(`Validation failed: ${name}: expected true or false`)
}

export function queryNumber(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const v = query.get(name)
  if (v === null || v === '') return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n < min || n > max) throw invalid(`Validation failed: ${name}: expected a number in [${min}, ${max}]`)
  return n
}

export function queryInt(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const n = queryNumber(query, name, min, max)
  if (n !== undefined && !Number.isInteger(n)) throw invalid(`Validation failed: ${name}: expected an integer`)
  return n
}

/** Comma-separated IN-list (`a,b`), also accepting repeated parameters. At most 25 values. */
export function queryList(query: URLSearchParams, name: string): string[] | undefined {
  const values = query.getAll(name).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '')
  if (values.length === 0) return undefined
  if (values.length > 25) throw invalid(`Validation failed: ${name}: at most 25 values`)
  return values
}

export function querySearch(query: URLSearchParams): string | undefined {
  const v = query.get('search')
  if (v === null || v === '') return undefined
  if (v.length > 128) throw invalid('Validation failed: search: at most 128 characters')
  return v.toLowerCase()
}

export function queryDate(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name)
  if (v === null || v === '') return undefined
  const ms = Date.parse(v)
  if (!dateTime.safeParse(v).success || Number.isNaN(ms)) throw invalid(`Validation failed: ${name}: expected an RFC 3339 date-time`)
  return ms
}

export function queryLimit(query: URLSearchParams): number {
  const v = query.get('limit')
  if (v === null || v === '') return 50
  const n = Number(v)
  if (!Number.isInteger(n)) throw invalid('Validation failed: limit: expected an integer')
  return Math.min(100, Math.max(1, n))
}

export function requiredQuery(query: URLSearchParams, name: string): string {
  const v = query.get(name)
  if (v === null || v === '') throw invalid(`Validation failed: ${name}: is required`)
  return v
}

export const notFound = (code: 'TENANT_NOT_FOUND' | 'BUDGET_NOT_FOUND' | 'NOT_FOUND', message: string) => new ProtocolError(code, message)
