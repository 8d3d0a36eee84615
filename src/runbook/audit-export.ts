// `cycles audit export`: the audit chain (rows of successful writes) in chain order, as JSON lines
// or CSV, with the chain fields an auditor needs to check it, and the verification of what was
// exported (a time window of the chain verifies on its own: its first row's prev_hash is the anchor).
import type {AdminClient} from '../client/admin-client.js'
import type {AuditEntry} from '../store/types.js'
import {type AuditVerifyResult, fetchAuditChain, verifyAuditRows} from '../integrity/audit-verify.js'

export const EXPORT_FORMATS = ['jsonl', 'csv'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]

export interface AuditExport {
  text: string
  rows: number
  first_seq?: number
  last_seq?: number
  verification: AuditVerifyResult
}

/** CSV columns: the row's fields, who/why/how much out of metadata, the whole metadata as JSON, then the chain. */
const CSV_COLUMNS = [
  'chain_seq', 'log_id', 'timestamp', 'tenant_id', 'actor', 'actor_type', 'operation', 'funding_operation', 'resource_type', 'resource_id', 'amount', 'unit', 'reason',
  'status', 'error_code', 'request_id', 'trace_id', 'key_id', 'source_ip', 'user_agent', 'metadata', 'prev_hash', 'hash',
] as const

/** Rows of the chain sealed within [fromMs, toMs] (either open), oldest first, rendered. */
export async function exportAudit(admin: AdminClient, options: {format: ExportFormat; fromMs?: number; toMs?: number}): Promise<AuditExport> {
  const {rows: chain} = await fetchAuditChain(admin)
  const rows = chain.filter((r) => (options.fromMs === undefined || r.timestamp_ms >= options.fromMs) && (options.toMs === undefined || r.timestamp_ms <= options.toMs))
  // Only the tail of a window reaching the present can be checked against the head; a window is checked on its own.
  const verification = verifyAuditRows(rows)
  const text = options.format === 'jsonl' ? rows.map((r) => `${JSON.stringify(exportRecord(r))}\n`).join('') : csv(rows)
  return {text, rows: rows.length, first_seq: rows[0]?.chain_seq, last_seq: rows.at(-1)?.chain_seq, verification}
}

/** The row as the admin API shows it (ISO timestamp, actor_type inside metadata), chain fields last. */
function exportRecord(r: AuditEntry): Record<string, unknown> {
  const {timestamp_ms, prev_hash, hash, chain_seq, ...rest} = r
  return {chain_seq, ...rest, timestamp: new Date(timestamp_ms).toISOString(), prev_hash, hash}
}

function csv(rows: AuditEntry[]): string {
  const lines = [CSV_COLUMNS.join(',')]
  for (const r of rows) {
    const m = r.metadata ?? {}
    const values: Record<(typeof CSV_COLUMNS)[number], unknown> = {
      chain_seq: r.chain_seq,
      log_id: r.log_id,
      timestamp: new Date(r.timestamp_ms).toISOString(),
      tenant_id: r.tenant_id,
      actor: m.actor,
      actor_type: r.actor_type ?? m.actor_type,
      operation: r.operation,
      funding_operation: r.operation === 'fundBudget' ? m.operation : undefined,
      resource_type: r.resource_type,
      resource_id: r.resource_id,
      amount: typeof m.amount === 'number' ? m.amount : m.allocated,
      unit: m.unit,
      reason: m.reason,
      status: r.status,
      error_code: r.error_code,
      request_id: r.request_id,
      trace_id: r.trace_id,
      key_id: r.key_id,
      source_ip: r.source_ip,
      user_agent: r.user_agent,
      metadata: Object.keys(m).length > 0 ? JSON.stringify(m) : undefined,
      prev_hash: r.prev_hash,
      hash: r.hash,
    }
    lines.push(CSV_COLUMNS.map((c) => csvField(values[c])).join(','))
  }
  return `${lines.join('\r\n')}\r\n`
}

/**
 * RFC 4180: quote a field holding a comma, quote, CR or LF, doubling its quotes. A text field a
 * spreadsheet would run as a formula (first character = + - @, tab or CR) gets a leading `'` first:
 * reasons, actors and user agents are written by whoever holds a key, and a CSV is opened in
 * spreadsheets (the JSON-lines export keeps every value exactly). Numbers are left as they are.
 */
export function csvField(v: unknown): string {
  if (v === undefined || v === null) return ''
  const s = typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}
