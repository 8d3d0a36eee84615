// Real receiver servers on loopback for the webhook tests, a clock the test moves, and a daemon
// with the admin plane, a fixed secret key and a dispatcher ticked by hand.
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {type CyclesEvent, newEventId} from '../../src/events/event.js'
import {eventWrite} from '../../src/webhooks/core.js'
import {signatureValid} from '../../src/webhooks/secrets.js'
import type {HostLookup} from '../../src/webhooks/security.js'
import type {Store} from '../../src/store/types.js'
import {ADMIN_CONFIG, admin} from '../admin/support.js'
import {type TestDaemon, startTestDaemon, tempDir} from '../support/daemon.js'

export const SECRET_KEY = Buffer.alloc(32, 7)

/** *.example.com resolves to a public address without DNS (the sandbox may have none); anything else: none. */
export const exampleHosts = async (host: string): Promise<string[]> => {
  if (host === 'example.com' || host.endsWith('.example.com')) return ['93.184.216.34']
  throw new Error(`no address for ${host}`)
}

/** How the receiver answers: 200, 500, never within the timeout, or by closing the connection. */
export type ReceiverMode = 'healthy' | 'failing' | 'slow' | 'closing'

export interface Received {
  body: string
  event: CyclesEvent
  headers: http.IncomingHttpHeaders
  /** Checked by the receiver with the secret it was given (as a real receiver does). */
  signatureValid: boolean
}

export interface Receiver {
  url: string
  mode: ReceiverMode
  /** The secrets the receiver accepts (old and new during a rotation). */
  secrets: string[]
  received: Received[]
  /** Requests answered with success whose signature verified. */
  delivered(): CyclesEvent[]
  close(): Promise<void>
}

export async function startReceiver(mode: ReceiverMode = 'healthy'): Promise<Receiver> {
  const sockets = new Set<import('node:net').Socket>()
  const receiver: Receiver = {
    url: '',
    mode,
    secrets: [],
    received: [],
    delivered: () => receiver.received.filter((r) => r.signatureValid && (r as Received & {ok?: boolean}).ok).map((r) => r.event),
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const signature = req.headers['x-cycles-signature'] as string | undefined
      const valid = receiver.secrets.some((s) => signatureValid(body, s, signature))
      const entry: Received & {ok?: boolean} = {body, event: JSON.parse(body) as CyclesEvent, headers: req.headers, signatureValid: valid}
      receiver.received.push(entry)
      switch (receiver.mode) {
        case 'healthy':
          entry.ok = valid
          res.writeHead(valid ? 200 : 401).end()
          return
        case 'failing':
          res.writeHead(500).end('down for maintenance')
          return
        case 'slow':
          return // never answers; the sender's timeout ends it
        case 'closing':
          req.socket.destroy()
          return
      }
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  return receiver
}

export interface Clock {
  t: number
  now: () => number
  advance(ms: number): void
}

export function testClock(start = Date.parse('2026-03-01T12:00:00Z')): Clock {
  const clock: Clock = {
    t: start,
    now: () => clock.t,
    advance: (ms) => {
      clock.t += ms
    },
  }
  return clock
}

export interface WebhookDaemon extends TestDaemon {
  adminUrl: string
  clock: Clock
  /** Admin call on this daemon's admin plane. */
  admin(method: string, path: string, body?: unknown, headers?: Record<string, string>): ReturnType<typeof admin>
}

/** A daemon with the admin plane, loopback receivers allowed (the explicit local-development opt-in), and a hand-ticked dispatcher. */
export async function startWebhookDaemon(options: {clock?: Clock; dir?: string; store?: Store; instanceId?: string; sendTimeoutMs?: number; optIn?: boolean; lookup?: HostLookup} = {}): Promise<WebhookDaemon> {
  const clock = options.clock ?? testClock()
  const d = await startTestDaemon(
    ADMIN_CONFIG,
    {
      adminPort: 0,
      now: clock.now,
      webhookSecretKey: SECRET_KEY,
      log: process.env.WEBHOOK_TEST_LOG ? (l: string) => console.error(l) : undefined,
      webhooks: {manual: true, settleMs: 0, sendTimeoutMs: options.sendTimeoutMs ?? 500, instanceId: options.instanceId, lookup: options.lookup ?? exampleHosts},
      ...(options.store ? {store: options.store} : {}),
    },
    options.dir ?? tempDir('cycles-webhooks-'),
  )
  const adminUrl = d.daemon.adminUrl
  const wd: WebhookDaemon = {...d, adminUrl, clock, admin: (method, path, body, headers) => admin(adminUrl, method, path, body, headers)}
  if (options.optIn !== false) {
    const put = await wd.admin('PUT', '/v1/admin/config/webhook-security', {allow_http: true, blocked_cidr_ranges: []})
    if (put.status !== 200) throw new Error(`security opt-in failed: ${put.text}`)
  }
  return wd
}

/** Write one event doc as the events writer does. */
export async function emit(store: Store, nowMs: number, partial: Partial<CyclesEvent> & {event_type: string}): Promise<CyclesEvent> {
  const event: CyclesEvent = {
    event_id: newEventId(nowMs),
    category: partial.event_type.split('.')[0] as CyclesEvent['category'],
    timestamp: new Date(nowMs).toISOString(),
    tenant_id: 'acme',
    source: 'cycles-server',
    ...partial,
  }
  const result = await store.apply({docs: [eventWrite(event, nowMs)]})
  if (!result.ok) throw new Error(`event write failed: ${result.failed}`)
  return event
}

/** Create a subscription on the receiver; the receiver learns the secret returned once. */
export async function subscribe(d: WebhookDaemon, receiver: Receiver, body: Record<string, unknown> = {}, tenant = 'acme'): Promise<{id: string; secret: string; subscription: Record<string, unknown>}> {
  const res = await d.admin('POST', `/v1/admin/webhooks${tenant ? `?tenant_id=${tenant}` : ''}`, {url: receiver.url, event_types: ['reservation.denied'], ...body})
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${res.text}`)
  receiver.secrets.push(res.body.signing_secret)
  return {id: res.body.subscription.subscription_id, secret: res.body.signing_secret, subscription: res.body.subscription}
}
