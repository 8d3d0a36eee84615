// The audit chain's head, signed. The chain (audit-chain.ts) makes an edited row visible, but the
// head it is checked against is a doc in the same store: whoever can write the store can edit a row,
// re-seal every later row and move the head, and the chain verifies. So each daemon signs the head
// with its Ed25519 log key (the decision log's checkpoint key, log-identity.ts) — within a second of
// the first row, then at most once per checkpoint interval, and at shutdown — into a second doc: a rewrite of any row at or before the signed head
// changes the hash at the signed seq, which the key holder alone can re-sign. The rows after it (at
// most one interval's worth) are reported as unsigned, like the decision log's tail after its last
// checkpoint. A verifier that pins the daemons' public keys also refuses a head signed by another key.
import type {KeyObject} from 'node:crypto'

import type {AuditEntry, Store} from '../store/types.js'
import {AUDIT_CHAIN_COLLECTION, AUDIT_HEAD_ID, type AuditChainHead, headFromDoc} from './audit-chain.js'
import {verifyAuditRows} from './audit-verify.js'
import {GENESIS_HASH} from './chain.js'
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
  if (signed.seq === 0 && signed.hash !== GENESIS_HASH) {
    return {ok: false, problem: 'head_mismatch', seq: 0, message: `the signed head is the empty chain's but names hash ${signed.hash}`}
  }
  const row = rows.find((r) => r.chain_seq === signed.seq)
  if (row && row.hash !== signed.hash) {
    return {ok: false, problem: 'head_mismatch', seq: signed.seq, message: `row ${signed.seq} hashes to ${row.hash} but the head signed at ${signed.ts} says ${signed.hash}: rows up to it were rewritten and re-sealed`}
  }
  return {ok: true, seq: signed.seq, ts: signed.ts, instance: signed.instance, public_key: signed.public_key, keys_pinned: pinned, unsigned_rows: head.seq - signed.seq, row_retained: signed.seq === 0 || row !== undefined}
}

export interface AuditHeadSignerOptions {
  store: Store
  key: SigningKey
  instance: string
  now: () => number
  /** At most one signature per this long (the decision log's checkpoint interval). */
  intervalMs: number
  /** How often the head is looked at (default 1 s): a chain with no signed head yet is signed within this. */
  pollMs?: number
  log?: (line: string) => void
}

/** Rows listed per page, and at most, when the signer looks back for the head it signed last. */
const LOOK_BACK_PAGE = 1000
const LOOK_BACK_MAX = 200_000

/**
 * Signs the head when it moved: at start (the empty chain too, so a signed head exists from the
 * first row on), then at most once per interval, and at stop. It signs only a chain that extends
 * the head it signed last (kept in memory, or its own signature found at start): rows rewritten and
 * re-sealed behind its back, or its signed head deleted to get a forged head signed, make it refuse
 * and say so, so the verifier finds the mismatch. Any instance may sign; the doc's version settles races.
 */
export class AuditHeadSigner {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<boolean> | undefined
  /** The head this instance signed last (what the next signature must extend). */
  private anchor: AuditChainHead | undefined
  /** Set while the chain does not extend the anchor (logged once). */
  refusal: string | undefined

  constructor(private readonly options: AuditHeadSignerOptions) {}

  /** Sign what is there now (awaited by the daemon's start), then look every pollMs. */
  async start(): Promise<void> {
    await this.tick()
    this.timer = setInterval(() => void this.tick(), this.options.pollMs ?? 1000)
    this.timer.unref()
  }

  /** Sign if the head moved past the signed one and the last signature is an interval old (or there is none). True when one was written. */
  tick(): Promise<boolean> {
    return this.once(false)
  }

  /** Sign if the head moved, whatever the interval (shutdown; tests). */
  signNow(): Promise<boolean> {
    return this.once(true)
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.signNow()
  }

  /** One look at a time: a call waits for the one in progress, then makes its own. */
  private async once(force: boolean): Promise<boolean> {
    while (this.running) await this.running
    this.running = this.signOnce(force)
      .catch((error: unknown) => {
        this.options.log?.(`audit: signing the chain head failed: ${(error as Error).message}`)
        return false
      })
      .finally(() => {
        this.running = undefined
      })
    return this.running
  }

  private async signOnce(force: boolean): Promise<boolean> {
    const {store, key, instance, now, intervalMs} = this.options
    const [headDoc, signedDoc] = await store.getDocs(AUDIT_CHAIN_COLLECTION, [AUDIT_HEAD_ID, AUDIT_SIGNED_HEAD_ID])
    const head = headFromDoc(headDoc?.value)
    const signed = signedHeadFromDoc(signedDoc?.value)
    // After a restart: our own signature in the store is the anchor (trust on first use otherwise).
    if (!this.anchor && signed && signed.public_key === key.publicText && verifyText(statementText(signed), signed.signature, key.publicKey)) this.anchor = {seq: signed.seq, hash: signed.hash}
    if (signed && signed.seq >= head.seq) return false
    if (signed && !force && now() - Date.parse(signed.ts) < intervalMs) return false
    const broken = this.anchor ? await this.breakSince(this.anchor, head) : undefined
    if (broken) {
      if (this.refusal !== broken) this.options.log?.(`audit: NOT signing the chain head (seq ${head.seq}): ${broken}; run cycles audit verify --admin-url … --public-key ${key.publicText}`)
      this.refusal = broken
      return false
    }
    this.refusal = undefined
    const value = signAuditHead(head, {key, instance, nowMs: now()})
    const result = await store.apply({docs: [{collection: AUDIT_CHAIN_COLLECTION, id: AUDIT_SIGNED_HEAD_ID, set: value as unknown as Record<string, unknown>, expectVersion: signedDoc?.version ?? 0}]})
    if (result.ok) this.anchor = head
    return result.ok // not ok: another instance signed meanwhile
  }

  /**
   * Why the chain up to `head` does not extend `anchor` (undefined: it does, or the anchor's row is
   * past retention and cannot be checked). Reads the rows written since the anchor, newest first.
   */
  private async breakSince(anchor: AuditChainHead, head: AuditChainHead): Promise<string | undefined> {
    if (head.seq < anchor.seq) return `the chain ends at seq ${head.seq}, before the head signed at seq ${anchor.seq}`
    if (anchor.seq === 0) return undefined
    const since: AuditEntry[] = []
    let cursor: string | undefined
    let scanned = 0
    let found: AuditEntry | undefined
    do {
      const page = await this.options.store.listAudit({limit: LOOK_BACK_PAGE, ...(cursor ? {cursor} : {})})
      scanned += page.entries.length
      for (const e of page.entries) {
        if (e.hash === undefined || e.chain_seq === undefined) continue
        if (e.chain_seq === anchor.seq) found = e
        if (e.chain_seq >= anchor.seq && e.chain_seq <= head.seq) since.push(e)
      }
      cursor = page.next_cursor
    } while (cursor && !found && scanned < LOOK_BACK_MAX)
    if (!found) return undefined // past retention (or beyond the look-back): nothing to compare
    if (found.hash !== anchor.hash) return `row ${anchor.seq} no longer has the hash this daemon signed (rows were rewritten)`
    since.sort((a, b) => a.chain_seq! - b.chain_seq!)
    const result = verifyAuditRows(since, {head})
    return result.ok ? undefined : `the rows after seq ${anchor.seq} do not chain to the head (${result.first_break.problem} at log_id ${result.first_break.log_id})`
  }
}
