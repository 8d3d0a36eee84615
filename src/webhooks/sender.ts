// One HTTP POST of an event to a subscription's URL with the §5.3 headers. Success is a 2xx answer;
// a connection error, a reset or no answer within the timeout is a failed attempt with its reason.
import {randomBytes} from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type {LookupFunction} from 'node:net'

import type {CyclesEvent} from '../events/event.js'
import {signatureOf} from './secrets.js'

export const USER_AGENT = 'cycles-webhooks/0.1.25'

export interface SendOutcome {
  success: boolean
  response_status?: number
  response_time_ms: number
  error_message?: string
}

export interface SendTimeouts {
  /** No complete answer within this long: failed (default 30 s, the reference server's read timeout). */
  timeoutMs: number
  /** Name resolution for the connection (the SSRF guard's connectLookup; default: the system's). */
  lookup?: LookupFunction
}

export const DEFAULT_SEND_TIMEOUT_MS = 30_000

/** The exact bytes signed and sent: the event JSON. */
export const eventBody = (event: CyclesEvent): string => JSON.stringify(event)

export function deliveryHeaders(event: CyclesEvent, body: string, secret: string, custom: Record<string, string>): Record<string, string> {
  const traceId = event.trace_id && /^[0-9a-f]{32}$/.test(event.trace_id) ? event.trace_id : randomBytes(16).toString('hex')
  return {
    ...custom,
    'Content-Type': 'application/json',
    'User-Agent': USER_AGENT,
    'X-Cycles-Signature': signatureOf(body, secret),
    'X-Cycles-Event-Id': event.event_id,
    'X-Cycles-Event-Type': event.event_type,
    'X-Cycles-Trace-Id': traceId,
    traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
    ...(event.request_id ? {'X-Request-Id': event.request_id} : {}),
  }
}

export function postEvent(url: string, body: string, headers: Record<string, string>, timeouts: SendTimeouts): Promise<SendOutcome> {
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  return new Promise((resolve) => {
    let done = false
    const finish = (o: Omit<SendOutcome, 'response_time_ms'>) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve({...o, response_time_ms: elapsed()})
    }
    let target: URL
    try {
      target = new URL(url)
    } catch {
      finish({success: false, error_message: `invalid URL ${url}`})
      return
    }
    const client = target.protocol === 'https:' ? https : http
    const req = client.request(target, {method: 'POST', headers: {...headers, 'Content-Length': String(Buffer.byteLength(body))}, agent: false, ...(timeouts.lookup ? {lookup: timeouts.lookup} : {})}, (res) => {
      // Drain the answer (bounded by the timeout) so a 2xx is only counted once it fully arrived.
      res.on('data', () => {})
      res.on('end', () => {
        const status = res.statusCode ?? 0
        finish(status >= 200 && status < 300 ? {success: true, response_status: status} : {success: false, response_status: status, error_message: `HTTP ${status}`})
      })
      res.on('error', (error) => finish({success: false, response_status: res.statusCode, error_message: error.message}))
    })
    const timer = setTimeout(() => {
      finish({success: false, error_message: `no answer within ${timeouts.timeoutMs} ms`})
      req.destroy()
    }, timeouts.timeoutMs)
    req.on('error', (error) => finish({success: false, error_message: describe(error)}))
    req.end(body)
  })
}

function describe(error: Error & {code?: string}): string {
  if (error.code === 'ECONNRESET' || error.message === 'socket hang up') return 'connection closed by the receiver before an answer'
  if (error.code === 'ECONNREFUSED') return 'connection refused'
  if (error.code === 'EBLOCKED') return `not sent: ${error.message}`
  return error.code ? `${error.code}: ${error.message}` : error.message
}
