// Client for the admin plane's approval routes (a cycles extension): list, show, approve, reject.
import type {ApprovalWire} from '../approvals/requests.js'
import type {HttpClient} from './http.js'

export interface ApprovalPage {
  approvals: ApprovalWire[]
  next_cursor?: string
  has_more: boolean
}

export class ApprovalsClient {
  constructor(private readonly http: HttpClient) {}

  list(query: {tenant_id?: string; status?: string; limit?: number; cursor?: string}): Promise<ApprovalPage> {
    return this.http.request<ApprovalPage>('GET', '/v1/admin/approvals', {query})
  }

  show(id: string): Promise<ApprovalWire> {
    return this.http.request<ApprovalWire>('GET', `/v1/admin/approvals/${encodeURIComponent(id)}`)
  }

  approve(id: string, body: {actor?: string; reason?: string; ttl_seconds?: number}): Promise<ApprovalWire> {
    return this.http.request<ApprovalWire>('POST', `/v1/admin/approvals/${encodeURIComponent(id)}/approve`, {body})
  }

  reject(id: string, body: {actor?: string; reason: string}): Promise<ApprovalWire> {
    return this.http.request<ApprovalWire>('POST', `/v1/admin/approvals/${encodeURIComponent(id)}/reject`, {body})
  }
}

/** One line per field, for `approvals show | approve | reject` in human mode. */
export function describeApproval(a: ApprovalWire): string[] {
  return Object.entries(a).map(([k, v]) => `${k.padEnd(18)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
}
