// One small JSON-over-HTTP client for the admin and runtime planes: timeouts, and every failure
// mapped to a CliError — server errors with their code, message and trace id; no connection →
// EXIT.UNREACHABLE.
import {CliError, EXIT, exitForHttpStatus} from '../cli/errors.js'

export interface HttpClientOptions {
  baseUrl: string
  headers: Record<string, string>
  timeoutMs?: number
  /** Which plane, for messages ("admin API", "runtime API"). */
  label: string
  /** The flag/env that sets baseUrl, for the unreachable hint. */
  urlHint: string
  /**
   * The runtime plane of the same daemon (admin clients only): when the admin plane cannot be
   * reached but this answers, the daemon runs without its admin plane, and the error says so.
   */
  runtimeUrl?: string
}

export type Query = Record<string, string | number | boolean | undefined | string[]>

export interface ServerErrorBody {
  error?: string
  message?: string
  request_id?: string
  trace_id?: string
  details?: Record<string, unknown>
}

export class HttpClient {
  constructor(private readonly options: HttpClientOptions) {}

  get baseUrl(): string {
    return this.options.baseUrl
  }

  async request<T>(method: string, path: string, options: {query?: Query; body?: unknown; onHeaders?: (headers: Headers) => void} = {}): Promise<T> {
    const url = new URL(this.options.baseUrl.replace(/\/+$/, '') + path)
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v === undefined) continue
      url.searchParams.set(k, Array.isArray(v) ? v.join(',') : String(v))
    }
    const headers: Record<string, string> = {Accept: 'application/json', 'User-Agent': 'cycles-cli', ...this.options.headers}
    if (options.body !== undefined) headers['Content-Type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
      })
    } catch (error) {
      const c = (error as {cause?: {code?: string; message?: string; errors?: Array<{code?: string}>}}).cause
      const cause = c?.code ?? c?.errors?.[0]?.code ?? c?.message ?? (error as Error).message
      const timedOut = (error as Error).name === 'TimeoutError'
      if (!timedOut && this.options.runtimeUrl && (await answers(this.options.runtimeUrl))) throw adminPlaneOff(this.options, cause)
      throw new CliError('UNREACHABLE', `${this.options.label} at ${this.options.baseUrl} ${timedOut ? 'did not answer in time' : `is unreachable (${cause})`}`, {
        exit: EXIT.UNREACHABLE,
        suggestions: ['is the daemon running? cycles daemon start', `check ${this.options.urlHint}`],
      })
    }
    const text = await res.text()
    let body: unknown
    try {
      body = text === '' ? undefined : JSON.parse(text)
    } catch {
      body = undefined
    }
    options.onHeaders?.(res.headers)
    if (res.ok) return body as T
    const err = (body ?? {}) as ServerErrorBody
    const traceId = err.trace_id ?? res.headers.get('x-cycles-trace-id') ?? undefined
    const requestId = err.request_id ?? res.headers.get('x-request-id') ?? undefined
    const code = err.error ?? `HTTP_${res.status}`
    const message = `${err.message ?? (text.slice(0, 200) || res.statusText)} (HTTP ${res.status}${traceId ? `, trace_id ${traceId}` : ''})`
    throw new CliError(code, message, {
      exit: exitForHttpStatus(res.status),
      suggestions: suggestionsFor(code, res.status, this.options, method === 'GET' ? undefined : traceId),
      details: {status: res.status, ...(requestId ? {request_id: requestId} : {}), ...(traceId ? {trace_id: traceId} : {}), ...(err.details ? {server_details: err.details} : {})},
    })
  }
}

/** Whether a Cycles runtime plane answers at `baseUrl` (any HTTP answer counts). */
async function answers(baseUrl: string): Promise<boolean> {
  try {
    await fetch(`${baseUrl.replace(/\/+$/, '')}/actuator/health/liveness`, {signal: AbortSignal.timeout(2000)})
    return true
  } catch {
    return false
  }
}

/** The daemon runs, but without its admin plane (started without an admin key). */
function adminPlaneOff(options: HttpClientOptions, cause: string): CliError {
  return new CliError(
    'UNREACHABLE',
    `${options.label} at ${options.baseUrl} is unreachable (${cause}), but the daemon at ${options.runtimeUrl} answers: its admin plane is off or listens elsewhere; start it with an admin key, CYCLES_ADMIN_API_KEY=<at least 16 characters> cycles daemon start …`,
    {
      exit: EXIT.UNREACHABLE,
      suggestions: ['give the daemon and this command the same CYCLES_ADMIN_API_KEY', `or, if the admin plane listens elsewhere, check ${options.urlHint}`],
      details: {runtime_plane: 'up', admin_plane: 'off'},
    },
  )
}

function suggestionsFor(code: string, status: number, options: HttpClientOptions, traceId: string | undefined): string[] {
  const out: string[] = []
  if (status === 401) out.push(options.label === 'admin API' ? 'check --admin-key / CYCLES_ADMIN_API_KEY' : 'check --api-key / CYCLES_API_KEY, or --admin-key for admin-on-behalf-of')
  if (code === 'TENANT_CLOSED') out.push('the tenant is closed: its objects are read-only')
  if (code === 'BUDGET_FROZEN') out.push('unfreeze it first: cycles budget unfreeze --scope … --unit …')
  if (code === 'IDEMPOTENCY_MISMATCH') out.push('this idempotency key was used for a different request; pass a new --idempotency-key')
  // Only where the audit log has something to show: a change that was refused (reads and 404s are not audited).
  if (traceId && status !== 401 && status !== 404) out.push(`audit trail: cycles audit list --trace-id ${traceId}`)
  return out
}
