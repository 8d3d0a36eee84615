// The one hash-chain primitive, for decision-log records and audit rows alike.
//
// The canonical encoding of a record is the exact JSON text that is written, with `prev_hash` as its
// last member but one and `hash` as its last: hash = SHA-256(the text up to and without `,"hash":…`,
// closed with `}`). No re-serialisation with sorted keys, so sealing costs one SHA-256 over the line
// (about a microsecond for a decision record) and a verifier checks the bytes on disk, not a parse
// of them.
import crypto from 'node:crypto'

/** The prev_hash of the first record of a chain. */
export const GENESIS_HASH = '0'.repeat(64)

const TAIL = /([,{])"prev_hash":"([0-9a-f]{64})","hash":"([0-9a-f]{64})"\}$/

// crypto.hash (Node ≥ 20.12) is the one-shot digest: half the cost of createHash().update().digest()
// for a record-sized input.
const oneShot = typeof crypto.hash === 'function' ? crypto.hash : undefined

export function sha256Hex(text: string): string {
  return oneShot ? oneShot('sha256', text, 'hex') : crypto.createHash('sha256').update(text).digest('hex')
}

/**
 * Seal one record: `json` is the record's JSON object text without prev_hash and hash (as
 * JSON.stringify writes it). Returns the line to write (no newline) and its hash, the next record's
 * prev_hash.
 */
export function sealRecord(json: string, prevHash: string): {line: string; hash: string} {
  if (!json.endsWith('}')) throw new Error('sealRecord: not a JSON object text')
  const open = json.length > 2 ? `${json.slice(0, -1)},` : '{'
  const body = `${open}"prev_hash":"${prevHash}"}`
  const hash = sha256Hex(body)
  return {line: `${body.slice(0, -1)},"hash":"${hash}"}`, hash}
}

export type LinkProblem = 'unchained' | 'hash_mismatch' | 'prev_mismatch'

export interface OpenedLink {
  prevHash: string
  hash: string
  /** The hash recomputed from the line's bytes. */
  computed: string
}

/** The chain fields of a sealed line and its recomputed hash; undefined when the line carries none. */
export function openRecord(line: string): OpenedLink | undefined {
  const m = TAIL.exec(line)
  if (!m) return undefined
  const body = `${line.slice(0, m.index)}${m[1]}"prev_hash":"${m[2]}"}`
  return {prevHash: m[2], hash: m[3], computed: sha256Hex(body)}
}

/** What is wrong with a line as the successor of `expectedPrev` (undefined: it links). */
export function linkProblem(line: string, expectedPrev: string): LinkProblem | undefined {
  const link = openRecord(line)
  if (!link) return 'unchained'
  if (link.computed !== link.hash) return 'hash_mismatch'
  if (link.prevHash !== expectedPrev) return 'prev_mismatch'
  return undefined
}
