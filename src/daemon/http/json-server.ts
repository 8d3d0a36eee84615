// Minimal JSON-over-HTTP plumbing on bare node:http, shared by the runtime and admin planes:
// routing, body limits, strict UTF-8 and JSON parsing, request and trace ids, the error envelope on
// every 4xx/5xx, load shedding, and a drain on shutdown. Kept this thin on purpose: the daemon's
// throughput target is measured against a bare node:http server.
import {isUtf8} from 'node:buffer'
import {randomUUID} from 'node:crypto'
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import v8 from 'node:v8'

import {WriteFailedError} from '../../io/group-commit-writer.js'
import {ProtocolError, invalid} from '../../protocol/errors.js'
import {resolveTraceId} from '../../protocol/trace.js'

export const MAX_BODY_BYTES = 64 * 1024
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>
/** Shared by every request without a query string; handlers only read queries. */
const EMPTY_QUERY = new URLSearchParams()

export interface HttpRequest {
  method: string
  path: string
  params: Record<string, string>
  query: URLSearchParams
  /** As received, names and values alternating; read with headerOf (no header object is built). */
  rawHeaders: string[]
  /** Parsed JSON body (POST/PATCH/PUT), undefined for GET. */
  body: unknown
  request_id: string
  trace_id: string
  received_at_ns: bigint
  remote_address?: string
}

export interface HttpResponse {
  status: number
  /** Serialized JSON (or text of `contentType`). */
  body: string
  headers?: Record<string, string>
  /** Only for the few non-JSON answers (the Prometheus exposition); JSON otherwise. */
  contentType?: string
}

export type Handler = (req: HttpRequest) => Promise<HttpResponse>

interface Route {
  method: string
  segments: string[]
  handler: Handler
  /** An empty body is passed on as undefined instead of a 400 (e.g. admin freeze/unfreeze). */
  bodyOptional?: boolean
}

export interface JsonServerOptions {
  /** Called for every finished request: response sent or error, with timing; may delay the send (await durability). */
  beforeSend?: (req: HttpRequest, res: HttpResponse, error?: unknown) => Promise<void> | void
  /** Called with the parsed request just before its handler; throw a ProtocolError to refuse it unevaluated. */
  admit?: (req: HttpRequest) => void
  /** Most requests evaluated at once; beyond it requests are shed with 429 LIMIT_EXCEEDED. */
  maxInFlight?: number
  /** Shedding by queueing time and memory (the runtime plane; `cycles daemon start` always sets it). Absent: by count only. */
  shedding?: SheddingOptions
  onError?: (error: unknown) => void
}

/**
 * Shedding by queueing time and memory, besides the in-flight count. A count alone never trips when
 * thousands of connections each wait in the kernel for the event loop: the wait is the loop's lag.
 */
export interface SheddingOptions {
  /** Shed a request whose wait before its handler (its own, plus the event loop's lag) is longer (ms); 0 = off. Default 1000. */
  maxQueueMs?: number
  /** Shed while the process's resident memory is above this (bytes); default off. */
  maxRssBytes?: number
  /** Shed while the V8 heap in use is above this (bytes); default 90 % of the heap limit (past it, the process dies out of memory). */
  maxHeapUsedBytes?: number
  /** Milliseconds on a monotonic clock (tests inject one). */
  clock?: () => number
  /** Memory figures (tests inject them). */
  memory?: () => {rss: number; heapUsed: number}
  /** How late the event loop runs timers, persistently (ms); default: measured by a 20 ms timer. */
  loopLagMs?: () => number
  /** How often memory and lag are sampled (ms); 0 = only when sampleLoad() is called. Default 100. */
  sampleIntervalMs?: number
}

export type ShedReason = 'in_flight' | 'queue_time' | 'memory'

const LAG_TICK_MS = 20
/** The lag that counts is the smallest seen over this window: a queue that stays, not one GC pause. */
const LAG_WINDOW_MS = 500


