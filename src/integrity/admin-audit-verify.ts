// `cycles audit verify --admin-url`: the admin plane's audit chain, fetched and verified by the audit
// trail's own module (src/integrity/audit-verify.ts: fetchAuditChain, verifyAuditRows). That module
// lands with the audit-chain branch; it is loaded by name so this file builds before the merge.
// MERGE: replace `loadAuditVerify` with a static import of '../integrity/audit-verify.js'.
import type {AdminClient} from '../client/admin-client.js'
import {CliError, EXIT} from '../cli/errors.js'

export interface AuditChainReport {
  intact: boolean
  rows: number
  /** Where the chain starts (the oldest retained row) and whether the tail was checked against the stored head. */
  anchor?: unknown
  head_checked?: boolean
  break?: {index: number; log_id: string; problem: string; detail: string}
}

interface AuditVerifyModule {
  fetchAuditChain(admin: AdminClient): Promise<{rows: unknown[]; head: unknown}>
  verifyAuditRows(rows: unknown[], options: {head?: unknown}): {ok: boolean; rows: number; anchor?: unknown; head_checked?: boolean; first_break?: AuditChainReport['break']}
}

async function loadAuditVerify(): Promise<AuditVerifyModule> {
  const specifier = './audit-verify.js'
  try {
    return (await import(specifier)) as AuditVerifyModule
  } catch {
    throw new CliError('NOT_AVAILABLE', 'verifying the audit chain through --admin-url is not in this build; verify a decision log with --log-dir DIR', {exit: EXIT.USAGE})
  }
}

export async function verifyAdminAuditChain(admin: AdminClient): Promise<AuditChainReport> {
  const audit = await loadAuditVerify()
  const {rows, head} = await audit.fetchAuditChain(admin)
  const result = audit.verifyAuditRows(rows, {head})
  return {
    intact: result.ok,
    rows: result.rows,
    ...(result.anchor === undefined ? {} : {anchor: result.anchor}),
    ...(result.head_checked === undefined ? {} : {head_checked: result.head_checked}),
    ...(result.first_break ? {break: result.first_break} : {}),
  }
}
