// The pure parts of webhooks: backoff, signatures, sealing secrets, URL checks, matching, and what
// one attempt's outcome does to a delivery and its subscription.
import {describe, expect, it} from 'vitest'

import type {CyclesEvent} from '../../src/events/event.js'
import {afterAttempt} from '../../src/webhooks/delivery.js'
import {matches} from '../../src/webhooks/matching.js'
import {DEFAULT_RETRY, type DeliveryDoc, type SubscriptionDoc, retryDelayMs} from '../../src/webhooks/model.js'
import {SecretBox, SecretKeyError, newSigningSecret, parseSecretKey, signatureOf, signatureValid} from '../../src/webhooks/secrets.js'
import {DEFAULT_SECURITY, checkWebhookUrl, globMatches, parseCidr} from '../../src/webhooks/security.js'
import {ProtocolError} from '../../src/protocol/errors.js'

const sub = (over: Partial<SubscriptionDoc> = {}): SubscriptionDoc => ({
  subscription_id: 'whsub_1',
  tenant_id: 'acme',
  url: 'https://x.example.com',
  event_types: ['reservation.denied'],
  signing_secret_enc: 'enc:v1:x',
  status: 'ACTIVE',
  consecutive_failures: 0,
  created_at_ms: 0,
  ...over,
})
const event = (over: Partial<CyclesEvent> = {}): CyclesEvent => ({event_id: 'evt_1', event_type: 'reservation.denied', category: 'reservation', timestamp: '', tenant_id: 'acme', source: 't', ...over})

describe('retry backoff', () => {
  it('is 1, 2, 4, 8, 16 s by default and capped by max_delay_ms', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(DEFAULT_RETRY, n))).toEqual([1000, 2000, 4000, 8000, 16000])
    expect(retryDelayMs({...DEFAULT_RETRY, max_delay_ms: 5000}, 4)).toBe(5000)
    expect(retryDelayMs({...DEFAULT_RETRY, initial_delay_ms: 100, backoff_multiplier: 3}, 3)).toBe(900)
  })
})

describe('signatures', () => {
  it('is sha256= + the hex HMAC of the raw body; verification is exact', () => {
    // HMAC-SHA256("hello", key "secret"), computed independently.
    expect(signatureOf('hello', 'secret')).toBe('sha256=88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b')
    expect(signatureValid('hello', 'secret', signatureOf('hello', 'secret'))).toBe(true)
    expect(signatureValid('hello ', 'secret', signatureOf('hello', 'secret'))).toBe(false)
    expect(signatureValid('hello', 'other', signatureOf('hello', 'secret'))).toBe(false)
    expect(signatureValid('hello', 'secret', undefined)).toBe(false)
    expect(signatureValid('hello', 'secret', 'sha256=00')).toBe(false)
  })

  it('new secrets are whsec_ + 64 hex', () => {
    expect(newSigningSecret(() => Buffer.alloc(32, 0xab))).toBe(`whsec_${'ab'.repeat(32)}`)
  })
})

describe('secret box', () => {
  it('opens what it sealed, refuses a tampered value or another key, and needs a key', () => {
    const box = new SecretBox(Buffer.alloc(32, 1))
    const sealed = box.seal('whsec_abc')
    expect(sealed).toMatch(/^enc:v1:/)
    expect(sealed).not.toContain('whsec_abc')
    expect(box.seal('whsec_abc')).not.toBe(sealed) // fresh IV each time
    expect(box.open(sealed)).toBe('whsec_abc')
    const parts = sealed.split(':')
    const body = Buffer.from(parts[4], 'base64')
    body[0] ^= 1
    expect(() => box.open([...parts.slice(0, 4), body.toString('base64')].join(':'))).toThrow(SecretKeyError)
    expect(() => new SecretBox(Buffer.alloc(32, 2)).open(sealed)).toThrow(/cannot be decrypted/)
    expect(() => new SecretBox(undefined).seal('x')).toThrow(/CYCLES_WEBHOOK_SECRET_KEY is not set/)
    expect(() => new SecretBox(undefined).requireForWrites()).toThrow(ProtocolError)
  })

  it('takes the key as 64 hex characters or base64 of 32 bytes, nothing else', () => {
    expect(parseSecretKey('01'.repeat(32))).toEqual(Buffer.alloc(32, 1))
    expect(parseSecretKey(Buffer.alloc(32, 9).toString('base64'))).toEqual(Buffer.alloc(32, 9))
    expect(() => parseSecretKey('short')).toThrow(/32 bytes/)
    expect(() => parseSecretKey('01'.repeat(31))).toThrow(/32 bytes/)
  })
})

