// Audit rows on the one hash chain (chain.ts): how a row is encoded for hashing, how it is sealed
// against the chain head, and where the head lives. Both stores seal with this module, and the
// verifier (audit-verify.ts) recomputes with it.
//
// The canonical text of a row is built from its fields in a fixed order, never from however a
// store happened to serialise it, so a row read back from the embedded journal, from Redis or from
// the admin API (whose wire form folds actor_type into metadata and fills the admin tenant, see
// admin/wire.ts auditWire) hashes the same. Only rows of successful writes are chained (README
// "Audit"): failed-request rows are a separate class with its own retention and are not.
import {ADMIN_TENANT} from '../admin/wire.js'
import {isFailureRow} from '../store/filters.js'
import type {AuditEntry, DocWrite, StoredDoc, Tx, TxResult} from '../store/types.js'
import {GENESIS_HASH, sealRecord} from './chain.js'

/** The doc collection and id of the audit chain's head (both stores; Redis compares-and-sets it). */
export const AUDIT_CHAIN_COLLECTION = 'audit-chain'
export const AUDIT_HEAD_ID = 'head'

/** The last sealed row: its hash (the next row's prev_hash) and its chain_seq. */
export interface AuditChainHead {
  hash: string
  seq: number
}

export const AUDIT_GENESIS: AuditChainHead = Object.freeze({hash: GENESIS_HASH, seq: 0})

/** Whether a row belongs on the chain: every successful write's row, no failed request's. */
export const isChainedAuditRow = (e: AuditEntry): boolean => !isFailureRow(e)

/** The head as a doc value says it (a missing or malformed doc is the genesis). */
export function headFromDoc(value: Record<string, unknown> | undefined): AuditChainHead {
  const hash = value?.hash
  const seq = value?.seq
  return typeof hash === 'string' && typeof seq === 'number' ? {hash, seq} : AUDIT_GENESIS
}

/** The fields a row's hash covers, in the order they are encoded. */
const ORDER = ['log_id', 'chain_seq', 'timestamp_ms', 'tenant_id', 'key_id', 'operation', 'resource_type', 'resource_id', 'status', 'error_code', 'request_id', 'trace_id', 'source_ip', 'user_agent'] as const

/** The row's canonical JSON object text, without prev_hash and hash (what sealRecord takes). */
export function auditChainText(e: AuditEntry): string {
  const out: Record<string, unknown> = {}
  for (const k of ORDER) {
    const v = k === 'tenant_id' ? (e.tenant_id ?? ADMIN_TENANT) : e[k]
    if (v !== undefined) out[k] = v
  }
  // As the wire form writes it: actor_type is a member of metadata there.
  const meta: Record<string, unknown> = {...(e.metadata ?? {})}
  if (e.actor_type) meta.actor_type = e.actor_type
  if (Object.keys(meta).length > 0) out.metadata = meta
  return JSON.stringify(out)
}

/** The row sealed as the successor of `head`, and the new head. */
export function sealAuditRow(row: AuditEntry, head: AuditChainHead): {row: AuditEntry; head: AuditChainHead} {
  const {prev_hash: _p, hash: _h, ...fields} = row
  const numbered: AuditEntry = {...fields, chain_seq: head.seq + 1}
  const {hash} = sealRecord(auditChainText(numbered), head.hash)
  return {row: {...numbered, prev_hash: head.hash, hash}, head: {hash, seq: head.seq + 1}}
}

/** Seal every chained row of `rows` in order (failed-request rows pass through); returns the new head. */
export function sealAuditRows(rows: AuditEntry[], head: AuditChainHead): {rows: AuditEntry[]; head: AuditChainHead} {
  let at = head
  const out = rows.map((r) => {
    if (!isChainedAuditRow(r)) return r
    const sealed = sealAuditRow(r, at)
    at = sealed.head
    return sealed.row
  })
  return {rows: out, head: at}
}

/**
 * The row as one sealed line of the chain primitive (canonical text, then prev_hash and hash as
 * stored), for linkProblem; undefined when the row carries no chain fields.
 */
export function auditChainLine(e: AuditEntry): string | undefined {
  if (typeof e.prev_hash !== 'string' || typeof e.hash !== 'string') return undefined
  const text = auditChainText(e)
  return `${text.slice(0, -1)},"prev_hash":${JSON.stringify(e.prev_hash)},"hash":${JSON.stringify(e.hash)}}`
}

/** A store whose audit rows are sealed outside its atomic step (Redis: the apply script has no SHA-256). */
export interface ChainHeadCas {
  /** Apply a transaction (its own conditions all-or-nothing, doc versions included). */
  apply(tx: Tx): Promise<TxResult>
  /** The head doc as it is now (undefined: no row sealed yet). */
  readHead(): Promise<StoredDoc | undefined>
}

/** Retries of one audited transaction against other instances' concurrent seals before giving up. */
const MAX_SEAL_ATTEMPTS = 100

/**
 * Seal the transaction's audit rows against the head read just before, and apply them with the
 * head's new value guarded by its version (compare-and-set): when another writer moved the head in
 * between, the transaction fails as a whole with 'doc' on the head and is sealed and tried again, so
 * rows go on the chain in the order they were written, none twice and none lost. Callers keep one
 * such transaction in flight per store instance (two in one batch would both read the same head).
 */
export async function applySealedAudit(tx: Tx, store: ChainHeadCas): Promise<TxResult> {
  const headRef = `${AUDIT_CHAIN_COLLECTION}/${AUDIT_HEAD_ID}`
  for (let attempt = 0; attempt < MAX_SEAL_ATTEMPTS; attempt++) {
    const doc = await store.readHead()
    const sealed = sealAuditRows(tx.audit ?? [], headFromDoc(doc?.value))
    const headWrite: DocWrite = {collection: AUDIT_CHAIN_COLLECTION, id: AUDIT_HEAD_ID, set: {hash: sealed.head.hash, seq: sealed.head.seq}, expectVersion: doc?.version ?? 0}
    const result = await store.apply({...tx, audit: sealed.rows, docs: [...(tx.docs ?? []), headWrite]})
    if (result.ok || result.failed !== 'doc' || result.detail !== headRef) return result
  }
  return {ok: false, failed: 'doc', detail: headRef}
}
