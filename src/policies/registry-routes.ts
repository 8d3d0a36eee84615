// The public action-kind registry (cycles-action-kinds v0.1.26): GET /v1/action-kinds (filters
// risk_class, deprecated; cursor pages) and GET /v1/action-kinds/{kind} (exact match, else 404).
// No key is needed, so each source address gets at most REGISTRY_RATE_PER_MINUTE requests per UTC
// minute (429 LIMIT_EXCEEDED with Retry-After, as the spec requires); an If-None-Match hit is a 304
// and is not counted. Custom kinds are operator-scoped (GET /v1/admin/action-kinds), not listed here.
import {createHash} from 'node:crypto'

import {type HttpRequest, type HttpResponse, type JsonServer, headerOf} from '../daemon/http/json-server.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {BUILT_IN_KINDS, REGISTRY_VERSION, builtInKind} from './action-kinds.js'
import {RISK_CLASSES} from './types.js'

export const REGISTRY_RATE_PER_MINUTE = 60
const MAX_SOURCES = 10_000
const ETAG = `"${createHash('sha256').update(JSON.stringify(BUILT_IN_KINDS)).digest('hex').slice(0, 16)}"`

export function registerActionKindRoutes(server: JsonServer, now: () => number = Date.now): void {
  let minute = -1
  const counts = new Map<string, number>()
  const limited = (req: HttpRequest): HttpResponse | undefined => {
    const m = Math.floor(now() / 60_000)
    if (m !== minute) {
      minute = m
      counts.clear()
    }
    const source = counts.size >= MAX_SOURCES && !counts.has(req.remote_address ?? '') ? '*' : (req.remote_address ?? 'unknown')
    const n = (counts.get(source) ?? 0) + 1
    counts.set(source, n)
    if (n <= REGISTRY_RATE_PER_MINUTE) return undefined
    const retry = Math.max(1, Math.ceil(((m + 1) * 60_000 - now()) / 1000))
    const body = {error: 'LIMIT_EXCEEDED', message: `More than ${REGISTRY_RATE_PER_MINUTE} registry requests this minute from this source; retry after ${retry} s`, request_id: req.request_id, trace_id: req.trace_id}
    return {status: 429, body: JSON.stringify(body), headers: {'Retry-After': String(retry)}}
  }
  const notModified = (req: HttpRequest): HttpResponse | undefined => (headerOf(req, 'if-none-match') === ETAG ? {status: 304, body: '', headers: {ETag: ETAG}} : undefined)

  server
    .route('GET', '/v1/action-kinds', async (req) => {
      const cached = notModified(req)
      if (cached) return cached
      const refused = limited(req)
      if (refused) return refused
      const risk = req.query.get('risk_class')
      if (risk && !(RISK_CLASSES as readonly string[]).includes(risk)) throw invalid(`Validation failed: risk_class: expected one of ${RISK_CLASSES.join(', ')}`)
      const limitRaw = req.query.get('limit')
      const limit = limitRaw === null ? 50 : Number(limitRaw)
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid('Validation failed: limit: expected an integer from 1 to 100')
      const cursor = req.query.get('cursor')
      const start = cursor === null ? 0 : Number.parseInt(cursor, 10)
      if (!Number.isInteger(start) || start < 0) throw invalid('Validation failed: cursor: not a cursor returned by this server')
      // No built-in kind is deprecated in registry 0.1.26, so `deprecated` filters nothing out.
      const kinds = BUILT_IN_KINDS.filter((k) => !risk || k.risk_class === risk)
      const page = kinds.slice(start, start + limit)
      const more = start + limit < kinds.length
      return {status: 200, body: JSON.stringify({version: REGISTRY_VERSION, kinds: page, ...(more ? {next_cursor: String(start + limit)} : {}), has_more: more}), headers: {ETag: ETAG}}
    })
    .route('GET', '/v1/action-kinds/:kind', async (req) => {
      const refused = limited(req)
      if (refused) return refused
      const entry = builtInKind(req.params.kind)
      if (!entry) throw new ProtocolError('NOT_FOUND', `Action kind not in the registry: ${req.params.kind}`)
      return {status: 200, body: JSON.stringify(entry)}
    })
}
