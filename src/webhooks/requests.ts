// Webhook request bodies, as strict as the admin spec's schemas: unknown fields, wrong types and
// out-of-range values are 400 INVALID_REQUEST naming the field (admin/requests.ts parseBody).
import {z} from 'zod'

import {EVENT_CATEGORIES, EVENT_TYPES} from '../events/event.js'

/** A known type, or a custom one (`custom.` prefix, the spec's rule for custom types). */
const eventType = z.string().refine((t) => (EVENT_TYPES as readonly string[]).includes(t) || /^custom\.[a-z0-9_.-]+$/.test(t), {message: 'unknown event type (custom types start with custom.)'})
const eventCategory = z.enum(EVENT_CATEGORIES)

const retryPolicy = z.strictObject({
  max_retries: z.int().min(0).max(10).optional(),
  initial_delay_ms: z.int().min(100).max(60_000).optional(),
  backoff_multiplier: z.number().min(1).max(10).optional(),
  max_delay_ms: z.int().min(1000).max(3_600_000).optional(),
})

const fraction = z.number().min(0).max(1)
const thresholds = z.strictObject({
  budget_utilization: z.array(fraction).optional(),
  burn_rate_multiplier: z.number().min(1.5).optional(),
  burn_rate_window_seconds: z.int().min(60).max(86_400).optional(),
  denial_rate_threshold: fraction.optional(),
  expiry_rate_threshold: fraction.optional(),
  auth_failure_rate_threshold: fraction.optional(),
  rate_window_seconds: z.int().min(60).max(86_400).optional(),
})

/** Header names a subscription may not set: the ones delivery itself writes. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'host', 'user-agent', 'x-cycles-signature', 'x-cycles-event-id', 'x-cycles-event-type', 'x-cycles-trace-id', 'traceparent', 'x-request-id'])
const headers = z
  .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'not a valid header name'), z.string().max(4096).regex(/^[^\r\n]*$/, 'no line breaks'))
  .refine((h) => Object.keys(h).length <= 20, 'at most 20 headers')
  .refine((h) => Object.keys(h).every((k) => !RESERVED_HEADERS.has(k.toLowerCase())), 'sets a header that delivery writes itself')

const signingSecret = z.string().min(16, 'at least 16 characters').max(256)

export const webhookCreate = z.strictObject({
  name: z.string().max(256).optional(),
  description: z.string().max(1024).optional(),
  url: z.string().min(1).max(2048),
  event_types: z.array(eventType).min(1),
  event_categories: z.array(eventCategory).optional(),
  scope_filter: z.string().min(1).max(1024).optional(),
  thresholds: thresholds.optional(),
  signing_secret: signingSecret.optional(),
  headers: headers.optional(),
  retry_policy: retryPolicy.optional(),
  disable_after_failures: z.int().min(1).max(1_000_000).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
})
export type WebhookCreate = z.infer<typeof webhookCreate>

/** PATCH: every create field optional (event_types may be [] when categories remain), plus status. */
export const webhookUpdate = webhookCreate.partial().extend({
  event_types: z.array(eventType).optional(),
  status: z.enum(['ACTIVE', 'PAUSED']).optional(),
})
export type WebhookUpdate = z.infer<typeof webhookUpdate>

const dateTime = z.iso.datetime({offset: true})

export const replayRequest = z.strictObject({
  from: dateTime,
  to: dateTime,
  event_types: z.array(eventType).optional(),
  max_events: z.int().min(1).max(1000).optional(),
})

export const bulkRequest = z.strictObject({
  filter: z
    .strictObject({
      tenant_id: z.string().min(1).optional(),
      status: z.enum(['ACTIVE', 'PAUSED', 'DISABLED']).optional(),
      event_type: eventType.optional(),
      search: z.string().max(128).optional(),
    })
    .refine((f) => Object.values(f).some((v) => v !== undefined && v !== ''), 'at least one filter property is required'),
  action: z.enum(['PAUSE', 'RESUME', 'DELETE']),
  expected_count: z.int().min(0).optional(),
  idempotency_key: z.string().min(1).max(128),
})
export type BulkRequest = z.infer<typeof bulkRequest>

export const securityConfig = z.strictObject({
  blocked_cidr_ranges: z.array(z.string().min(1).max(64)).max(256).optional(),
  allowed_url_patterns: z.array(z.string().min(1).max(2048)).max(256).optional(),
  allow_http: z.boolean().optional(),
})
