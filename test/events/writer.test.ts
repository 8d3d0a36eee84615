// The event writer: batches into one store transaction per batch, never blocks emit(), keeps a
// bounded buffer while the store is down (dropping and counting beyond it), writes what it holds
// once the store is back, flushes on close; each doc expires after the retention period.
import {describe, expect, it} from 'vitest'

import {buildEvent} from '../../src/events/build.js'
import {EVENTS_COLLECTION, type CyclesEvent} from '../../src/events/event.js'
import {RuntimeEvents} from '../../src/events/runtime-events.js'
import {DEFAULT_EVENTS_CONFIG, eventsConfigSchema} from '../../src/events/config.js'
import {DaemonEvents} from '../../src/events/daemon-events.js'
import {EventWriter} from '../../src/events/writer.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {StoreUnavailableError} from '../../src/store/errors.js'
import type {Store, Tx, TxResult} from '../../src/store/types.js'
import type {DecisionRecord} from '../../src/decision-log/record.js'

const DAY = 86_400_000

function event(i: number, nowMs = 1_700_000_000_000 + i): CyclesEvent {
  return buildEvent(nowMs, 'budget.funded', {tenant_id: 'acme', source: 'cycles-admin', data: {i}})
}

/** A store whose apply() records the transactions, and fails while `down`. */
function recordingStore() {
  const txs: Tx[] = []
  const state = {down: false}
  const store = {
    async apply(tx: Tx): Promise<TxResult> {
      if (state.down) throw new StoreUnavailableError('redis: connection refused')
      txs.push(tx)
      return {ok: true, ledgers: new Map()}
    },
  } as unknown as Store
  return {store, txs, state}
}

describe('EventWriter', () => {
  it('writes in batches of batch_size, one transaction each, with expires_at_ms = timestamp + retention', async () => {
    const {store, txs} = recordingStore()
    const writer = new EventWriter({store, retentionMs: 7 * DAY, batchSize: 500, flushIntervalMs: 10_000})
    const events = Array.from({length: 1200}, (_, i) => event(i))
    for (const e of events) writer.emit(e)
    await writer.flush()
    expect(txs.map((tx) => tx.docs!.length)).toEqual([500, 500, 200])
    expect(txs.every((tx) => Object.keys(tx).join() === 'docs')).toBe(true)
    const docs = txs.flatMap((tx) => tx.docs!)
    expect(docs.map((d) => d.id)).toEqual(events.map((e) => e.event_id))
    expect(docs[7]).toEqual({collection: EVENTS_COLLECTION, id: events[7].event_id, set: events[7], expires_at_ms: Date.parse(events[7].timestamp) + 7 * DAY})
    expect(writer.stats).toMatchObject({emitted: 1200, written: 1200, dropped: 0, buffered: 0})
  })

  it('emit() returns at once even while the store hangs', async () => {
    let release!: () => void
    const store = {apply: () => new Promise<TxResult>((resolve) => (release = () => resolve({ok: true, ledgers: new Map()})))} as unknown as Store
    const writer = new EventWriter({store, retentionMs: DAY, batchSize: 1, flushIntervalMs: 1})
    writer.emit(event(1))
    await new Promise((r) => setTimeout(r, 20)) // the first batch is now in flight and hangs
    for (let i = 2; i <= 50; i++) writer.emit(event(i))
    expect(writer.stats.emitted).toBe(50)
    expect(writer.stats.written).toBe(0)
    release()
    const done = writer.flush()
    for (let i = 0; i < 100 && writer.stats.written < 50; i++) {
      await new Promise((r) => setTimeout(r, 1))
      release()
    }
    await done
    expect(writer.stats.written).toBe(50)
  })

  it('while the store is down it keeps max_buffer events, drops and counts the rest, and writes the kept ones in order when it is back', async () => {
    const {store, txs, state} = recordingStore()
    const reachability: boolean[] = []
    const lines: string[] = []
    const writer = new EventWriter({store, retentionMs: DAY, maxBuffer: 100, batchSize: 40, flushIntervalMs: 10_000, log: (l) => lines.push(l), onStoreReachable: (ok) => reachability.push(ok)})
    state.down = true
    const events = Array.from({length: 150}, (_, i) => event(i))
    for (const e of events) writer.emit(e)
    await writer.flush()
    expect(writer.stats).toMatchObject({emitted: 100, dropped: 50, written: 0, buffered: 100, write_failures: 1})
    expect(reachability).toEqual([false])
    expect(lines.some((l) => l.includes('buffer full (100)'))).toBe(true)
    state.down = false
    await writer.flush()
    // Written in order, each under a fresh id (they waited out the outage: see the writer's comment).
    const written = txs.flatMap((tx) => tx.docs!)
    expect(written.map((d) => (d.set as unknown as CyclesEvent).data)).toEqual(events.slice(0, 100).map((e) => e.data))
    expect(written.map((d) => (d.set as unknown as CyclesEvent).timestamp)).toEqual(events.slice(0, 100).map((e) => e.timestamp))
    expect(written.every((d, i) => d.id === (d.set as unknown as CyclesEvent).event_id && d.id !== events[i].event_id)).toBe(true)
    expect(written.map((d) => d.id)).toEqual(written.map((d) => d.id).sort())
    expect(writer.stats).toMatchObject({written: 100, dropped: 50, buffered: 0})
    expect(reachability).toEqual([false, true, true, true])
  })

  it('close() writes what is buffered and ignores later emits', async () => {
    const {store, txs} = recordingStore()
    const writer = new EventWriter({store, retentionMs: DAY, flushIntervalMs: 60_000})
    writer.emit(event(1))
    writer.emit(event(2))
    await writer.close()
    expect(txs.flatMap((tx) => tx.docs!).length).toBe(2)
    writer.emit(event(3))
    await writer.flush()
    expect(txs.flatMap((tx) => tx.docs!).length).toBe(2)
  })

  it('on the embedded store an event is readable until its retention ends, then gone', async () => {
    let now = 1_700_000_000_000
    const store = await EmbeddedStore.open({now: () => now})
    try {
      const writer = new EventWriter({store, retentionMs: DAY})
      const e = event(0, now)
      writer.emit(e)
      await writer.flush()
      expect((await store.getDocs(EVENTS_COLLECTION, [e.event_id]))[0]?.value).toEqual(e)
      now += DAY - 1
      expect((await store.listDocs(EVENTS_COLLECTION)).map((d) => d.id)).toEqual([e.event_id])
      now += 2
      expect(await store.getDocs(EVENTS_COLLECTION, [e.event_id])).toEqual([undefined])
      expect(await store.listDocs(EVENTS_COLLECTION)).toEqual([])
    } finally {
      await store.close()
    }
  })
})

