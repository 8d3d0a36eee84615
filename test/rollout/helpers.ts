// A daemon for the rollout tests: one tenant, one budget per tier scope (so a tier's limit can be cut
// without touching the others), the admin plane on, and small helpers for traffic and admin calls.
import {randomUUID} from 'node:crypto'

import type {DaemonOptions} from '../../src/daemon/daemon.js'
import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'

export const ADMIN = 'admin_key_for_rollout_tests_0123456789'
export const KEY = 'cyc_rollout_acme_0123456789abcdef'

export interface RolloutConfig {
  low?: 'shadow' | 'enforce'
  /** Allocation of the low tier's budget (workspace:search). */
  lowAllocated?: number
  guard?: string
  extraBudgets?: string
}

export function rolloutConfig(o: RolloutConfig = {}): string {
  return `
tenants:
  - id: acme
api_keys:
  - tenant: acme
    secret: ${KEY}
budgets:
  - scope: tenant:acme/workspace:search
    unit: USD_MICROCENTS
    allocated: ${o.lowAllocated ?? 1_000_000_000}
  - scope: tenant:acme/workspace:gen
    unit: USD_MICROCENTS
    allocated: 1000000000
${o.extraBudgets ?? ''}
tiers:
  low:    { mode: ${o.low ?? 'shadow'}, match: ["search.*"] }
  medium: { mode: shadow, match: ["llm.*"] }
  high:   { mode: shadow, match: ["email.*"] }
${o.guard ? `rollout:\n  guard: ${o.guard}\n` : ''}admin_key: ${ADMIN}
`
}

export const admin = (d: TestDaemon, method: string, p: string, body?: unknown) => call(d.daemon.adminUrl, method, p, body, {'X-Admin-API-Key': ADMIN})

/** One live reservation of `amount` in the search workspace (low tier); commits `commitActual` when given and admitted. */
export async function search(d: TestDaemon, amount: number, commitActual?: number, workspace = 'search', kind = 'search.web') {
  const res = await call(
    d.url,
    'POST',
    '/v1/reservations',
    {idempotency_key: randomUUID(), subject: {tenant: 'acme', workspace}, action: {kind, name: 'q'}, estimate: {unit: 'USD_MICROCENTS', amount}},
    {'X-Cycles-API-Key': KEY},
  )
  if (commitActual !== undefined && res.status === 200 && res.body?.decision !== 'DENY') {
    const c = await call(d.url, 'POST', `/v1/reservations/${res.body.reservation_id}/commit`, {idempotency_key: randomUUID(), actual: {unit: 'USD_MICROCENTS', amount: commitActual}}, {'X-Cycles-API-Key': KEY})
    if (c.status !== 200) throw new Error(`commit failed: ${c.status} ${c.text}`)
  }
  return res
}

export async function startRolloutDaemon(config: string, dir?: string, options: Partial<DaemonOptions> = {}): Promise<TestDaemon> {
  return startTestDaemon(config, {adminPort: 0, ...options}, dir)
}

/**
 * `clients` sequential loops of traffic (reserve, then commit `actual`) until stop(); counts answers by status.
 * `pauseMs` between a loop's requests caps the rate, so a budget's headroom lasts a known time whatever the host's speed.
 */
export function traffic(d: TestDaemon, estimate: number, actual: number, workspace = 'search', clients = 4, pauseMs = 0) {
  let running = true
  const statuses: Record<number, number> = {}
  const loop = async () => {
    while (running) {
      const res = await search(d, estimate, actual, workspace)
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs))
    }
  }
  const done = Promise.all(Array.from({length: clients}, loop))
  return {
    statuses,
    stop: async () => {
      running = false
      await done
    },
  }
}

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false> | T | undefined | false, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
