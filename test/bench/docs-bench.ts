// Cost of doc collections on the hot path: a reserve-sized transaction (3 ledger conditions, 3
// deltas, a new reservation, an idempotency record) with and without 2 quota-counter docs (a `lt`
// guard and an `add` each), on the Redis store (closed loop, N in flight, so group commit batches
// them as the daemon does) and the embedded store (in memory). Redis figures come from the server's
// own accounting (INFO commandstats: microseconds inside the script per transaction), next to the
// client's throughput. Variants alternate, twice each, so drift hits both.
import {Redis} from 'ioredis'

import type {Reservation} from '../../src/protocol/types.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {RedisStore} from '../../src/store/redis/redis-store.js'
import type {Store, Tx} from '../../src/store/types.js'
import {destroyRedis, startRedis} from '../support/redis.js'

const U = 'USD_MICROCENTS' as const
const SCOPES = ['tenant:b', 'tenant:b/workspace:w', 'tenant:b/workspace:w/agent:a']
const WINDOW_END = Date.now() + 3_600_000

function reservation(id: string, now: number): Reservation {
  return {
    reservation_id: id,
    tenant: 'b',
    status: 'ACTIVE',
    subject: {tenant: 'b', workspace: 'w', agent: 'a'},
    action: {kind: 'llm.completion', name: 'gpt'},
    reserved: {unit: U, amount: 1},
    scope_path: SCOPES[2],
    affected_scopes: SCOPES,
    real_scopes: SCOPES,
    shadow_scopes: [],
    mode: 'enforce',
    tier: 'medium',
    idempotency_key: `k-${id}`,
    overage_policy: 'ALLOW_IF_AVAILABLE',
    created_at_ms: now,
    expires_at_ms: now + 60_000,
    ttl_ms: 60_000,
    grace_period_ms: 5000,
    extension_count: 0,
    max_extensions: 10,
    would_decision: 'ALLOW',
  }
}

let seq = 0
function reserveTx(withDocs: boolean): Tx {
  const id = `bench-${++seq}`
  const now = Date.now()
  const tx: Tx = {
    conditions: SCOPES.map((scope) => ({scope, unit: U, field: 'remaining', op: 'gte', value: 1})),
    deltas: SCOPES.map((scope) => ({book: 'real', scope, unit: U, add: {reserved: 1}})),
    reservation: {value: reservation(id, now), expectStatus: 'absent'},
    idempotency: {key: `b:reserve:${id}`, record: {hash: 'h'.repeat(64), status: 200, body: JSON.stringify({decision: 'ALLOW', reservation_id: id})}, ttl_ms: 60_000},
  }
  if (withDocs) {
    const counters = [`b:${WINDOW_END}`, `b/w/a:${WINDOW_END}`]
    tx.docConditions = counters.map((id) => ({collection: 'quota-counters', id, field: 'count', op: 'lt', value: 1e12}))
    tx.docs = counters.map((id) => ({collection: 'quota-counters', id, add: {count: 1}, expires_at_ms: WINDOW_END}))
  }
  return tx
}

async function seed(store: Store): Promise<void> {
  const r = await store.apply({
    createLedgers: SCOPES.map((scope) => ({book: 'real', scope, unit: U, allocated: 1e12, remaining: 1e12, reserved: 0, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE'})),
  })
  if (!r.ok) throw new Error(`seed failed: ${r.failed}`)
}

/** `total` transactions, `inFlight` at a time; returns transactions per second. */
async function closedLoop(store: Store, withDocs: boolean, total: number, inFlight: number): Promise<number> {
  let started = 0
  const t0 = process.hrtime.bigint()
  await Promise.all(
    Array.from({length: inFlight}, async () => {
      while (started < total) {
        started++
        const r = await store.apply(reserveTx(withDocs))
        if (!r.ok) throw new Error(`bench tx failed: ${r.failed} ${r.detail ?? ''}`)
      }
    }),
  )
  return total / (Number(process.hrtime.bigint() - t0) / 1e9)
}

async function scriptStats(client: Redis): Promise<{calls: number; usec: number}> {
  const info = String(await client.info('commandstats'))
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info)
  return {calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0)}
}

function arg(args: string[], name: string, fallback: number): number {
  const hit = args.find((a) => a.startsWith(`--${name}=`))
  return hit ? Number(hit.split('=')[1]) : fallback
}

export async function run(args: string[] = []): Promise<void> {
  const total = arg(args, 'txs', 20_000)
  const inFlight = arg(args, 'in-flight', 64)
  const server = await startRedis()
  const rows: string[] = []
  try {
    const store = await RedisStore.open({url: server.url, prefix: 'bench:'})
    await seed(store)
    await closedLoop(store, true, 2000, inFlight) // warm-up (script load, JIT, counters created)
    const sums = {false: {tps: 0, usec: 0, calls: 0}, true: {tps: 0, usec: 0, calls: 0}}
    for (const withDocs of [false, true, false, true]) {
      const before = await scriptStats(store.client)
      const tps = await closedLoop(store, withDocs, total, inFlight)
      const after = await scriptStats(store.client)
      const s = sums[String(withDocs) as 'false' | 'true']
      s.tps += tps / 2
      s.usec += after.usec - before.usec
      s.calls += after.calls - before.calls
    }
    for (const withDocs of [false, true] as const) {
      const s = sums[String(withDocs) as 'false' | 'true']
      rows.push(
        `redis    ${withDocs ? 'reserve + 2 counter docs' : 'reserve                 '}  ${s.tps.toFixed(0).padStart(7)} tx/s  ` +
          `script ${(s.usec / (2 * total)).toFixed(1).padStart(5)} µs/tx  (${((2 * total) / Math.max(1, s.calls)).toFixed(1)} tx per call)`,
      )
    }
    await store.close()

    const embedded = await EmbeddedStore.open()
    await seed(embedded)
    await closedLoop(embedded, true, 2000, 1)
    const embeddedTps = {false: 0, true: 0}
    for (const withDocs of [false, true, false, true]) embeddedTps[String(withDocs) as 'false' | 'true'] += (await closedLoop(embedded, withDocs, total, 1)) / 2
    for (const withDocs of [false, true] as const) {
      const tps = embeddedTps[String(withDocs) as 'false' | 'true']
      rows.push(`embedded ${withDocs ? 'reserve + 2 counter docs' : 'reserve                 '}  ${tps.toFixed(0).padStart(7)} tx/s  apply ${(1e6 / tps).toFixed(1).padStart(5)} µs/tx (in memory, one at a time)`)
    }
    await embedded.close()
  } finally {
    await destroyRedis(server)
  }
  console.log(`doc collections on the hot path (${total} transactions per variant and round, ${inFlight} in flight on Redis):`)
  for (const r of rows) console.log(`  ${r}`)
}