describe('store connection events', () => {
  it('lost once when an admission is answered by the outage fallback, restored once when the store answers again', () => {
    const emitted: CyclesEvent[] = []
    const runtime = new RuntimeEvents({sink: {emit: (e) => emitted.push(e)}, thresholds: DEFAULT_EVENTS_CONFIG.thresholds, now: () => 1_700_000_000_000})
    const record = (extra: Partial<DecisionRecord>): DecisionRecord =>
      ({v: 1, id: 'x', ts: '', endpoint: 'reserve', request_id: 'r', trace_id: 't', tenant: 'acme', dry_run: true, mode: 'shadow', tier: 'low', decision: 'ALLOW', would_decision: 'ALLOW', http_status: 200, latency_us: 1, ...extra}) as DecisionRecord
    runtime.observeDecision(record({}))
    runtime.observeDecision(record({store_error: 'connect ECONNREFUSED'}))
    runtime.observeDecision(record({store_error: 'connect ECONNREFUSED'}))
    // A commit of an unrecorded reservation says nothing about the store now.
    runtime.observeDecision(record({endpoint: 'commit', store_error: 'reservation admitted while the budget store was unavailable; not recorded'}))
    runtime.observeDecision(record({}))
    runtime.observeDecision(record({}))
    expect(emitted.map((e) => e.event_type)).toEqual(['system.store_connection_lost', 'system.store_connection_restored'])
    expect(emitted[0]).toMatchObject({tenant_id: '__system__', category: 'system', data: {component: 'store', severity: 'critical'}})
    expect(emitted[0].data!.message).toContain('ECONNREFUSED')
    expect(emitted[1].data).toMatchObject({severity: 'info', details: {lost_since: emitted[0].timestamp}})
  })
})

describe('events off', () => {
  it('enabled: false gives the store as it is, a sink that forgets, and no writer', async () => {
    const {store, txs} = recordingStore()
    const config = eventsConfigSchema.parse({enabled: false})
    const events = await DaemonEvents.start({store, config, now: () => 0})
    expect(events.enabled).toBe(false)
    expect(events.writer).toBeUndefined()
    expect(events.observe(store)).toBe(store)
    events.sink.emit(event(1))
    events.runtime.storeReachable(false, 'down')
    await events.close()
    expect(txs).toEqual([])
  })

  it('enabled (the default) wraps the store: applies pass through, other calls reach the store itself', async () => {
    const store = await EmbeddedStore.open({})
    try {
      const events = await DaemonEvents.start({store, config: eventsConfigSchema.parse({}), now: () => 0})
      const observed = events.observe(store)
      expect(observed).not.toBe(store)
      expect(observed instanceof EmbeddedStore).toBe(true)
      expect(observed.kind).toBe('embedded')
      expect((await observed.apply({docs: [{collection: 'x', id: 'a', set: {n: 1}}]})).ok).toBe(true)
      expect((await store.getDocs('x', ['a']))[0]?.value).toEqual({n: 1})
      await events.close()
    } finally {
      await store.close()
    }
  })
})

