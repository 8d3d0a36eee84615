// The daemon's `events:` config section: how long events are kept, how the writer batches, and the
// detectors' thresholds (defaults from the admin spec's WebhookThresholdConfig, cycles-admin.md §5.4).
import {z} from 'zod'

import {durationMs} from '../runbook/duration.js'

export const eventThresholdsSchema = z.strictObject({
  /** budget.threshold_crossed fires when utilization ((spent + reserved) / allocated) crosses one of these. */
  budget_utilization: z.array(z.number().positive().max(10)).min(1).default([0.8, 0.95, 1.0]),
  /** reservation.denial_rate_spike: denied share of reservation attempts over the window. */
  denial_rate_threshold: z.number().positive().max(1).default(0.1),
  /** api_key.auth_failure_rate_spike: failed share of authentications over the window. */
  auth_failure_rate_threshold: z.number().positive().max(1).default(0.1),
  rate_window_seconds: z.int().min(1).max(86_400).default(300),
  /** Fewer samples than this in the window never make a spike. */
  rate_min_samples: z.int().min(1).default(20),
  /** budget.burn_rate_anomaly: spend rate over the window at this multiple of its baseline. */
  burn_rate_multiplier: z.number().min(1.5).default(3),
  burn_rate_window_seconds: z.int().min(1).max(86_400).default(300),
  /** Complete windows seen before a baseline counts (no anomaly against a baseline of one window). */
  burn_rate_baseline_windows: z.int().min(1).max(100).default(3),
})

export const eventsConfigSchema = z.strictObject({
  /** Off: nothing is emitted or stored (the event routes answer with an empty list). */
  enabled: z.boolean().default(true),
  /** How long an event is kept (`7d`, `36h`); each event doc expires that long after it happened. */
  retention: z
    .string()
    .default('7d')
    .refine((s) => (durationMs(s) ?? 0) > 0, {message: "expected a duration such as '7d', '36h' or '90m'"}),
  /** Events waiting to be written at most (beyond that, while the store is down, new events are dropped and counted). */
  max_buffer: z.int().min(10).max(1_000_000).default(10_000),
  /** How often the writer flushes its buffer (ms), and at most how many events go in one store write. */
  flush_interval_ms: z.int().min(1).max(10_000).default(100),
  batch_size: z.int().min(1).max(10_000).default(500),
  /**
   * Share of v0.1.26 observe-mode ALLOWs that emit reservation.observed_allowed (the spec's
   * observe_allow_sample_rate): one event per allowed request is the volume of the traffic itself.
   * Below 1 the events carry `sample_rate` so consumers can scale counts by 1/sample_rate.
   */
  observe_allow_sample_rate: z.number().gt(0).max(1).default(1),
  thresholds: eventThresholdsSchema.prefault({}),
})

export type EventsConfig = z.infer<typeof eventsConfigSchema>
export type EventThresholds = z.infer<typeof eventThresholdsSchema>

export const DEFAULT_EVENTS_CONFIG: EventsConfig = eventsConfigSchema.parse({})

export function retentionMs(config: EventsConfig): number {
  return durationMs(config.retention)!
}