export class JsonServer {
  private readonly routes: Route[] = []
  /** Routes without parameters, by `${method} ${path}`: one lookup on the hot path. */
  private readonly exact = new Map<string, Route>()
  private readonly server: http.Server
  private inFlight = 0
  /** Requests being evaluated now. */
  get inFlightCount(): number {
    return this.inFlight
  }
  requests = 0
  shed = 0
  readonly shedByReason: Record<ShedReason, number> = {in_flight: 0, queue_time: 0, memory: 0}
  /** The latest sample of what shedding looks at. */
  readonly load = {lagMs: 0, rss: 0, heapUsed: 0}
  private readonly clock: () => number
  private readonly maxQueueMs: number
  private readonly maxRss: number
  private readonly maxHeapUsed: number
  private readonly loadTimers: NodeJS.Timeout[] = []
  private measuredLagMs = 0

  constructor(private readonly options: JsonServerOptions = {}) {
    this.server = http.createServer({keepAliveTimeout: 65_000, requestTimeout: 30_000, headersTimeout: 20_000}, (req, res) => {
      void this.handle(req, res)
    })
    this.server.maxHeadersCount = 100
    const shedding = options.shedding ?? {}
    this.clock = shedding.clock ?? (() => performance.now())
    this.maxRss = shedding.maxRssBytes ?? Infinity
    // Without shedding options only the in-flight count sheds: the admin plane is never shed by
    // queueing time or memory, so an operator can still reach the kill switch of an overloaded daemon.
    if (options.shedding === undefined) {
      this.maxQueueMs = 0
      this.maxHeapUsed = Infinity
      return
    }
    this.maxQueueMs = shedding.maxQueueMs ?? 1000
    this.maxHeapUsed = shedding.maxHeapUsedBytes ?? 0.9 * v8.getHeapStatistics().heap_size_limit
    if (!shedding.loopLagMs) {
      // How late a 20 ms timer fires is how long the loop was busy: as long as a socket with a
      // request waits in the kernel before the server reads it. Only a lag that lasts a whole
      // window counts (its minimum, as CoDel does), so a single long pause sheds nothing.
      let expected = performance.now() + LAG_TICK_MS
      let windowStart = performance.now()
      let windowMin = Infinity
      const tick = setInterval(() => {
        const now = performance.now()
        windowMin = Math.min(windowMin, Math.max(0, now - expected))
        expected = now + LAG_TICK_MS
        if (now - windowStart >= LAG_WINDOW_MS) {
          this.measuredLagMs = windowMin
          windowMin = Infinity
          windowStart = now
        }
      }, LAG_TICK_MS)
      tick.unref()
      this.loadTimers.push(tick)
    }
    const sampleEvery = shedding.sampleIntervalMs ?? 100
    if (sampleEvery > 0) {
      const sampler = setInterval(() => this.sampleLoad(), sampleEvery)
      sampler.unref()
      this.loadTimers.push(sampler)
    }
  }

  /** Take a fresh sample of memory and loop lag (also done every sampleIntervalMs). */
  sampleLoad(): void {
    const shedding = this.options.shedding ?? {}
    this.load.lagMs = shedding.loopLagMs ? shedding.loopLagMs() : this.measuredLagMs
    if (shedding.memory) {
      const m = shedding.memory()
      this.load.rss = m.rss
      this.load.heapUsed = m.heapUsed
    } else {
      this.load.rss = this.maxRss === Infinity ? 0 : process.memoryUsage.rss()
      this.load.heapUsed = v8.getHeapStatistics().used_heap_size
    }
  }

  route(method: string, pattern: string, handler: Handler, options: {bodyOptional?: boolean} = {}): this {
    const route: Route = {method, segments: pattern.split('/').filter(Boolean), handler, ...options}
    this.routes.push(route)
    if (!pattern.includes(':')) this.exact.set(`${method} ${pattern}`, route)
    return this
  }

  async listen(port: number, host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const address = this.server.address() as AddressInfo
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
    return `http://${shownHost}:${address.port}`
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port
  }

