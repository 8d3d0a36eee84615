// Delivery end to end on a real daemon and real receivers on loopback: signed bodies, the §5.3
// headers, retries on the controllable clock, disable after N failed deliveries and re-enable, pause
// drops events, timeouts and closed connections, and no delivery lost across a restart or a dead
// instance's lease.
import {afterEach, describe, expect, it} from 'vitest'

import {buildEvent} from '../../src/events/build.js'
import {EVENTS_COLLECTION} from '../../src/events/event.js'
import {EventWriter} from '../../src/events/writer.js'
import {StoreUnavailableError} from '../../src/store/errors.js'
import type {Store, Tx} from '../../src/store/types.js'
import {LEASES_COLLECTION, QUEUE_COLLECTION, deliveryKey} from '../../src/webhooks/model.js'
import {signatureOf} from '../../src/webhooks/secrets.js'
import {tempDir} from '../support/daemon.js'
import {specErrors} from '../support/spec.js'
import {type Receiver, type WebhookDaemon, emit, startReceiver, startWebhookDaemon, subscribe, testClock} from './support.js'

let d: WebhookDaemon | undefined
const receivers: Receiver[] = []
afterEach(async () => {
  await d?.stop()
  d = undefined
  for (const r of receivers.splice(0)) await r.close()
})
const receiver = async (mode: Parameters<typeof startReceiver>[0]) => {
  const r = await startReceiver(mode)
  receivers.push(r)
  return r
}
const deliveries = async (id: string, query = '') => (await d!.admin('GET', `/v1/admin/webhooks/${id}/deliveries${query}`)).body.deliveries as Array<Record<string, any>>
const webhook = async (id: string) => (await d!.admin('GET', `/v1/admin/webhooks/${id}`)).body
const eventsOfType = async (type: string) => (await d!.daemon.store.listDocs(EVENTS_COLLECTION, {limit: 10_000})).map((doc) => doc.value as Record<string, any>).filter((e) => e.event_type === type)

