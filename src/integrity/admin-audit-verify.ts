// `cycles audit verify --admin-url`: the admin plane's audit chain, fetched and verified by the audit
// trail's own module (src/integrity/audit-verify.ts), shaped like the decision-log report.
import type {AdminClient} from '../client/admin-client.js'
import {type AuditAnchor, type AuditBreak, fetchAuditChain, verifyAuditRows} from './audit-verify.js'

export interface AuditChainReport {
  intact: boolean
  rows: number
  /** Where the chain starts (the oldest retained row). */
  anchor?: AuditAnchor
  /** Whether the tail was checked against the stored head. */
  head_checked?: boolean
  break?: AuditBreak
}

export async function verifyAdminAuditChain(admin: AdminClient): Promise<AuditChainReport> {
  const {rows, head} = await fetchAuditChain(admin)
  const result = verifyAuditRows(rows, {head})
  return result.ok
    ? {intact: true, rows: result.rows, anchor: result.anchor, head_checked: result.head_checked}
    : {intact: false, rows: result.rows, anchor: result.anchor, break: result.first_break}
}
