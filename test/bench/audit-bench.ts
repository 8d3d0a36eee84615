// `npm run bench -- audit`: what chaining costs an admin mutation. The same funding-shaped
// transaction (one ledger delta + one audit row of the same size) is applied with its row on the
// chain and, as the same run's baseline, with a row of the unchained class (a failed request's), on
// the embedded store (journal on disk, each write awaited durable) and on Redis (one instance, then
// two instances writing at once, where the chain head's compare-and-set has to arbitrate).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'

import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {RedisStore} from '../../src/store/redis/redis-store.js'
import type {AuditEntry, Store, Tx} from '../../src/store/types.js'
import {sealAuditRow, AUDIT_GENESIS} from '../../src/integrity/audit-chain.js'
import {destroyRedis, startRedis} from '../support/redis.js'

const SCOPE = 'tenant:bench'
const UNIT = 'USD_MICROCENTS' as const
let seq = 0

function row(chained: boolean): AuditEntry {
  seq++
  return {
    log_id: `log_${seq.toString(36).padStart(12, '0')}`,
    timestamp_ms: Date.now(),
    tenant_id: 'bench',
    actor_type: 'admin_on_behalf_of',
    operation: 'fundBudget',
    resource_type: 'budget',
    resource_id: `${SCOPE}:${UNIT}`,
    // 200: a write's row, sealed; 409: the same row in the unchained class.
    status: chained ? 200 : 409,
    request_id: `req-${seq}`,
    trace_id: '0af7651916cd43dd8448eb211c80319c',
    metadata: {actor: 'bench@host', reason: 'bench top-up', operation: 'CREDIT', amount: 1, unit: UNIT, previous_allocated: seq, new_allocated: seq + 1},
  }
}

const fund = (chained: boolean): Tx => ({deltas: [{book: 'real', scope: SCOPE, unit: UNIT, add: {allocated: 1}}], audit: [row(chained)]})

function stats(us: number[]): string {
  const s = [...us].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]
  const mean = s.reduce((a, b) => a + b, 0) / s.length
  return `p50 ${q(0.5).toFixed(0).padStart(5)} µs  p99 ${q(0.99).toFixed(0).padStart(6)} µs  mean ${mean.toFixed(0).padStart(5)} µs`
}

/** Sequential mutations, each awaited durable: the latency an operator's command sees from the store. */
async function sequential(store: Store, chained: boolean, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    const r = await store.apply(fund(chained))
    await store.flushed()
    out.push((performance.now() - t) * 1000)
    if (!r.ok) throw new Error(`bench transaction refused: ${r.failed}`)
  }
  return out
}

async function seedLedger(store: Store): Promise<void> {
  const now = Date.now()
  const ledger = {scope: SCOPE, unit: UNIT, allocated: 0, remaining: 0, reserved: 0, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE' as const, created_at_ms: now, updated_at_ms: now}
  await store.apply({createLedgers: [{...ledger, book: 'real'}]})
}

export async function run(): Promise<void> {
  const n = 2000
  // The seal alone (canonical text + one SHA-256), per batch of 100: on a shared machine the fastest
  // batch is the cost, the median what the load makes of it.
  let head = AUDIT_GENESIS
  const sample = row(true)
  const batches: number[] = []
  for (let b = 0; b < 200; b++) {
    const t0 = performance.now()
    for (let i = 0; i < 100; i++) head = sealAuditRow(sample, head).head
    batches.push(((performance.now() - t0) * 1000) / 100)
  }
  batches.sort((x, y) => x - y)
  console.log(`seal one audit row: median ${batches[100].toFixed(2)} µs, fastest batch ${batches[0].toFixed(2)} µs (200 batches of 100)`)

  const embedded = await EmbeddedStore.open({stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-audit-bench-')), fsyncIntervalMs: 0})
  await seedLedger(embedded)
  await sequential(embedded, true, 200) // warm-up
  await sequential(embedded, false, 200)
  console.log(`embedded, ${n} sequential mutations, each durable:`)
  console.log(`  unchained row (baseline)  ${stats(await sequential(embedded, false, n))}`)
  console.log(`  chained row               ${stats(await sequential(embedded, true, n))}`)
  await embedded.close()

  let redis
  try {
    redis = await startRedis()
  } catch (error) {
    console.log(`redis: skipped (${(error as Error).message})`)
    return
  }
  try {
    const prefix = `bench${Date.now()}:`
    const a = await RedisStore.open({url: redis.url, prefix})
    const b = await RedisStore.open({url: redis.url, prefix})
    await seedLedger(a)
    await sequential(a, true, 200)
    await sequential(a, false, 200)
    console.log(`redis, ${n} sequential mutations on one instance:`)
    console.log(`  unchained row (baseline)  ${stats(await sequential(a, false, n))}`)
    console.log(`  chained row               ${stats(await sequential(a, true, n))}`)
    for (const chained of [false, true]) {
      const t = performance.now()
      const both = await Promise.all([sequential(a, chained, n / 2), sequential(b, chained, n / 2)])
      const s = (performance.now() - t) / 1000
      console.log(`redis, two instances at once, ${chained ? 'chained row  ' : 'unchained row'}: ${(n / s).toFixed(0)} mutations/s, ${stats(both.flat())}`)
    }
    await a.close()
    await b.close()
  } finally {
    await destroyRedis(redis)
  }
}