describe('URL checks', () => {
  const none = async () => [] as string[]
  const code = async (url: string, config = DEFAULT_SECURITY, lookup: (h: string) => Promise<string[]> = none) => {
    try {
      return await checkWebhookUrl(url, config, lookup)
    } catch (error) {
      return (error as ProtocolError).code
    }
  }
  it('follows the spec defaults: https only, private and loopback ranges blocked, resolved names too', async () => {
    expect(await code('https://93.184.216.34/x')).toBe('https://93.184.216.34/x')
    expect(await code('http://93.184.216.34/x')).toBe('WEBHOOK_URL_INVALID')
    for (const ip of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '127.0.0.1', '169.254.169.254', '[::1]', '[fd00::1]']) expect(await code(`https://${ip}/x`)).toBe('WEBHOOK_URL_INVALID')
    expect(await code('https://172.32.0.1/x')).toBe('https://172.32.0.1/x')
    expect(await code('https://internal.example.com/x', DEFAULT_SECURITY, async () => ['10.0.0.5'])).toBe('WEBHOOK_URL_INVALID')
    expect(await code('https://nowhere.example.com/x', DEFAULT_SECURITY, async () => Promise.reject(new Error('ENOTFOUND')))).toBe('WEBHOOK_URL_INVALID')
    expect(await code('ftp://93.184.216.34/x')).toBe('WEBHOOK_URL_INVALID')
    expect(await code('https://user:pw@93.184.216.34/x')).toBe('WEBHOOK_URL_INVALID')
    expect(await code('http://127.0.0.1:9/x', {blocked_cidr_ranges: [], allowed_url_patterns: [], allow_http: true})).toBe('http://127.0.0.1:9/x')
  })

  it('allowed_url_patterns are globs over the whole URL', () => {
    expect(globMatches('https://*.example.com/*', 'https://a.example.com/hook')).toBe(true)
    expect(globMatches('https://*.example.com/*', 'https://a.example.org/hook')).toBe(false)
    expect(globMatches('https://a.example.com/hook', 'https://a.example.com/hooks')).toBe(false)
    expect(parseCidr('10.0.0.0/33')).toMatch(/not a CIDR/)
    expect(parseCidr('fc00::/7')).toEqual({address: 'fc00::', prefix: 7, type: 'ipv6'})
  })
})

describe('matching', () => {
  it('by tenant, selector (types or categories), scope filter; __system__ hears every tenant', () => {
    expect(matches(sub(), event())).toBe(true)
    expect(matches(sub(), event({tenant_id: 'globex'}))).toBe(false)
    expect(matches(sub(), event({event_type: 'reservation.expired'}))).toBe(false)
    expect(matches(sub({event_categories: ['reservation']}), event({event_type: 'reservation.expired'}))).toBe(true)
    expect(matches(sub({scope_filter: 'tenant:acme/workspace:prod/*'}), event({scope: 'tenant:acme/workspace:prod/agent:a'}))).toBe(true)
    expect(matches(sub({scope_filter: 'tenant:acme/workspace:prod/*'}), event({scope: 'tenant:acme/workspace:dev'}))).toBe(false)
    expect(matches(sub({scope_filter: 'tenant:acme/*'}), event({scope: undefined}))).toBe(false)
    expect(matches(sub({tenant_id: '__system__'}), event({tenant_id: 'globex'}))).toBe(true)
  })

  it('a tenant-owned row never receives admin-only events, whatever it selects', () => {
    const leaky = sub({event_types: ['api_key.created'], event_categories: ['system']})
    expect(matches(leaky, event({event_type: 'api_key.created', category: 'api_key'}))).toBe(false)
    expect(matches(leaky, event({event_type: 'system.webhook_delivery_failed', category: 'system'}))).toBe(false)
    expect(matches({...leaky, tenant_id: '__system__'}, event({event_type: 'api_key.created', category: 'api_key'}))).toBe(true)
  })
})