describe('webhook delivery', () => {
  it('posts the event JSON signed with the subscription secret, with the §5.3 and custom headers', async () => {
    d = await startWebhookDaemon()
    const r = await receiver('healthy')
    const {id, secret} = await subscribe(d, r, {headers: {'X-Sink-Token': 'tok-123'}})
    expect(secret).toMatch(/^whsec_[0-9a-f]{64}$/)
    const event = await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied', scope: 'tenant:acme/agent:a1', request_id: 'req-42', trace_id: 'ab'.repeat(16), data: {reason_code: 'BUDGET_EXCEEDED'}})
    await emit(d.daemon.store, d.clock.t, {event_type: 'budget.funded'}) // not subscribed
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied', tenant_id: 'globex'}) // another tenant
    await emit(d.daemon.store, d.clock.t - 1, {event_type: 'reservation.denied'}) // before the subscription existed
    const tick = await d.daemon.webhooks.tick()
    expect(tick).toEqual({enqueued: 1, sent: 1})
    expect(r.received).toHaveLength(1)
    const got = r.received[0]
    expect(got.signatureValid).toBe(true)
    expect(JSON.parse(got.body)).toEqual(event)
    expect(got.headers['x-cycles-signature']).toBe(signatureOf(got.body, secret))
    expect(got.headers['x-cycles-event-id']).toBe(event.event_id)
    expect(got.headers['x-cycles-event-type']).toBe('reservation.denied')
    expect(got.headers['x-cycles-trace-id']).toBe('ab'.repeat(16))
    expect(got.headers.traceparent).toMatch(new RegExp(`^00-${'ab'.repeat(16)}-[0-9a-f]{16}-01$`))
    expect(got.headers['x-request-id']).toBe('req-42')
    expect(got.headers['user-agent']).toMatch(/^cycles-webhooks\//)
    expect(got.headers['x-sink-token']).toBe('tok-123')
    const [row] = await deliveries(id)
    expect(row).toMatchObject({event_id: event.event_id, status: 'SUCCESS', attempts: 1, response_status: 200})
    expect((await webhook(id)).consecutive_failures).toBe(0)
  })

  it('retries after 1, 2, 4, 8 and 16 s on the clock, then fails the delivery and raises system.webhook_delivery_failed', async () => {
    d = await startWebhookDaemon()
    const r = await receiver('failing')
    const {id} = await subscribe(d, r)
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    expect(r.received).toHaveLength(1)
    const waits: number[] = []
    for (const delay of [1000, 2000, 4000, 8000, 16000]) {
      const [row] = await deliveries(id)
      expect(row.status).toBe('RETRYING')
      expect(row.response_status).toBe(500)
      const due = Date.parse(row.next_retry_at) - d.clock.t
      waits.push(due)
      d.clock.advance(delay - 1)
      await d.daemon.webhooks.tick()
      const before = r.received.length
      d.clock.advance(1)
      await d.daemon.webhooks.tick()
      expect(r.received.length).toBe(before + 1) // sent exactly when due, not a millisecond earlier
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16000])
    expect(r.received).toHaveLength(6)
    const [row] = await deliveries(id)
    expect(row).toMatchObject({status: 'FAILED', attempts: 6, response_status: 500, error_message: 'HTTP 500'})
    expect(row.next_retry_at).toBeUndefined()
    const sub = await webhook(id)
    expect(sub.consecutive_failures).toBe(1)
    expect(sub.status).toBe('ACTIVE')
    const failedEvents = await eventsOfType('system.webhook_delivery_failed')
    expect(failedEvents).toHaveLength(1)
    expect(failedEvents[0].data).toMatchObject({subscription_id: id, attempts: 6, response_status: 500})
    d.clock.advance(60_000)
    await d.daemon.webhooks.tick()
    expect(r.received).toHaveLength(6) // finished: never sent again
  })

  it('disables after disable_after_failures failed deliveries, drops events while disabled, and an operator re-enable resets the count', async () => {
    d = await startWebhookDaemon()
    const r = await receiver('failing')
    const {id} = await subscribe(d, r, {retry_policy: {max_retries: 0}, disable_after_failures: 2})
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    expect(await webhook(id)).toMatchObject({status: 'ACTIVE', consecutive_failures: 1})
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    expect(await webhook(id)).toMatchObject({status: 'DISABLED', consecutive_failures: 2})
    const disabled = await eventsOfType('webhook.disabled')
    expect(disabled).toHaveLength(1)
    expect(disabled[0].data).toMatchObject({subscription_id: id, previous_status: 'ACTIVE', new_status: 'DISABLED', disable_reason: 'consecutive_failures_exceeded_threshold'})
    const overview = await d.admin('GET', '/v1/admin/overview')
    expect(specErrors('admin', 'AdminOverviewResponse', overview.body)).toBeUndefined()
    expect(overview.body.webhook_counts).toEqual({total: 1, active: 0, disabled: 1, with_failures: 1})
    expect(overview.body.failing_webhooks).toEqual([{subscription_id: id, url: r.url, consecutive_failures: 2, last_failure_at: new Date(d.clock.t).toISOString()}])
    const dropped = await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    expect(await d.daemon.webhooks.tick()).toEqual({enqueued: 0, sent: 0})
    r.mode = 'healthy'
    const patch = await d.admin('PATCH', `/v1/admin/webhooks/${id}`, {status: 'ACTIVE'})
    expect(patch.body).toMatchObject({status: 'ACTIVE', consecutive_failures: 0})
    expect((await d.admin('GET', '/v1/admin/overview')).body.webhook_counts).toEqual({total: 1, active: 1, disabled: 0, with_failures: 0})
    expect((await eventsOfType('webhook.resumed'))[0].data).toMatchObject({previous_status: 'DISABLED', new_status: 'ACTIVE'})
    const after = await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    expect(r.delivered().map((e) => e.event_id)).toEqual([after.event_id])
    expect(r.received.map((x) => x.event.event_id)).not.toContain(dropped.event_id)
  })

  it('a success resets consecutive_failures', async () => {
    d = await startWebhookDaemon()
    const r = await receiver('failing')
    const {id} = await subscribe(d, r, {retry_policy: {max_retries: 0}})
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    expect((await webhook(id)).consecutive_failures).toBe(1)
    r.mode = 'healthy'
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    const sub = await webhook(id)
    expect(sub.consecutive_failures).toBe(0)
    expect(sub.last_success_at).toBe(new Date(d.clock.t).toISOString())
  })

  it('a paused subscription drops the events of its pause; resumed, it hears the next ones', async () => {
    d = await startWebhookDaemon()
    const r = await receiver('healthy')
    const {id} = await subscribe(d, r)
    expect((await d.admin('PATCH', `/v1/admin/webhooks/${id}`, {status: 'PAUSED'})).body.status).toBe('PAUSED')
    const during = await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    expect(await d.daemon.webhooks.tick()).toEqual({enqueued: 0, sent: 0})
    await d.admin('PATCH', `/v1/admin/webhooks/${id}`, {status: 'ACTIVE'})
    const later = await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    expect(r.delivered().map((e) => e.event_id)).toEqual([later.event_id])
    expect((await deliveries(id)).map((x) => x.event_id)).not.toContain(during.event_id)
  })

  it('a receiver that never answers is a failed attempt after the timeout; one that closes the connection too', async () => {
    d = await startWebhookDaemon({sendTimeoutMs: 300})
    const slow = await receiver('slow')
    const closing = await receiver('closing')
    const a = await subscribe(d, slow, {retry_policy: {max_retries: 0}})
    const b = await subscribe(d, closing, {retry_policy: {max_retries: 0}})
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    const [slowRow] = await deliveries(a.id)
    expect(slowRow).toMatchObject({status: 'FAILED', attempts: 1, error_message: 'no answer within 300 ms'})
    expect(slowRow.response_status).toBeUndefined()
    const [closedRow] = await deliveries(b.id)
    expect(closedRow).toMatchObject({status: 'FAILED', attempts: 1, error_message: 'connection closed by the receiver before an answer'})
  })

  it('checks the URL again at send time: a range blocked since the subscription was made is not sent to', async () => {
    d = await startWebhookDaemon()
    const r = await receiver('healthy')
    const {id} = await subscribe(d, r, {retry_policy: {max_retries: 0}}) // http://127.0.0.1:…, allowed by the opt-in
    const put = await d.admin('PUT', '/v1/admin/config/webhook-security', {allow_http: true, blocked_cidr_ranges: ['127.0.0.0/8']})
    expect(put.status).toBe(200)
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    expect(r.received).toHaveLength(0)
    const [row] = await deliveries(id)
    expect(row).toMatchObject({status: 'FAILED', attempts: 1})
    expect(row.error_message).toBe('not sent: 127.0.0.1 resolves to 127.0.0.1, inside a blocked range of /v1/admin/config/webhook-security (private and loopback ranges are blocked by default)')
  })

  it('connects only to the addresses it checked: a host name that re-resolves into a blocked range (DNS rebinding) is not sent to', async () => {
    // rebind.test exists only in this lookup: a delivery that arrives proves the connection used it.
    const answers = {now: ['203.0.113.7']}
    d = await startWebhookDaemon({lookup: async (host) => (host === 'rebind.test' ? answers.now : [])})
    const r = await receiver('healthy')
    const put = await d.admin('PUT', '/v1/admin/config/webhook-security', {allow_http: true, blocked_cidr_ranges: ['10.0.0.0/8', '127.0.0.0/8']})
    expect(put.status).toBe(200)
    const url = r.url.replace('127.0.0.1', 'rebind.test')
    const res = await d.admin('POST', '/v1/admin/webhooks?tenant_id=acme', {url, event_types: ['reservation.denied'], retry_policy: {max_retries: 0}})
    expect(res.status).toBe(201) // a public address when registered
    const id = res.body.subscription.subscription_id
    r.secrets.push(res.body.signing_secret)
    answers.now = ['127.0.0.1'] // and loopback at send time
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    expect(r.received).toHaveLength(0)
    const [row] = await deliveries(id)
    expect(row).toMatchObject({status: 'FAILED', attempts: 1})
    expect(row.error_message).toMatch(/^not sent: rebind\.test resolves to 127\.0\.0\.1, inside a blocked range/)
    // With loopback allowed again, the same name is delivered to through the checked address.
    expect((await d.admin('PUT', '/v1/admin/config/webhook-security', {allow_http: true, blocked_cidr_ranges: ['10.0.0.0/8']})).status).toBe(200)
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    expect(r.received).toHaveLength(1)
    expect(r.received[0].signatureValid).toBe(true)
    expect(r.received[0].headers.host).toBe(`rebind.test:${new URL(r.url).port}`)
  })

  it('an event that waited out a store outage in the writer is still delivered, though the cursor moved past its time meanwhile', async () => {
    d = await startWebhookDaemon()
    const r = await receiver('healthy')
    await subscribe(d, r)
    const down = {now: true}
    const store = d.daemon.store
    const flaky = {apply: (tx: Tx) => (down.now ? Promise.reject(new StoreUnavailableError('store: connection refused')) : store.apply(tx))} as unknown as Store
    const writer = new EventWriter({store: flaky, retentionMs: 86_400_000, flushIntervalMs: 60_000, now: d.clock.now})
    const late = buildEvent(d.clock.t, 'reservation.denied', {tenant_id: 'acme', source: 'cycles-server', data: {reason_code: 'BUDGET_EXCEEDED'}})
    writer.emit(late)
    await writer.flush() // refused: kept in the buffer
    expect(writer.stats).toMatchObject({written: 0, buffered: 1})
    d.clock.advance(2_000)
    const meanwhile = await emit(store, d.clock.t, {event_type: 'reservation.denied'}) // another instance's event, delivered at once
    await d.daemon.webhooks.tick()
    expect(r.delivered().map((e) => e.event_id)).toEqual([meanwhile.event_id])
    d.clock.advance(1_000)
    down.now = false
    await writer.flush()
    await d.daemon.webhooks.tick()
    const delivered = r.delivered()
    expect(delivered).toHaveLength(2)
    expect(delivered[1]).toMatchObject({event_type: 'reservation.denied', timestamp: late.timestamp, data: {reason_code: 'BUDGET_EXCEEDED'}})
    expect(delivered[1].event_id).not.toBe(late.event_id) // re-issued at write time, after the cursor
  })

  it('deliveries queued when the daemon stops are sent after the restart', async () => {
    const dir = tempDir('cycles-webhooks-restart-')
    const clock = testClock()
    d = await startWebhookDaemon({dir, clock})
    const r = await receiver('healthy')
    const {id} = await subscribe(d, r)
    const events = [] as string[]
    for (let i = 0; i < 5; i++) events.push((await emit(d.daemon.store, clock.t, {event_type: 'reservation.denied'})).event_id)
    expect(await d.daemon.webhooks.scan()).toBe(5) // queued, none sent yet
    await d.stop()
    d = await startWebhookDaemon({dir, clock, optIn: false})
    expect(await d.daemon.webhooks.tick()).toEqual({enqueued: 0, sent: 5})
    expect(r.delivered().map((e) => e.event_id).sort()).toEqual(events.sort())
    expect((await deliveries(id)).every((x) => x.status === 'SUCCESS')).toBe(true)
  })

  it("a dead instance's claim expires and the delivery is sent by another (at least once, nothing lost)", async () => {
    d = await startWebhookDaemon()
    const r = await receiver('healthy')
    const {id} = await subscribe(d, r)
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.scan()
    const [queued] = await d.daemon.store.listDocs(QUEUE_COLLECTION, {})
    expect(queued.id.startsWith(`${id}/`)).toBe(true)
    // An instance claimed it and died before finishing.
    const claim = await d.daemon.store.apply({docs: [{collection: LEASES_COLLECTION, id: queued.id, set: {owner: 'dead'}, expectVersion: 0, expires_at_ms: d.clock.t + 60_000}]})
    expect(claim.ok).toBe(true)
    expect((await d.daemon.webhooks.tick()).sent).toBe(0)
    expect(r.received).toHaveLength(0)
    d.clock.advance(60_000)
    expect((await d.daemon.webhooks.tick()).sent).toBe(1)
    expect(r.delivered()).toHaveLength(1)
    expect(await d.daemon.store.getDocs(QUEUE_COLLECTION, [queued.id])).toEqual([undefined])
    expect(deliveryKey(id, (await deliveries(id))[0].delivery_id)).toBe(queued.id)
  })
})