  /** Stop accepting, let in-flight requests finish (up to `timeoutMs`), then close idle sockets. */
  async close(timeoutMs = 10_000): Promise<void> {
    for (const timer of this.loadTimers) clearInterval(timer)
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeIdleConnections()
    const deadline = Date.now() + timeoutMs
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    this.server.closeAllConnections()
    await closed
  }

  private match(method: string, path: string): {route?: Route; params: Record<string, string>; pathExists: boolean} {
    const exact = this.exact.get(`${method} ${path}`)
    if (exact) return {route: exact, params: NO_PARAMS, pathExists: true}
    const parts = path.split('/').filter(Boolean)
    let pathExists = false
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue
      const params: Record<string, string> = {}
      let ok = true
      for (let i = 0; i < parts.length; i++) {
        const seg = route.segments[i]
        if (seg.startsWith(':')) {
          try {
            params[seg.slice(1)] = decodeURIComponent(parts[i])
          } catch {
            ok = false
            break
          }
        } else if (seg !== parts[i]) {
          ok = false
          break
        }
      }
      if (!ok) continue
      pathExists = true
      if (route.method === method) return {route, params, pathExists}
    }
    return {params: {}, pathExists}
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.requests++
    const received = process.hrtime.bigint()
    const receivedMs = this.clock()
    const rawUrl = req.url ?? '/'
    const q = rawUrl.indexOf('?')
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q)
    const request: HttpRequest = {
      method: req.method ?? 'GET',
      path,
      params: {},
      query: q < 0 ? EMPTY_QUERY : new URLSearchParams(rawUrl.slice(q + 1)),
      rawHeaders: req.rawHeaders,
      body: undefined,
      request_id: randomUUID(),
      trace_id: resolveTraceId(rawHeader(req.rawHeaders, 'traceparent'), rawHeader(req.rawHeaders, 'x-cycles-trace-id')),
      received_at_ns: received,
      remote_address: req.socket.remoteAddress,
    }
    let response: HttpResponse
    let failure: unknown
    const limit = this.options.maxInFlight ?? 8192
    if (this.inFlight >= limit) {
      this.shedNow(req, res, request, 'in_flight')
      return
    }
    // Health and status probes are never shed: an overloaded daemon must still say so.
    const probe = path.startsWith('/actuator/')
    if (!probe && (this.load.rss > this.maxRss || this.load.heapUsed > this.maxHeapUsed)) {
      this.shedNow(req, res, request, 'memory')
      return
    }
    this.inFlight++
    try {
      const {route, params, pathExists} = this.match(request.method, path)
      request.params = params
      if (!route) {
        req.resume()
        throw pathExists
          ? new ProtocolError('INVALID_REQUEST', `Method ${request.method} is not allowed on ${path}`, undefined, 405)
          : new ProtocolError('NOT_FOUND', `No such endpoint: ${request.method} ${path}`)
      }
      if (request.method !== 'GET' && request.method !== 'DELETE') request.body = await readJsonBody(req, route.bodyOptional)
      else req.resume()
      if (this.maxQueueMs > 0 && !probe && this.clock() - receivedMs + this.load.lagMs > this.maxQueueMs) {
        this.inFlight--
        this.shedNow(req, res, request, 'queue_time')
        return
      }
      this.options.admit?.(request)
      response = await route.handler(request)
    } catch (error) {
      failure = error
      if (error instanceof ProtocolError) response = this.envelope(request, error)
      else {
        this.options.onError?.(error)
        response = this.envelope(request, new ProtocolError('INTERNAL_ERROR', 'Internal server error'))
      }
    }
    try {
      await this.options.beforeSend?.(request, response, failure)
    } catch (error) {
      if (error instanceof ProtocolError) response = this.envelope(request, error)
      else if (error instanceof WriteFailedError) {
        // Not written, so not acknowledged: the client may retry with the same idempotency key.
        response = this.envelope(request, new ProtocolError('INTERNAL_ERROR', `Could not persist the change (${error.failure.errno}); retry shortly with the same idempotency key`, undefined, 503))
      } else {
        this.options.onError?.(error)
        response = this.envelope(request, new ProtocolError('INTERNAL_ERROR', 'Could not record the decision durably'))
      }
    }
    this.inFlight--
    const oversize = failure instanceof BodyTooLargeError
    this.send(res, request, response, oversize)
  }

  /**
   * 429 LIMIT_EXCEEDED with Retry-After, before any evaluation. Shed for count or memory, the
   * connection is closed (its body is not read, and an idle socket costs memory); shed for queueing
   * time, the body was read and the connection stays usable.
   */
  private shedNow(req: http.IncomingMessage, res: http.ServerResponse, request: HttpRequest, reason: ShedReason): void {
    this.shed++
    this.shedByReason[reason]++
    req.resume()
    const response = {...this.envelope(request, new ProtocolError('LIMIT_EXCEEDED', 'Daemon is at capacity; retry shortly')), headers: {'Retry-After': '1'}}
    this.send(res, request, response, reason !== 'queue_time')
  }

  private envelope(request: HttpRequest, error: ProtocolError): HttpResponse {
    const body: Record<string, unknown> = {
      error: error.code,
      message: error.message,
      request_id: request.request_id,
      trace_id: request.trace_id,
    }
    if (error.details) body.details = error.details
    return {status: error.status, body: JSON.stringify(body)}
  }

  private send(res: http.ServerResponse, request: HttpRequest, response: HttpResponse, closeConnection = false): void {
    // A flat [name, value, ...] list: node:http takes it as is, without walking an object.
    const headers = [
      'Content-Type',
      response.contentType ?? 'application/json',
      'Content-Length',
      String(Buffer.byteLength(response.body)),
      'X-Request-Id',
      request.request_id,
      'X-Cycles-Trace-Id',
      request.trace_id,
    ]
    if (response.headers) for (const name in response.headers) headers.push(name, response.headers[name])
    if (closeConnection) headers.push('Connection', 'close')
    res.writeHead(response.status, headers)
    res.end(response.body)
  }
}

