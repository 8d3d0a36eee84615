// The webhook endpoints of both planes on a real daemon: requests and responses validated against
// the official admin spec, the category boundary, URL security defaults, secrets shown once and
// never stored or returned in clear, lifecycle events, replay and bulk actions.
import fs from 'node:fs'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {EVENTS_COLLECTION} from '../../src/events/event.js'
import {WEBHOOKS_COLLECTION} from '../../src/webhooks/model.js'
import {call} from '../support/daemon.js'
import {specErrors} from '../support/spec.js'
import {type Receiver, type WebhookDaemon, emit, startReceiver, startWebhookDaemon, subscribe} from './support.js'

const ok = (schema: string, body: unknown) => expect(specErrors('admin', schema, body), JSON.stringify(body)).toBeUndefined()

let d: WebhookDaemon | undefined
let r: Receiver | undefined
afterEach(async () => {
  await d?.stop()
  await r?.close()
  d = undefined
  r = undefined
})

const events = async (type: string) => (await d!.daemon.store.listDocs(EVENTS_COLLECTION, {limit: 10_000})).map((x) => x.value as Record<string, any>).filter((e) => e.event_type === type)

describe('webhook admin API', () => {
  it('create → get → list → patch → test → deliveries → delete, every body valid against the admin spec', async () => {
    d = await startWebhookDaemon()
    r = await startReceiver('healthy')
    const request = {url: r.url, event_types: ['reservation.denied', 'budget.exhausted'], name: 'compliance sink', headers: {Authorization: 'Bearer sink-secret'}, retry_policy: {max_retries: 3}}
    ok('WebhookCreateRequest', request)
    const created = await d.admin('POST', '/v1/admin/webhooks?tenant_id=acme', request)
    expect(created.status).toBe(201)
    ok('WebhookCreateResponse', created.body)
    const id = created.body.subscription.subscription_id as string
    expect(id).toMatch(/^whsub_[0-9a-f]{24}$/)
    expect(created.body.subscription).toMatchObject({tenant_id: 'acme', status: 'ACTIVE', consecutive_failures: 0, disable_after_failures: 10, headers: {Authorization: '********'}})
    expect(created.body.subscription.retry_policy).toEqual({max_retries: 3, initial_delay_ms: 1000, backoff_multiplier: 2, max_delay_ms: 60000})
    r.secrets.push(created.body.signing_secret)

    const got = await d.admin('GET', `/v1/admin/webhooks/${id}`)
    ok('WebhookSubscription', got.body)
    expect(got.text).not.toContain(created.body.signing_secret)
    expect(got.text).not.toContain('sink-secret')
    expect(got.body.signing_secret).toBeUndefined()

    const list = await d.admin('GET', '/v1/admin/webhooks?tenant_id=acme&status=ACTIVE&search=whsub')
    ok('WebhookListResponse', list.body)
    expect(list.body.subscriptions.map((s: {subscription_id: string}) => s.subscription_id)).toEqual([id])
    expect((await d.admin('GET', '/v1/admin/webhooks?tenant_id=globex')).body.subscriptions).toEqual([])

    const patch = {event_types: ['reservation.denied'], name: 'sink v2'}
    ok('WebhookUpdateRequest', patch)
    const patched = await d.admin('PATCH', `/v1/admin/webhooks/${id}`, patch)
    expect(patched.status).toBe(200)
    ok('WebhookSubscription', patched.body)
    const updated = await events('webhook.updated')
    expect(updated).toHaveLength(1)
    expect(updated[0]).toMatchObject({category: 'webhook', tenant_id: 'acme', correlation_id: `webhook_update:${id}:${patched.headers.get('x-request-id') ?? updated[0].request_id}`})
    expect(updated[0].data.changed_fields.sort()).toEqual(['event_types', 'name'])
    // A no-op PATCH writes no event.
    await d.admin('PATCH', `/v1/admin/webhooks/${id}`, patch)
    expect(await events('webhook.updated')).toHaveLength(1)

    const test = await d.admin('POST', `/v1/admin/webhooks/${id}/test`)
    expect(test.status).toBe(200)
    ok('WebhookTestResponse', test.body)
    expect(test.body).toMatchObject({success: true, response_status: 200})
    expect(r.received[0].event).toMatchObject({event_type: 'system.webhook_test', event_id: test.body.event_id, tenant_id: 'acme'})
    expect(r.received[0].headers['authorization']).toBe('Bearer sink-secret')

    const history = await d.admin('GET', `/v1/admin/webhooks/${id}/deliveries?status=SUCCESS`)
    ok('WebhookDeliveryListResponse', history.body)
    expect(history.body.deliveries).toHaveLength(1)
    expect(history.body.deliveries[0]).toMatchObject({event_id: test.body.event_id, status: 'SUCCESS', attempts: 1, response_status: 200})
    expect((await d.admin('GET', `/v1/admin/webhooks/${id}/deliveries?status=FAILED`)).body.deliveries).toEqual([])

    const removed = await d.admin('DELETE', `/v1/admin/webhooks/${id}`)
    expect(removed.status).toBe(204)
    const gone = await d.admin('GET', `/v1/admin/webhooks/${id}`)
    expect(gone.status).toBe(404)
    ok('ErrorResponse', gone.body)
    expect(gone.body.error).toBe('WEBHOOK_NOT_FOUND')
    expect((await events('webhook.created'))[0]).toMatchObject({correlation_id: `webhook_create:${id}`, data: {subscription_id: id, new_status: 'ACTIVE'}})
    expect((await events('webhook.deleted'))[0]).toMatchObject({correlation_id: `webhook_delete:${id}`, data: {previous_status: 'ACTIVE'}})
    const audit = await d.admin('GET', `/v1/admin/audit/logs?resource_id=${id}`)
    expect(audit.body.logs.map((l: {operation: string}) => l.operation).sort()).toEqual(['createWebhookSubscription', 'deleteWebhookSubscription', 'updateWebhookSubscription'])
  })

  it('keeps the signing secret and header values encrypted at rest, and rotates the secret by PATCH', async () => {
    d = await startWebhookDaemon()
    r = await startReceiver('healthy')
    const {id, secret} = await subscribe(d, r, {headers: {'X-Token': 'very-private-header-value'}})
    const [doc] = await d.daemon.store.getDocs(WEBHOOKS_COLLECTION, [id])
    expect(JSON.stringify(doc!.value)).not.toContain(secret)
    expect(JSON.stringify(doc!.value)).not.toContain('very-private-header-value')
    expect(doc!.value.signing_secret_enc).toMatch(/^enc:v1:/)
    await d.daemon.store.flushed()
    const stateFiles = fs.readdirSync(d.stateDir).map((f) => fs.readFileSync(path.join(d!.stateDir, f), 'utf8')).join('\n')
    expect(stateFiles).toContain(id)
    expect(stateFiles).not.toContain(secret)
    expect(stateFiles).not.toContain('very-private-header-value')

    const rotated = 'whsec_' + 'c'.repeat(64)
    const patched = await d.admin('PATCH', `/v1/admin/webhooks/${id}`, {signing_secret: rotated})
    expect(patched.text).not.toContain(rotated)
    r.secrets = [rotated]
    await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    await d.daemon.webhooks.tick()
    expect(r.received).toHaveLength(1)
    expect(r.received[0].signatureValid).toBe(true) // signed with the new secret only
  })

  it('refuses admin-only events on tenant-owned subscriptions, but not on __system__ ones', async () => {
    d = await startWebhookDaemon()
    const url = 'https://hooks.example.com/x'
    const tenantOwned = await d.admin('POST', '/v1/admin/webhooks?tenant_id=acme', {url, event_types: ['api_key.created']})
    expect(tenantOwned.status).toBe(400)
    ok('ErrorResponse', tenantOwned.body)
    expect(tenantOwned.body.message).toContain('api_key.created')
    const byCategory = await d.admin('POST', '/v1/admin/webhooks?tenant_id=acme', {url, event_types: ['budget.created'], event_categories: ['system']})
    expect(byCategory.status).toBe(400)
    expect(byCategory.body.message).toContain('system')
    const system = await d.admin('POST', '/v1/admin/webhooks', {url, event_types: ['api_key.created'], event_categories: ['system']})
    expect(system.status).toBe(201)
    expect(system.body.subscription.tenant_id).toBe('__system__')
    expect((await d.admin('POST', '/v1/admin/webhooks?tenant_id=nope', {url, event_types: ['budget.created']})).body.error).toBe('TENANT_NOT_FOUND')
    const unknownType = await d.admin('POST', '/v1/admin/webhooks', {url, event_types: ['budget.melted']})
    expect(unknownType.status).toBe(400)
    const tenantPatch = await d.admin('POST', '/v1/admin/webhooks?tenant_id=acme', {url, event_types: ['budget.created']})
    const bad = await d.admin('PATCH', `/v1/admin/webhooks/${tenantPatch.body.subscription.subscription_id}`, {event_categories: ['webhook']})
    expect(bad.status).toBe(400)
    const cleared = await d.admin('PATCH', `/v1/admin/webhooks/${tenantPatch.body.subscription.subscription_id}`, {event_types: []})
    expect(cleared.status).toBe(400)
    expect(cleared.body.message).toContain('at least one event type or event category')
  })

  it('applies the spec security defaults (private ranges and http blocked) until the operator opts in', async () => {
    d = await startWebhookDaemon({optIn: false})
    const config = await d.admin('GET', '/v1/admin/config/webhook-security')
    ok('WebhookSecurityConfig', config.body)
    expect(config.body).toEqual({blocked_cidr_ranges: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '169.254.0.0/16', '::1/128', 'fc00::/7'], allowed_url_patterns: [], allow_http: false})
    const http = await d.admin('POST', '/v1/admin/webhooks', {url: 'http://hooks.example.com/x', event_types: ['budget.created']})
    expect(http.status).toBe(400)
    expect(http.body.error).toBe('WEBHOOK_URL_INVALID')
    const loopback = await d.admin('POST', '/v1/admin/webhooks', {url: 'https://127.0.0.1:9/x', event_types: ['budget.created']})
    expect(loopback.body.error).toBe('WEBHOOK_URL_INVALID')
    expect(loopback.body.message).toContain('blocked range')
    const v6 = await d.admin('POST', '/v1/admin/webhooks', {url: 'https://[::1]:9/x', event_types: ['budget.created']})
    expect(v6.body.error).toBe('WEBHOOK_URL_INVALID')
    const put = await d.admin('PUT', '/v1/admin/config/webhook-security', {blocked_cidr_ranges: ['10.0.0.0/8'], allowed_url_patterns: ['https://*.example.com/*'], allow_http: false})
    ok('WebhookSecurityConfig', put.body)
    expect((await d.admin('POST', '/v1/admin/webhooks', {url: 'https://127.0.0.1:9/x', event_types: ['budget.created']})).body.error).toBe('WEBHOOK_URL_INVALID') // not in the allowed patterns
    expect((await d.admin('POST', '/v1/admin/webhooks', {url: 'https://hooks.example.com/x', event_types: ['budget.created']})).status).toBe(201)
    expect((await d.admin('PUT', '/v1/admin/config/webhook-security', {blocked_cidr_ranges: ['10.0.0.0/33']})).status).toBe(400)
  })

  it('without CYCLES_WEBHOOK_SECRET_KEY a create is refused with 503 naming the variable', async () => {
    const {startTestDaemon} = await import('../support/daemon.js')
    const {ADMIN_CONFIG, admin} = await import('../admin/support.js')
    const plain = await startTestDaemon(ADMIN_CONFIG, {adminPort: 0, webhooks: {manual: true}})
    try {
      const res = await admin(plain.daemon.adminUrl, 'POST', '/v1/admin/webhooks', {url: 'https://hooks.example.com/x', event_types: ['budget.created']})
      expect(res.status).toBe(503)
      expect(res.body.error).toBe('INTERNAL_ERROR')
      expect(res.body.message).toContain('CYCLES_WEBHOOK_SECRET_KEY')
    } finally {
      await plain.stop()
    }
  })

  it('replay fills a gap exactly once, refuses a window wider than max_events, and one replay at a time', async () => {
    d = await startWebhookDaemon()
    r = await startReceiver('failing')
    const {id} = await subscribe(d, r, {retry_policy: {max_retries: 0}, disable_after_failures: 2})
    const start = d.clock.t
    const missed: string[] = []
    for (let i = 0; i < 2; i++) {
      missed.push((await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})).event_id)
      d.clock.advance(10)
      await d.daemon.webhooks.tick()
    }
    expect((await d.admin('GET', `/v1/admin/webhooks/${id}`)).body.status).toBe('DISABLED')
    // While disabled the events are not queued at all.
    for (let i = 0; i < 2; i++) {
      missed.push((await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})).event_id)
      d.clock.advance(10)
      await d.daemon.webhooks.tick()
    }
    r.mode = 'healthy'
    await d.admin('PATCH', `/v1/admin/webhooks/${id}`, {status: 'ACTIVE'})
    const live = await emit(d.daemon.store, d.clock.t, {event_type: 'reservation.denied'})
    d.clock.advance(10)
    await d.daemon.webhooks.tick()
    expect(r.delivered().map((e) => e.event_id)).toEqual([live.event_id])
    const window = {from: new Date(start).toISOString(), to: new Date(d.clock.t).toISOString()}
    const tooMany = await d.admin('POST', `/v1/admin/webhooks/${id}/replay`, {...window, max_events: 3})
    expect(tooMany.status).toBe(400)
    expect(tooMany.body.message).toContain('4 events to deliver')
    const replay = await d.admin('POST', `/v1/admin/webhooks/${id}/replay`, {...window, max_events: 10})
    expect(replay.status).toBe(202)
    expect(replay.body).toMatchObject({events_queued: 4})
    expect(replay.body.replay_id).toMatch(/^replay_/)
    const again = await d.admin('POST', `/v1/admin/webhooks/${id}/replay`, window)
    expect(again.status).toBe(409)
    expect(again.body.error).toBe('REPLAY_IN_PROGRESS')
    await d.daemon.webhooks.tick()
    const got = r.delivered().map((e) => e.event_id)
    expect(got.slice(1)).toEqual(missed) // in order, each once
    expect(new Set(got).size).toBe(got.length)
    // Finished: a new replay of the same window finds nothing missing.
    const after = await d.admin('POST', `/v1/admin/webhooks/${id}/replay`, window)
    expect(after.status).toBe(202)
    expect(after.body.events_queued).toBe(0)
  })

  it('bulk-action: expected_count gate, idempotent replays, per-row outcomes and events', async () => {
    d = await startWebhookDaemon()
    const url = 'https://hooks.example.com/x'
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await d.admin('POST', '/v1/admin/webhooks?tenant_id=acme', {url: `${url}${i}`, event_types: ['budget.created']})).body.subscription.subscription_id)
    await d.admin('PATCH', `/v1/admin/webhooks/${ids[2]}`, {status: 'PAUSED'})
    const body = {filter: {tenant_id: 'acme'}, action: 'PAUSE', expected_count: 2, idempotency_key: 'k-1'}
    ok('WebhookBulkActionRequest', body)
    const mismatch = await d.admin('POST', '/v1/admin/webhooks/bulk-action', body)
    expect(mismatch.status).toBe(409)
    expect(mismatch.body.error).toBe('COUNT_MISMATCH')
    expect((await d.admin('GET', `/v1/admin/webhooks/${ids[0]}`)).body.status).toBe('ACTIVE') // no writes
    const paused = await d.admin('POST', '/v1/admin/webhooks/bulk-action', {...body, expected_count: 3, idempotency_key: 'k-2'})
    expect(paused.status).toBe(200)
    ok('WebhookBulkActionResponse', paused.body)
    expect(paused.body.succeeded.map((x: {id: string}) => x.id).sort()).toEqual([ids[0], ids[1]].sort())
    expect(paused.body.skipped).toEqual([{id: ids[2], reason: 'ALREADY_IN_TARGET_STATE'}])
    const pausedEvents = await events('webhook.paused')
    expect(pausedEvents.filter((e) => e.correlation_id.startsWith('webhook_bulk_action:pause:'))).toHaveLength(2)
    const replayed = await d.admin('POST', '/v1/admin/webhooks/bulk-action', {...body, expected_count: 3, idempotency_key: 'k-2'})
    expect(replayed.body).toEqual(paused.body)
    expect(await events('webhook.paused')).toHaveLength(pausedEvents.length)
    const reused = await d.admin('POST', '/v1/admin/webhooks/bulk-action', {...body, action: 'DELETE', expected_count: 3, idempotency_key: 'k-2'})
    expect(reused.body.error).toBe('IDEMPOTENCY_MISMATCH')
    const empty = await d.admin('POST', '/v1/admin/webhooks/bulk-action', {filter: {}, action: 'PAUSE', idempotency_key: 'k-3'})
    expect(empty.status).toBe(400)
    const deleted = await d.admin('POST', '/v1/admin/webhooks/bulk-action', {filter: {search: 'example.com/x'}, action: 'DELETE', idempotency_key: 'k-4'})
    expect(deleted.body.succeeded).toHaveLength(3)
    expect((await d.admin('GET', '/v1/admin/webhooks')).body.subscriptions).toEqual([])
  })

  it('tenant self-service on the runtime plane: permissions, own tenant only, no admin-only events', async () => {
    d = await startWebhookDaemon()
    const key = await d.admin('POST', '/v1/admin/api-keys', {tenant_id: 'acme', name: 'hooks', permissions: ['webhooks:read', 'webhooks:write']})
    const tenantKey = {'X-Cycles-API-Key': key.body.key_secret}
    const url = 'https://hooks.example.com/t'
    const noPermission = await call(d.url, 'POST', '/v1/webhooks', {url, event_types: ['budget.created']}, {'X-Cycles-API-Key': 'cyc_test_acme_0123456789abcdef'})
    expect(noPermission.status).toBe(403)
    ok('ErrorResponse', noPermission.body)
    const created = await call(d.url, 'POST', '/v1/webhooks', {url, event_types: ['budget.created']}, tenantKey)
    expect(created.status).toBe(201)
    ok('WebhookCreateResponse', created.body)
    expect(created.body.subscription.tenant_id).toBe('acme')
    const adminOnly = await call(d.url, 'POST', '/v1/webhooks', {url, event_types: ['api_key.revoked']}, tenantKey)
    expect(adminOnly.status).toBe(400)
    const globex = await d.admin('POST', '/v1/admin/webhooks?tenant_id=globex', {url, event_types: ['budget.created']})
    const foreign = await call(d.url, 'GET', `/v1/webhooks/${globex.body.subscription.subscription_id}`, undefined, tenantKey)
    expect(foreign.status).toBe(404)
    expect(foreign.body.error).toBe('WEBHOOK_NOT_FOUND')
    const mine = await call(d.url, 'GET', '/v1/webhooks', undefined, tenantKey)
    ok('WebhookListResponse', mine.body)
    expect(mine.body.subscriptions.map((s: {tenant_id: string}) => s.tenant_id)).toEqual(['acme'])
    const adminList = await call(d.url, 'GET', '/v1/webhooks', undefined, {'X-Admin-API-Key': 'adm_test_0123456789abcdef0123'})
    expect(adminList.status).toBe(400)
    expect(adminList.body.message).toContain('tenant query parameter is required')
    expect((await call(d.url, 'GET', '/v1/webhooks?tenant=globex', undefined, {'X-Admin-API-Key': 'adm_test_0123456789abcdef0123'})).body.subscriptions).toHaveLength(1)
    const pause = await call(d.url, 'PATCH', `/v1/webhooks/${created.body.subscription.subscription_id}`, {status: 'PAUSED'}, tenantKey)
    expect(pause.body.status).toBe('PAUSED')
    const audit = await d.admin('GET', `/v1/admin/audit/logs?resource_id=${created.body.subscription.subscription_id}`)
    expect(audit.body.logs.every((l: {key_id?: string}) => l.key_id === key.body.key_id)).toBe(true)
    expect((await call(d.url, 'POST', `/v1/webhooks/${created.body.subscription.subscription_id}/replay`, {from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z'}, tenantKey)).status).toBe(404)
  })
})
