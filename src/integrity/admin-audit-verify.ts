// `cycles audit verify --admin-url`: the admin plane's audit chain, fetched and verified by the audit
// trail's own module (src/integrity/audit-verify.ts), then checked against the head a daemon signed
// (audit-signed-head.ts), shaped like the decision-log report.
import type {KeyObject} from 'node:crypto'

import type {AdminClient} from '../client/admin-client.js'
import {type SignedHeadCheck, checkSignedHead} from './audit-signed-head.js'
import {type AuditAnchor, type AuditBreak, fetchAuditChain, verifyAuditRows} from './audit-verify.js'

export interface AuditChainReport {
  intact: boolean
  rows: number
  /** Where the chain starts (the oldest retained row). */
  anchor?: AuditAnchor
  /** Whether the tail was checked against the stored head. */
  head_checked?: boolean
  break?: AuditBreak
  /** The signed head's check (absent: no daemon signed one and no key was pinned). */
  signed_head?: SignedHeadCheck
}

/** `keys`: the daemons' public keys the signed head must be signed with (none: any key it names). */
export async function verifyAdminAuditChain(admin: AdminClient, keys: readonly KeyObject[] = []): Promise<AuditChainReport> {
  const {rows, head, signed} = await fetchAuditChain(admin)
  const result = verifyAuditRows(rows, {head})
  if (!result.ok) return {intact: false, rows: result.rows, anchor: result.anchor, break: result.first_break}
  const signedHead = checkSignedHead(signed, rows, head, keys)
  return {intact: signedHead?.ok !== false, rows: result.rows, anchor: result.anchor, head_checked: result.head_checked, ...(signedHead ? {signed_head: signedHead} : {})}
}