describe('after an attempt', () => {
  const delivery: DeliveryDoc = {delivery_id: 'dlv_1', subscription_id: 'whsub_1', event_id: 'evt_1', event_type: 'reservation.denied', tenant_id: 'acme', status: 'PENDING', created_at_ms: 0, attempts: 0}
  const queued = {due_at_ms: 0, subscription_id: 'whsub_1', created_at_ms: 0}
  const fail = {success: false, response_status: 500, response_time_ms: 3, error_message: 'HTTP 500'}

  it('a failure within max_retries is RETRYING at the backoff; the last one is FAILED and counts once', () => {
    const first = afterAttempt(sub({consecutive_failures: 4}), delivery, queued, 'k', 10_000, fail)
    expect(first.delivery).toMatchObject({status: 'RETRYING', attempts: 1, next_retry_at_ms: 11_000, response_status: 500})
    expect(first.queue).toMatchObject({set: {due_at_ms: 11_000}})
    expect(first.sub?.consecutive_failures).toBe(4)
    const last = afterAttempt(sub({consecutive_failures: 4}), {...delivery, attempts: 5}, queued, 'k', 10_000, fail)
    expect(last.delivery).toMatchObject({status: 'FAILED', attempts: 6, completed_at_ms: 10_000})
    expect(last.delivery.next_retry_at_ms).toBeUndefined()
    expect(last.queue).toEqual({collection: 'webhook-queue', id: 'k', delete: true})
    expect(last.sub).toMatchObject({consecutive_failures: 5, status: 'ACTIVE', last_failure_at_ms: 10_000})
    expect(last.events.map((e) => e.event_type)).toEqual(['system.webhook_delivery_failed'])
  })

  it('the failure that reaches disable_after_failures disables, once', () => {
    const r = afterAttempt(sub({consecutive_failures: 9}), {...delivery, attempts: 5}, queued, 'k', 1, fail)
    expect(r.sub?.status).toBe('DISABLED')
    expect(r.events.map((e) => [e.event_type, e.category])).toEqual([['system.webhook_delivery_failed', 'system'], ['webhook.disabled', 'webhook']])
    const already = afterAttempt(sub({consecutive_failures: 10, status: 'PAUSED'}), {...delivery, attempts: 5}, queued, 'k', 1, fail)
    expect(already.sub?.status).toBe('PAUSED')
    expect(already.events.map((e) => e.event_type)).toEqual(['system.webhook_delivery_failed'])
  })

  it('a success finishes the delivery and resets the count', () => {
    const r = afterAttempt(sub({consecutive_failures: 3}), {...delivery, attempts: 2, error_message: 'HTTP 500', response_status: 500}, queued, 'k', 7, {success: true, response_status: 204, response_time_ms: 2})
    expect(r.delivery).toMatchObject({status: 'SUCCESS', attempts: 3, response_status: 204, completed_at_ms: 7})
    expect(r.delivery.error_message).toBeUndefined()
    expect(r.sub).toMatchObject({consecutive_failures: 0, last_success_at_ms: 7})
    expect(r.events).toEqual([])
  })

  it('not sent at all (too old, subscription gone) is FAILED with the reason and no attempt counted', () => {
    const r = afterAttempt(undefined, delivery, queued, 'k', 5, undefined, 'subscription deleted before delivery')
    expect(r.delivery).toMatchObject({status: 'FAILED', attempts: 0, error_message: 'subscription deleted before delivery'})
    expect(r.sub).toBeUndefined()
  })
})