export class BodyTooLargeError extends ProtocolError {
  constructor() {
    super('INVALID_REQUEST', `Request body exceeds ${MAX_BODY_BYTES} bytes`)
  }
}

/** A request header by its lower-case name (the first one when repeated). */
export function headerOf(req: HttpRequest, name: string): string | undefined {
  return rawHeader(req.rawHeaders, name)
}

// Node builds `req.headers` on first use, lower-casing every name; the few headers the daemon reads
// are found in the raw list instead, comparing names only when their lengths match.
function rawHeader(raw: string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]
    if (n.length === name.length && (n === name || n.toLowerCase() === name)) return raw[i + 1]
  }
  return undefined
}

/** Read and parse a JSON body with plain stream events (async iteration costs a promise per chunk). */
function readJsonBody(req: http.IncomingMessage, optional = false): Promise<unknown> {
  const declared = Number(rawHeader(req.rawHeaders, 'content-length') ?? 0)
  if (declared > MAX_BODY_BYTES) {
    req.resume()
    return Promise.reject(new BodyTooLargeError())
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    req.on('data', (chunk: Buffer) => {
      if (failed) return
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        failed = true
        reject(new BodyTooLargeError())
        return
      }
      chunks.push(chunk)
    })
    req.on('error', (error) => {
      if (!failed) reject(invalid(`Could not read the request body: ${error.message}`))
      failed = true
    })
    req.on('end', () => {
      if (failed) return
      try {
        resolve(size === 0 && optional ? undefined : parseJson(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), size))
      } catch (error) {
        reject(error)
      }
    })
  })
}

function parseJson(bytes: Buffer, size: number): unknown {
  if (size === 0) throw invalid('Request body is required')
  if (!isUtf8(bytes)) throw invalid('Request body is not valid UTF-8')
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch (error) {
    if (error instanceof RangeError) throw invalid('Request body is nested too deeply')
    throw invalid(`Malformed JSON: ${(error as Error).message}`)
  }
}
