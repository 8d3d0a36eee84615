// The daemon's webhook dispatcher. Two steps per tick, both safe with several daemons on one store:
//  1. scan: events after the cursor doc (in id = time order, once they are `settleMs` old so a
//     batching writer's late events are not skipped) are matched against the ACTIVE subscriptions
//     and enqueued as delivery + queue docs in the same transaction that moves the cursor, guarded by
//     the cursor's version: exactly one instance enqueues each event. PAUSED and DISABLED
//     subscriptions hear nothing (events are dropped, not queued).
//  2. send: due queue entries are claimed with a lease doc (expectVersion 0, expiring after
//     `leaseMs`), sent, and finished in one transaction that also releases the lease. A daemon
//     killed mid-send leaves a lease that expires and an entry that another instance (or the same
//     one after a restart) sends again: at-least-once, nothing lost.
// The request path never waits on any of this: events are docs, delivery runs on its own timer.
import {randomBytes, randomUUID} from 'node:crypto'

import {type CyclesEvent, EVENTS_COLLECTION, eventIdFloor} from '../events/event.js'
import type {Store, StoredDoc} from '../store/types.js'
import {type SendGuard, afterAttempt, attemptWrites, enqueueWrites, sendTo} from './delivery.js'
import {matches} from './matching.js'
import {
  CONTROL_COLLECTION, CURSOR_DOC, type DeliveryDoc, DELIVERIES_COLLECTION, LEASES_COLLECTION, MAX_DELIVERY_AGE_MS, QUEUE_COLLECTION, type QueueDoc,
  type SubscriptionDoc, WEBHOOKS_COLLECTION, dispatchDeliveryId,
} from './model.js'
import {type SecretBox} from './secrets.js'
import {type HostLookup, dnsLookup, readSecurity} from './security.js'
import {DEFAULT_SEND_TIMEOUT_MS} from './sender.js'

export interface DispatcherOptions {
  store: Store
  secrets: SecretBox
  now?: () => number
  random?: (n: number) => Buffer
  /** This instance's name in leases (default: a random id). */
  instanceId?: string
  /** Events younger than this wait for the next scan (default 1000 ms). */
  settleMs?: number
  /** How long a claimed delivery belongs to this instance (default 60 s; longer than the send timeout). */
  leaseMs?: number
  sendTimeoutMs?: number
  /** Host-name resolution of the send-time SSRF check (tests: a fixed map). */
  lookup?: HostLookup
  maxAgeMs?: number
  /** Events read per scan transaction (default 500). */
  batch?: number
  /** Subscriptions sent to in parallel per tick (each one's deliveries in order; default 8). */
  parallel?: number
  /** Tick period of start() (default 250 ms). */
  pollMs?: number
  log?: (line: string) => void
}

export interface TickResult {
  enqueued: number
  sent: number
}

/** Where the scan stands: the latest event time taken, and the ids taken at that millisecond. */
interface Cursor {
  time_ms: number
  ids: string[]
}

/** The time part of an event id (evt_ + 11 base-36 digits). */
export function eventTimeOf(eventId: string): number {
  return parseInt(eventId.slice(4, 15), 36)
}

export class WebhookDispatcher {
  private readonly store: Store
  private readonly now: () => number
  private readonly instanceId: string
  private readonly settleMs: number
  private readonly leaseMs: number
  private readonly sendTimeoutMs: number
  private readonly maxAgeMs: number
  private readonly batch: number
  private readonly parallel: number
  private timer: NodeJS.Timeout | undefined
  private running: Promise<TickResult> | undefined
  private stopped = false

  constructor(private readonly options: DispatcherOptions) {
    this.store = options.store
    this.now = options.now ?? Date.now
    this.instanceId = options.instanceId ?? `inst_${(options.random ?? randomBytes)(6).toString('hex')}`
    this.settleMs = options.settleMs ?? 1000
    this.leaseMs = options.leaseMs ?? 60_000
    this.sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS
    this.maxAgeMs = options.maxAgeMs ?? MAX_DELIVERY_AGE_MS
    this.batch = options.batch ?? 500
    this.parallel = options.parallel ?? 8
  }

  start(): void {
    this.timer = setInterval(() => {
      if (!this.running) void this.tick()
    }, this.options.pollMs ?? 250)
    this.timer.unref()
  }

