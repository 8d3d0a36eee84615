// Verify the audit chain: every row's hash recomputed from its fields, every row linked to the one
// before it, the positions consecutive, and (when the chain head is known) nothing missing after
// the last row. Retention drops the oldest rows, so the chain may start anywhere: the oldest
// retained row's prev_hash is taken as the anchor, and the report says which it was.
import {CliError, EXIT} from '../cli/errors.js'
import type {AdminClient, AuditEntryWire} from '../client/admin-client.js'
import type {AuditEntry} from '../store/types.js'
import {type AuditChainHead, auditChainLine} from './audit-chain.js'
import {type SignedAuditHead, signedHeadFromDoc} from './audit-signed-head.js'
import {GENESIS_HASH, type LinkProblem, linkProblem} from './chain.js'

export type AuditBreakProblem = LinkProblem | 'seq_gap' | 'truncated_tail'

export interface AuditBreak {
  /** Index into the rows given (oldest first); rows.length for a truncated tail. */
  index: number
  log_id: string
  problem: AuditBreakProblem
  detail: string
}

/** Where the verified chain starts. */
export interface AuditAnchor {
  /** The oldest retained chained row's prev_hash, taken on trust. */
  prev_hash: string
  /** True when that is the genesis hash: nothing was ever dropped before it. */
  genesis: boolean
  first_log_id?: string
  first_seq?: number
  /** Rows before the first chained one that carry no chain fields (written before chaining existed). */
  unchained_before: number
}

export type AuditVerifyResult =
  | {ok: true; rows: number; anchor: AuditAnchor; head_checked: boolean}
  | {ok: false; rows: number; first_break: AuditBreak; anchor: AuditAnchor}

/**
 * Verify rows of the audit chain, oldest first, as the store or the admin API returned them. With
 * `head` (the chain head the store holds), a tail cut off after the last row is reported too; rows
 * sealed after that head was read are ignored.
 */
export function verifyAuditRows(rows: AuditEntry[], options: {head?: AuditChainHead} = {}): AuditVerifyResult {
  const {head} = options
  let start = 0
  while (start < rows.length && auditChainLine(rows[start]) === undefined) start++
  const first = rows[start]
  const anchor: AuditAnchor = {
    prev_hash: first?.prev_hash ?? GENESIS_HASH,
    genesis: (first?.prev_hash ?? GENESIS_HASH) === GENESIS_HASH,
    ...(first ? {first_log_id: first.log_id, first_seq: first.chain_seq} : {}),
    unchained_before: start,
  }
  const fail = (index: number, problem: AuditBreakProblem, detail: string): AuditVerifyResult => ({
    ok: false,
    rows: rows.length,
    first_break: {index, log_id: rows[index]?.log_id ?? '', problem, detail},
    anchor,
  })
  let expectedPrev = anchor.prev_hash
  let lastSeq: number | undefined
  let checked = start
  for (let i = start; i < rows.length; i++) {
    const row = rows[i]
    if (head && typeof row.chain_seq === 'number' && row.chain_seq > head.seq) break // sealed after the head was read
    const line = auditChainLine(row)
    const problem = line === undefined ? 'unchained' : linkProblem(line, expectedPrev)
    if (problem === 'unchained') return fail(i, problem, 'the row carries no prev_hash/hash although rows before it do: it was inserted or stripped of its chain fields')
    if (problem === 'hash_mismatch') return fail(i, problem, 'the row\'s fields do not hash to its stored hash: a field was edited after it was written')
    const seq = row.chain_seq
    if (problem === 'prev_mismatch') {
      const gap = lastSeq !== undefined && typeof seq === 'number' && seq > lastSeq + 1 ? ` (chain_seq jumps from ${lastSeq} to ${seq}: ${seq - lastSeq - 1} row(s) missing before it)` : ''
      return fail(i, problem, `prev_hash ${row.prev_hash!.slice(0, 12)}… does not link to the previous row's hash ${expectedPrev.slice(0, 12)}…: a row was deleted, inserted or moved${gap}`)
    }
    if (lastSeq !== undefined && seq !== lastSeq + 1) return fail(i, 'seq_gap', `chain_seq ${String(seq)} after ${lastSeq}`)
    expectedPrev = row.hash!
    lastSeq = typeof seq === 'number' ? seq : undefined
    checked = i + 1
  }
  if (head && head.seq > 0) {
    const tailOk = lastSeq === head.seq && expectedPrev === head.hash
    if (!tailOk) {
      const have = lastSeq === undefined ? 'no chained row' : `the last row is chain_seq ${lastSeq}`
      return fail(checked, 'truncated_tail', `the chain head is chain_seq ${head.seq} (hash ${head.hash.slice(0, 12)}…) but ${have}: rows after it were removed`)
    }
  }
  return {ok: true, rows: rows.length, anchor, head_checked: head !== undefined}
}

/** An audit row in the admin API's wire form → the stored row (the inverse of admin/wire.ts auditWire for chain purposes). */
export function auditEntryFromWire(w: AuditEntryWire): AuditEntry {
  const {timestamp, ...rest} = w as AuditEntryWire & Record<string, unknown>
  return {...(rest as Omit<AuditEntry, 'timestamp_ms'>), timestamp_ms: Date.parse(timestamp)}
}

/** Rows per request of the chain listing (the daemon's audit endpoint with order=chain). */
const CHAIN_PAGE = 10_000

/**
 * Every chained audit row the admin API holds, oldest first, and the chain head it reported before
 * listing them (our daemon's `GET /v1/admin/audit/logs?order=chain`).
 */
export async function fetchAuditChain(admin: AdminClient, pageSize = CHAIN_PAGE): Promise<{rows: AuditEntry[]; head: AuditChainHead; signed?: SignedAuditHead}> {
  const rows: AuditEntry[] = []
  let head: AuditChainHead | undefined
  let signed: SignedAuditHead | undefined
  let after = 0
  for (;;) {
    const page = await admin.listAuditChain(after, pageSize)
    if (!page.chain_head) {
      // A reference admin server ignores order=chain and answers a plain listing.
      throw new CliError('AUDIT_CHAIN_UNSUPPORTED', `the admin API at ${admin.http.baseUrl} does not serve the audit chain (GET /v1/admin/audit/logs?order=chain): it is not a cycles daemon that chains its audit rows`, {exit: EXIT.ERROR})
    }
    if (head === undefined) {
      head = page.chain_head
      signed = signedHeadFromDoc(page.chain_head_signed as unknown as Record<string, unknown> | undefined)
    }
    for (const w of page.logs) rows.push(auditEntryFromWire(w))
    const last = page.logs.at(-1)?.chain_seq
    if (!page.has_more || typeof last !== 'number' || last >= head.seq) break
    after = last
  }
  return {rows, head, ...(signed ? {signed} : {})}
}
