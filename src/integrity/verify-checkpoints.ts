// The checkpoint file of one instance: its own hash chain, numbering and Ed25519 signatures. The
// heads the checkpoints name are matched against the record chain by verify-log.ts.
import type {KeyObject} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {GENESIS_HASH, openRecord} from './chain.js'
import {type ParsedCheckpoint, parseCheckpointLine} from './checkpoints.js'
import {parsePublicKey, verifyText} from './signing.js'
import type {ChainBreak} from './verify-types.js'

export interface TrustedKey {
  text: string
  key: KeyObject
}

export interface CheckedCheckpoint extends ParsedCheckpoint {
  file: string
  line: number
}

export interface CheckpointFileResult {
  checkpoints: CheckedCheckpoint[]
  /** The public keys the checkpoints were signed with (as recorded in them). */
  publicKeys: string[]
  /** A torn last line (a crash while writing a checkpoint): not a checkpoint, not tampering. */
  tornBytes: number
  break?: ChainBreak
}

/**
 * Check every checkpoint of one file: its chain link, its number (1, 2, 3 …) and its signature —
 * against the trusted keys when given, else against the key recorded in the first checkpoint (a
 * later checkpoint signed by another key is then a break: pass the keys you trust).
 */
export function checkCheckpointFile(file: string, instance: string, trusted: TrustedKey[]): CheckpointFileResult {
  const text = fs.readFileSync(file, 'utf8')
  const name = path.basename(file)
  const lines = text.split('\n')
  const tornBytes = Buffer.byteLength(lines.pop() ?? '')
  const result: CheckpointFileResult = {checkpoints: [], publicKeys: [], tornBytes}
  const fail = (line: number, kind: ChainBreak['kind'], message: string): CheckpointFileResult => ({
    ...result,
    break: {kind, instance, file: name, line, message},
  })
  let prevHash = GENESIS_HASH
  const recordedKeys = new Map<string, KeyObject>()
  for (const [i, line] of lines.entries()) {
    const lineNo = i + 1
    const parsed = parseCheckpointLine(line)
    if (typeof parsed === 'string') return fail(lineNo, 'checkpoint_edited', `line ${lineNo} is not a checkpoint: ${parsed}`)
    const link = openRecord(line)!
    if (link.computed !== link.hash) return fail(lineNo, 'checkpoint_edited', `checkpoint ${parsed.n}'s bytes do not match its hash: it was edited`)
    if (link.prevHash !== prevHash) {
      return fail(lineNo, 'checkpoint_deleted', `checkpoint ${parsed.n} does not link to the line before it: a checkpoint was removed, inserted or reordered`)
    }
    const expectedN = (result.checkpoints.at(-1)?.n ?? 0) + 1
    if (parsed.n !== expectedN) return fail(lineNo, 'checkpoint_deleted', `checkpoint number ${parsed.n} where ${expectedN} was expected: checkpoints were removed and the file re-chained`)
    if (parsed.instance !== instance) return fail(lineNo, 'checkpoint_edited', `checkpoint ${parsed.n} names instance ${parsed.instance}, not ${instance}`)
    if (!result.publicKeys.includes(parsed.public_key)) result.publicKeys.push(parsed.public_key)
    const signedBy = signatureCheck(parsed, trusted, recordedKeys, result.publicKeys[0])
    if (signedBy !== 'ok') return fail(lineNo, signedBy === 'wrong_key' ? 'checkpoint_wrong_key' : 'checkpoint_forged', describeSignatureProblem(parsed, signedBy, trusted))
    prevHash = link.hash
    result.checkpoints.push({...parsed, file: name, line: lineNo})
  }
  return result
}

type SignatureOutcome = 'ok' | 'forged' | 'wrong_key'

function signatureCheck(c: ParsedCheckpoint, trusted: TrustedKey[], recorded: Map<string, KeyObject>, firstKey: string): SignatureOutcome {
  if (trusted.length > 0) {
    const key = trusted.find((t) => t.text === c.public_key)
    if (key) return verifyText(c.signedText, c.signature, key.key) ? 'ok' : 'forged'
    // The recorded key is not one we trust: does any trusted key verify it anyway (a renamed key field)?
    return trusted.some((t) => verifyText(c.signedText, c.signature, t.key)) ? 'ok' : 'wrong_key'
  }
  if (c.public_key !== firstKey) return 'wrong_key'
  let key = recorded.get(c.public_key)
  if (!key) {
    try {
      key = parsePublicKey(c.public_key)
    } catch {
      return 'forged'
    }
    recorded.set(c.public_key, key)
  }
  return verifyText(c.signedText, c.signature, key) ? 'ok' : 'forged'
}

function describeSignatureProblem(c: ParsedCheckpoint, outcome: SignatureOutcome, trusted: TrustedKey[]): string {
  if (outcome === 'forged') return `checkpoint ${c.n} (${c.ts}): the signature does not match its content: it was forged or edited`
  if (trusted.length > 0) return `checkpoint ${c.n} (${c.ts}) is signed by ${c.public_key}, not by the --public-key given: forged with another key`
  return `checkpoint ${c.n} (${c.ts}) is signed by ${c.public_key}, not by the key of the first checkpoint: forged with another key, or the key was changed (pass --public-key for each key you trust)`
}