describe('the denial-rate spike counts policy denials', () => {
  const record = (extra: Partial<DecisionRecord>): DecisionRecord =>
    ({v: 1, id: 'x', ts: '', endpoint: 'reserve', request_id: 'r', trace_id: 't', tenant: 'acme', dry_run: false, mode: 'enforce', tier: 'low', decision: 'ALLOW', would_decision: 'ALLOW', http_status: 200, latency_us: 1, ...extra}) as DecisionRecord
  const spikes = (denial: Partial<DecisionRecord>): number => {
    const emitted: CyclesEvent[] = []
    const runtime = new RuntimeEvents({sink: {emit: (e) => emitted.push(e)}, thresholds: DEFAULT_EVENTS_CONFIG.thresholds, now: () => 1_700_000_000_000})
    for (let i = 0; i < 30; i++) runtime.observeDecision(record(i % 3 === 0 ? {} : {decision: 'DENY', http_status: 409, ...denial}))
    return emitted.filter((e) => e.event_type === 'reservation.denial_rate_spike').length
  }

  it('quota, access-list and approval denials and a policy rate limit raise it like budget denials; the daemon\'s own 429 does not', () => {
    expect(spikes({reason_code: 'BUDGET_EXCEEDED'})).toBe(1)
    expect(spikes({reason_code: 'ACTION_QUOTA_EXCEEDED', policy_id: 'pol_1'})).toBe(1)
    expect(spikes({reason_code: 'ACTION_KIND_DENIED', policy_id: 'pol_1'})).toBe(1)
    expect(spikes({reason_code: 'APPROVAL_REQUIRED', policy_id: 'pol_1'})).toBe(1)
    expect(spikes({reason_code: 'LIMIT_EXCEEDED', policy_id: 'pol_1', http_status: 429})).toBe(1)
    expect(spikes({reason_code: 'LIMIT_EXCEEDED', http_status: 429})).toBe(0)
    expect(spikes({reason_code: 'INVALID_REQUEST', http_status: 400})).toBe(0)
  })
})

describe('reservation.observed_allowed sampling (events.observe_allow_sample_rate)', () => {
  const observedAllow = (i: number): DecisionRecord =>
    ({v: 1, id: `x${i}`, ts: '', endpoint: 'reserve', request_id: `r${i}`, trace_id: 't', tenant: 'acme', scope_path: 'tenant:acme', unit: 'TOKENS', estimate: 5, dry_run: true, mode: 'enforce', tier: 'low', decision: 'ALLOW', would_decision: 'ALLOW', http_status: 200, latency_us: 1, observe_mode: 'OBSERVE'}) as DecisionRecord
  const run = (rate: number | undefined, coins: number[]) => {
    const emitted: CyclesEvent[] = []
    let at = 0
    const runtime = new RuntimeEvents({sink: {emit: (e) => emitted.push(e)}, thresholds: DEFAULT_EVENTS_CONFIG.thresholds, now: () => 1_700_000_000_000, observeAllowSampleRate: rate, random: () => coins[at++]})
    for (let i = 0; i < coins.length; i++) runtime.observeDecision(observedAllow(i))
    return emitted.filter((e) => e.event_type === 'reservation.observed_allowed')
  }

  it('emits the share the rate asks for, each event carrying sample_rate; at 1 (the default) every one, without it', () => {
    const sampled = run(0.25, [0.1, 0.3, 0.24, 0.25, 0.9, 0.0])
    expect(sampled.map((e) => e.request_id)).toEqual(['r0', 'r2', 'r5'])
    expect(sampled.every((e) => e.data!.sample_rate === 0.25)).toBe(true)
    const all = run(undefined, [0.99, 0.5, 0.1])
    expect(all).toHaveLength(3)
    expect(all.every((e) => !('sample_rate' in e.data!))).toBe(true)
    expect(run(1, [0.999])).toHaveLength(1)
  })

  it('the config takes a rate in (0, 1]', () => {
    expect(eventsConfigSchema.parse({}).observe_allow_sample_rate).toBe(1)
    expect(eventsConfigSchema.parse({observe_allow_sample_rate: 0.1}).observe_allow_sample_rate).toBe(0.1)
    expect(eventsConfigSchema.safeParse({observe_allow_sample_rate: 0}).success).toBe(false)
    expect(eventsConfigSchema.safeParse({observe_allow_sample_rate: 1.5}).success).toBe(false)
  })
})
