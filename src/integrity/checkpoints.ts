// Signed checkpoints of a decision-log chain: one JSON line per checkpoint in the instance's
// `checkpoints-<instance>.ckpt` next to its segments, itself a hash chain (src/integrity/chain.ts).
//
// Line: {"v":1,"type":"checkpoint","instance","n","ts","records","head","segment","reason",
//        "public_key","signature","prev_hash","hash"}
// `records` is the number of records in the instance's chain from its first record through `head`
// (the hash of the last record written when the checkpoint was taken). `signature` is Ed25519 over
// the line's text up to `,"signature"` closed with `}` — the bytes, not a re-serialisation. A
// checkpoint is what makes a truncated tail visible: a chain alone cannot tell a removed tail from
// one never written.
import fs from 'node:fs'
import type {KeyObject} from 'node:crypto'

import {GENESIS_HASH, openRecord, sealRecord} from './chain.js'
import {lastDurableLine} from './log-tail.js'
import {type SigningKey, signText} from './signing.js'

export type CheckpointReason = 'start' | 'interval' | 'shutdown'

export interface Checkpoint {
  v: 1
  type: 'checkpoint'
  instance: string
  /** 1, 2, 3 … within the instance's checkpoint file. */
  n: number
  ts: string
  records: number
  head: string
  /** File name of the segment holding `head` (empty before the first record). */
  segment: string
  reason: CheckpointReason
  public_key: string
}

export interface ParsedCheckpoint extends Checkpoint {
  signature: string
  /** The exact text the signature covers. */
  signedText: string
  prev_hash: string
  hash: string
}

const SIGNATURE_MEMBER = ',"signature":"'

/** The checkpoint's line (without newline) and its hash. */
export function checkpointLine(checkpoint: Checkpoint, key: KeyObject, prevHash: string): {line: string; hash: string} {
  const signed = JSON.stringify(checkpoint)
  const signature = signText(signed, key)
  return sealRecord(`${signed.slice(0, -1)}${SIGNATURE_MEMBER}${signature}"}`, prevHash)
}

/** A checkpoint line's fields and signed text; a string saying what is wrong when it is not one. */
export function parseCheckpointLine(line: string): ParsedCheckpoint | string {
  const link = openRecord(line)
  if (!link) return 'no chain fields (prev_hash, hash)'
  let value: Record<string, unknown>
  try {
    value = JSON.parse(line) as Record<string, unknown>
  } catch {
    return 'not valid JSON'
  }
  const at = line.lastIndexOf(SIGNATURE_MEMBER)
  if (value.type !== 'checkpoint' || at < 0 || typeof value.signature !== 'string') return 'not a checkpoint (no type "checkpoint" or no signature)'
  for (const key of ['instance', 'ts', 'head', 'segment', 'public_key'] as const) if (typeof value[key] !== 'string') return `missing ${key}`
  for (const key of ['n', 'records'] as const) if (!Number.isSafeInteger(value[key])) return `missing ${key}`
  return {...(value as unknown as ParsedCheckpoint), signedText: `${line.slice(0, at)}}`}
}

/** Appends signed checkpoints to one instance's checkpoint file, continuing its chain across restarts. */
export class CheckpointWriter {
  private fd: number
  private prevHash = GENESIS_HASH
  private n = 0
  /** The last checkpoint in the file when it was opened (to resume the record count). */
  readonly previous: ParsedCheckpoint | undefined

  constructor(
    readonly file: string,
    private readonly key: SigningKey,
    private readonly instance: string,
  ) {
    const tail = lastDurableLine(file)
    this.fd = fs.openSync(file, 'a', 0o600)
    // A checkpoint torn by a crash was never complete: cut it so the next one starts on its own line.
    if (tail.tornBytes > 0) fs.ftruncateSync(this.fd, fs.fstatSync(this.fd).size - tail.tornBytes)
    if (tail.line !== undefined) {
      const parsed = parseCheckpointLine(tail.line)
      if (typeof parsed === 'string') throw new Error(`${file}: its last line is not a checkpoint (${parsed}); move the file aside to start a new checkpoint chain`)
      this.previous = parsed
      this.prevHash = parsed.hash
      this.n = parsed.n
    }
  }

  /** Write and fsync one checkpoint; returns it. */
  write(state: {records: number; head: string; segment: string; reason: CheckpointReason; nowMs: number}): Checkpoint {
    const checkpoint: Checkpoint = {
      v: 1,
      type: 'checkpoint',
      instance: this.instance,
      n: this.n + 1,
      ts: new Date(state.nowMs).toISOString(),
      records: state.records,
      head: state.head,
      segment: state.segment,
      reason: state.reason,
      public_key: this.key.publicText,
    }
    const {line, hash} = checkpointLine(checkpoint, this.key.privateKey, this.prevHash)
    const bytes = Buffer.from(`${line}\n`)
    let rest = bytes
    while (rest.length > 0) rest = rest.subarray(fs.writeSync(this.fd, rest))
    fs.fdatasyncSync(this.fd)
    this.prevHash = hash
    this.n++
    return checkpoint
  }

  close(): void {
    fs.closeSync(this.fd)
  }
}
