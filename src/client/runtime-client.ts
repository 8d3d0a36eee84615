// Runtime-plane calls the runbooks need: reservations list / get / release, with a tenant key or
// the admin key (admin-on-behalf-of).
import type {HttpClient, Query} from './http.js'

export interface ReservationSummary {
  reservation_id: string
  status: string
  subject?: Record<string, unknown>
  action?: {kind: string; name: string}
  reserved?: {unit: string; amount: number}
  created_at_ms?: number
  expires_at_ms?: number
  scope_path?: string
  affected_scopes?: string[]
  [k: string]: unknown
}

export class RuntimeClient {
  constructor(readonly http: HttpClient) {}

  async listReservations(query: Query): Promise<{reservations: ReservationSummary[]; next_cursor?: string; has_more?: boolean}> {
    return this.http.request('GET', '/v1/reservations', {query})
  }

  getReservation(id: string): Promise<ReservationSummary> {
    return this.http.request('GET', `/v1/reservations/${encodeURIComponent(id)}`)
  }

  release(id: string, body: {idempotency_key: string; reason?: string}): Promise<Record<string, unknown>> {
    return this.http.request('POST', `/v1/reservations/${encodeURIComponent(id)}/release`, {body})
  }

  dryRun(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.http.request('POST', '/v1/reservations', {body: {...body, dry_run: true}})
  }
}
