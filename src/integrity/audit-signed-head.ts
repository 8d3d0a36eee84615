// The audit chain's head, signed. The chain (audit-chain.ts) makes an edited row visible, but the
// head it is checked against is a doc in the same store: whoever can write the store can edit a row,
// re-seal every later row and move the head, and the chain verifies. So each daemon signs the head
// with its Ed25519 log key (the decision log's checkpoint key, log-identity.ts) every checkpoint
// interval and at shutdown, into a second doc: a rewrite of any row at or before the signed head
// changes the hash at the signed seq, which the key holder alone can re-sign. The rows after it (at
// most one interval's worth) are reported as unsigned, like the decision log's tail after its last
// checkpoint. A verifier that pins the daemons' public keys also refuses a head signed by another key.
import type {KeyObject} from 'node:crypto'

import type {Store} from '../store/types.js'
import {AUDIT_CHAIN_COLLECTION, AUDIT_HEAD_ID, type AuditChainHead, headFromDoc} from './audit-chain.js'
import {type SigningKey, parsePublicKey, signText, verifyText} from './signing.js'

export const AUDIT_SIGNED_HEAD_ID = 'signed-head'

/** The fields the signature covers, in this order. */
export interface AuditHeadStatement {
  v: 1
  seq: number
  hash: string
  ts: string
  instance: string
  public_key: string
}

export interface SignedAuditHead extends AuditHeadStatement {
  signature: string
}

const statementText = (s: AuditHeadStatement): string =>
  JSON.stringify({v: s.v, seq: s.seq, hash: s.hash, ts: s.ts, instance: s.instance, public_key: s.public_key})

export function signAuditHead(head: AuditChainHead, signer: {key: SigningKey; instance: string; nowMs: number}): SignedAuditHead {
  const statement: AuditHeadStatement = {v: 1, seq: head.seq, hash: head.hash, ts: new Date(signer.nowMs).toISOString(), instance: signer.instance, public_key: signer.key.publicText}
  return {...statement, signature: signText(statementText(statement), signer.key.privateKey)}
}

/** A stored doc value as a signed head, or undefined when it is not one. */
export function signedHeadFromDoc(value: Record<string, unknown> | undefined): SignedAuditHead | undefined {
  if (!value || value.v !== 1 || !Number.isSafeInteger(value.seq)) return undefined
  for (const k of ['hash', 'ts', 'instance', 'public_key', 'signature'] as const) if (typeof value[k] !== 'string') return undefined
  return value as unknown as SignedAuditHead
}

export type SignedHeadProblem = 'signature_invalid' | 'unpinned_key' | 'head_mismatch' | 'unsigned'

export type SignedHeadCheck =
  | {ok: true; seq: number; ts: string; instance: string; public_key: string; keys_pinned: boolean; unsigned_rows: number; row_retained: boolean}
  | {ok: false; problem: SignedHeadProblem; seq?: number; message: string}

/**
 * Check the signed head against the chained rows (oldest first) and the head doc: a valid signature
 * (by a pinned key when any are given), and the row at its seq holding its hash. No signed head is
 * a problem only when keys are pinned (a daemon with `decision_log.chain: false` signs nothing).
 */
export function checkSignedHead(signed: SignedAuditHead | undefined, rows: ReadonlyArray<{chain_seq?: number; hash?: string}>, head: AuditChainHead, publicKeys: readonly KeyObject[] = []): SignedHeadCheck | undefined {
  const pinned = publicKeys.length > 0
  if (!signed) {
    if (pinned && head.seq > 0) return {ok: false, problem: 'unsigned', message: `the audit chain (head seq ${head.seq}) has no signed head, and --public-key asks for one`}
    return undefined
  }
  let key: KeyObject
  try {
    // Only the ed25519:<x> form: the doc is store data, never a file path for the verifier to open.
    if (!/^ed25519:[A-Za-z0-9_-]{43}$/.test(signed.public_key)) throw new Error('not ed25519:<x>')
    key = parsePublicKey(signed.public_key)
  } catch {
    return {ok: false, problem: 'signature_invalid', seq: signed.seq, message: `the signed head names no valid public key (${signed.public_key})`}
  }
  if (!verifyText(statementText(signed), signed.signature, key)) {
    return {ok: false, problem: 'signature_invalid', seq: signed.seq, message: `the signed head (seq ${signed.seq}) does not verify with the key it names: it was edited or forged`}
  }
  if (pinned && !publicKeys.some((k) => k.equals(key))) {
    return {ok: false, problem: 'unpinned_key', seq: signed.seq, message: `the signed head (seq ${signed.seq}) is signed by ${signed.public_key}, none of the --public-key keys`}
  }
  if (signed.seq > head.seq) {
    return {ok: false, problem: 'head_mismatch', seq: signed.seq, message: `the signed head is at seq ${signed.seq} but the chain ends at ${head.seq}: rows were removed`}
  }
  const row = rows.find((r) => r.chain_seq === signed.seq)
  if (row && row.hash !== signed.hash) {
    return {ok: false, problem: 'head_mismatch', seq: signed.seq, message: `row ${signed.seq} hashes to ${row.hash} but the head signed at ${signed.ts} says ${signed.hash}: rows up to it were rewritten and re-sealed`}
  }
  return {ok: true, seq: signed.seq, ts: signed.ts, instance: signed.instance, public_key: signed.public_key, keys_pinned: pinned, unsigned_rows: head.seq - signed.seq, row_retained: row !== undefined}
}

export interface AuditHeadSignerOptions {
  store: Store
  key: SigningKey
  instance: string
  now: () => number
  intervalMs: number
  log?: (line: string) => void
}

/** Signs the head every interval when it moved, and once more at stop. Any instance may sign; the doc's version settles races. */
export class AuditHeadSigner {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<boolean> | undefined

  constructor(private readonly options: AuditHeadSignerOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs)
    this.timer.unref()
  }

  /** Sign the head if it moved past the signed one. True when a signature was written. */
  tick(): Promise<boolean> {
    this.running ??= this.signOnce()
      .catch((error: unknown) => {
        this.options.log?.(`audit: signing the chain head failed: ${(error as Error).message}`)
        return false
      })
      .finally(() => {
        this.running = undefined
      })
    return this.running
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.running
    await this.tick()
  }

  private async signOnce(): Promise<boolean> {
    const {store, key, instance, now} = this.options
    const [headDoc, signedDoc] = await store.getDocs(AUDIT_CHAIN_COLLECTION, [AUDIT_HEAD_ID, AUDIT_SIGNED_HEAD_ID])
    const head = headFromDoc(headDoc?.value)
    const signed = signedHeadFromDoc(signedDoc?.value)
    if (head.seq === 0 || (signed && signed.seq >= head.seq)) return false
    const value = signAuditHead(head, {key, instance, nowMs: now()})
    const result = await store.apply({docs: [{collection: AUDIT_CHAIN_COLLECTION, id: AUDIT_SIGNED_HEAD_ID, set: value as unknown as Record<string, unknown>, expectVersion: signedDoc?.version ?? 0}]})
    return result.ok // not ok: another instance signed meanwhile
  }
}