  /** Stop ticking and wait for the tick in progress (its sends finish or time out). */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    await this.running
  }

  /** One scan and one round of sends; never throws (a failing store is logged and retried next tick). */
  tick(): Promise<TickResult> {
    if (this.running) return this.running
    this.running = (async () => {
      const result = {enqueued: 0, sent: 0}
      try {
        result.enqueued = await this.scan()
        result.sent = await this.sendDue()
      } catch (error) {
        this.options.log?.(`webhooks: dispatcher tick failed: ${(error as Error).message}`)
      }
      return result
    })().finally(() => {
      this.running = undefined
    })
    return this.running
  }

  /**
   * Enqueue deliveries for every settled event after the cursor. Returns how many were enqueued.
   * The cursor is a time and the ids already taken at that time: ids of one millisecond are not
   * ordered among themselves (random suffix), so a late event of the cursor's millisecond is still seen.
   */
  async scan(): Promise<number> {
    let enqueued = 0
    let subs: SubscriptionDoc[] | undefined
    for (let round = 0; round < 1000 && !this.stopped; round++) {
      const [cursorDoc] = await this.store.getDocs(CONTROL_COLLECTION, [CURSOR_DOC])
      const cursor = (cursorDoc?.value as unknown as Cursor | undefined) ?? {time_ms: -1, ids: []}
      const seen = new Set(cursor.ids)
      const horizon = this.now() - this.settleMs
      // Events at the cursor's millisecond and later, minus the ones already taken.
      const fresh = []
      let listAfter = cursor.time_ms < 0 ? undefined : eventIdFloor(cursor.time_ms)
      while (fresh.length < this.batch) {
        const page = await this.store.listDocs(EVENTS_COLLECTION, {after: listAfter, limit: this.batch})
        const settled = page.filter((d) => eventTimeOf(d.id) <= horizon)
        fresh.push(...settled.filter((d) => !seen.has(d.id)))
        if (page.length < this.batch || settled.length < page.length) break
        listAfter = page[page.length - 1].id
      }
      if (fresh.length === 0) return enqueued
      subs ??= await this.activeSubscriptions()
      const now = this.now()
      const writes = []
      let inPage = 0
      for (const doc of fresh) {
        const event = doc.value as unknown as CyclesEvent
        const at = eventTimeOf(doc.id)
        for (const sub of subs) {
          // A subscription hears what happens after it was created; earlier events come only by replay.
          if (at < sub.created_at_ms || !matches(sub, event) || loopsBack(sub, event)) continue
          writes.push(...enqueueWrites(sub, event, dispatchDeliveryId(event, sub.subscription_id, now, inPage), now))
          inPage++
        }
      }
      const lastTime = Math.max(...fresh.map((d) => eventTimeOf(d.id)))
      const next: Cursor = {time_ms: lastTime, ids: [...(lastTime === cursor.time_ms ? cursor.ids : []), ...fresh.filter((d) => eventTimeOf(d.id) === lastTime).map((d) => d.id)]}
      const result = await this.store.apply({
        docs: [{collection: CONTROL_COLLECTION, id: CURSOR_DOC, set: {...next, at_ms: now}, expectVersion: cursorDoc?.version ?? 0}, ...writes],
      })
      if (!result.ok) {
        if (result.failed !== 'doc') throw new Error(`store refused the enqueue transaction (${result.failed})`)
        continue // another instance moved the cursor first and enqueued these events: read it again
      }
      enqueued += inPage
      if (fresh.length < this.batch) return enqueued
    }
    return enqueued
  }

  private async activeSubscriptions(): Promise<SubscriptionDoc[]> {
    const out: SubscriptionDoc[] = []
    let after: string | undefined
    for (;;) {
      const page = await this.store.listDocs(WEBHOOKS_COLLECTION, {after, limit: 1000})
      for (const d of page) if ((d.value as unknown as SubscriptionDoc).status === 'ACTIVE') out.push(d.value as unknown as SubscriptionDoc)
      if (page.length < 1000) return out
      after = page[page.length - 1].id
    }
  }

  /** Send every due delivery (each subscription's in order, subscriptions in parallel). Returns attempts made. */
  async sendDue(): Promise<number> {
    const now = this.now()
    const due = (await this.store.listDocs(QUEUE_COLLECTION, {limit: 100_000})).filter((d) => (d.value as unknown as QueueDoc).due_at_ms <= now)
    if (due.length === 0) return 0
    const guard = {config: (await readSecurity(this.store)).config, resolve: this.options.lookup ?? dnsLookup}
    const bySub = new Map<string, StoredDoc[]>()
    for (const d of due.sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const sub = (d.value as unknown as QueueDoc).subscription_id
      bySub.set(sub, [...(bySub.get(sub) ?? []), d])
    }
    let sent = 0
    const groups = [...bySub.values()]
    const worker = async () => {
      for (let group = groups.shift(); group; group = groups.shift()) {
        for (const entry of group) {
          if (this.stopped) return
          if (await this.deliver(entry.id, guard)) sent++
        }
      }
    }
    await Promise.all(Array.from({length: Math.min(this.parallel, groups.length)}, worker))
    return sent
  }

  /** Claim, send and finish one queued delivery. True when an attempt was made. */
  private async deliver(key: string, guard: SendGuard): Promise<boolean> {
    const claimedAt = this.now()
    const claim = await this.store.apply({
      docs: [{collection: LEASES_COLLECTION, id: key, set: {owner: this.instanceId, claimed_at_ms: claimedAt, lease_id: randomUUID()}, expectVersion: 0, expires_at_ms: claimedAt + this.leaseMs}],
    })
    if (!claim.ok) return false // another instance holds it
    const release = {collection: LEASES_COLLECTION, id: key, delete: true as const}
    const [queuedDoc, deliveryDoc] = await Promise.all([this.store.getDocs(QUEUE_COLLECTION, [key]), this.store.getDocs(DELIVERIES_COLLECTION, [key])]).then(([q, d]) => [q[0], d[0]])
    const queued = queuedDoc?.value as unknown as QueueDoc | undefined
    const delivery = deliveryDoc?.value as unknown as DeliveryDoc | undefined
    if (!queued || !delivery || queued.due_at_ms > this.now()) {
      // Finished (or rescheduled) by another instance between our listing and our claim.
      await this.store.apply({docs: [release]})
      return false
    }
    const [[subDoc], [eventDoc]] = await Promise.all([this.store.getDocs(WEBHOOKS_COLLECTION, [delivery.subscription_id]), this.store.getDocs(EVENTS_COLLECTION, [delivery.event_id])])
    const sub = subDoc?.value as unknown as SubscriptionDoc | undefined
    let reason: string | undefined
    if (!sub) reason = 'subscription deleted before delivery'
    else if (this.now() - delivery.created_at_ms > this.maxAgeMs) reason = `not sent: older than ${Math.round(this.maxAgeMs / 3_600_000)} h (maximum delivery age)`
    else if (!eventDoc) reason = 'not sent: the event is no longer stored'
    else if (sub.status !== 'ACTIVE') {
      // Paused or disabled after it was queued: it waits (until resumed, or the maximum age).
      await this.store.apply({docs: [release]})
      return false
    }
    const outcome = reason === undefined ? await sendTo(sub!, eventDoc!.value as unknown as CyclesEvent, this.options.secrets, this.sendTimeoutMs, guard) : undefined
    await this.finish(key, delivery, queued, subDoc, outcome, reason, release)
    return outcome !== undefined
  }

  private async finish(key: string, delivery: DeliveryDoc, queued: QueueDoc, subDoc: StoredDoc | undefined, outcome: Awaited<ReturnType<typeof sendTo>> | undefined, reason: string | undefined, release: {collection: string; id: string; delete: true}): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const now = this.now()
      const sub = subDoc?.value as unknown as SubscriptionDoc | undefined
      const result = afterAttempt(sub, delivery, queued, key, now, outcome, reason)
      const applied = await this.store.apply({docs: [...attemptWrites(result, key, subDoc?.version, now), release]})
      if (applied.ok) return
      if (applied.failed !== 'doc') throw new Error(`store refused the delivery result (${applied.failed})`)
      // The subscription changed meanwhile (a PATCH, another delivery's result): apply to the fresh one.
      ;[subDoc] = await this.store.getDocs(WEBHOOKS_COLLECTION, [delivery.subscription_id])
    }
    this.options.log?.(`webhooks: could not record the result of delivery ${key}; it stays queued and is sent again`)
  }
}

/** A subscription is never told about its own failed deliveries (that would feed itself forever). */
function loopsBack(sub: SubscriptionDoc, event: CyclesEvent): boolean {
  return event.event_type === 'system.webhook_delivery_failed' && event.data?.subscription_id === sub.subscription_id
}
