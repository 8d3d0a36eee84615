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

  /** Every page, following next_cursor (at most `max` reservations). */
  async listAllReservations(query: Query, max = 100_000): Promise<{reservations: ReservationSummary[]; next_cursor?: string; has_more: boolean}> {
    const reservations: ReservationSummary[] = []
    let cursor: string | undefined
    do {
      const page = await this.listReservations({...query, cursor})
      reservations.push(...page.reservations)
      cursor = page.has_more ? page.next_cursor : undefined
    } while (cursor && reservations.length < max)
    return {reservations, has_more: false}
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
