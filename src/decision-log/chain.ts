// The decision log's hash chain (schema v2): one chain per daemon instance. Each record is sealed
// with src/integrity/chain.ts as the group-commit writer encodes it, so the chain follows file order,
// continues across segment rotation, and a batch the disk refused (dropped) is rolled back out of it.
// At start the chain resumes from the last durable record of the instance's newest segment (a torn
// last line is not durable), with the record count carried by the last checkpoint. Checkpoints are
// written at start, every interval (when records were added) and at shutdown, after the records they
// cover are fsynced.
import path from 'node:path'
import fs from 'node:fs'
import zlib from 'node:zlib'

import {type CheckpointReason, CheckpointWriter, type ParsedCheckpoint} from '../integrity/checkpoints.js'
import {GENESIS_HASH, openRecord, sealRecord} from '../integrity/chain.js'
import {lastDurableLine} from '../integrity/log-tail.js'
import type {SigningKey} from '../integrity/signing.js'
import type {GroupCommitWriter, LineSealer} from '../io/group-commit-writer.js'
import {type SegmentFile, checkpointFileName, listLogDir} from './segments.js'

export const DECISION_LOG_CHAINED_VERSION = 2
const V1_PREFIX = '{"v":1,'
const V2_PREFIX = '{"v":2,'

export interface ChainStatus {
  instance: string
  /** Records in the chain from its first record through `head`. */
  records: number
  head: string
  public_key: string
  checkpoint_file: string
  last_checkpoint?: {n: number; ts: string; records: number; head: string}
}

export interface DecisionChainOptions {
  dir: string
  instanceId: string
  key: SigningKey
  /** File name of the segment being written. */
  currentSegment: () => string
  now: () => number
  log: (line: string) => void
}

export class DecisionChain implements LineSealer {
  head = GENESIS_HASH
  records = 0
  private readonly checkpoints: CheckpointWriter
  private readonly resumedRecords: number
  private readonly resumedSegment: string
  private writer: GroupCommitWriter | undefined
  private timer: NodeJS.Timeout | undefined
  private last: {n: number; ts: string; records: number; head: string} | undefined
  private failedOnce = false

  constructor(private readonly options: DecisionChainOptions) {
    this.checkpoints = new CheckpointWriter(path.join(options.dir, checkpointFileName(options.instanceId)), options.key, options.instanceId)
    const resumed = resumeChain(listLogDir(options.dir).segments.get(options.instanceId) ?? [], this.checkpoints.previous)
    this.head = resumed.head
    this.records = resumed.records
    this.resumedRecords = resumed.records
    this.resumedSegment = resumed.segment
    const previous = this.checkpoints.previous
    if (previous) this.last = {n: previous.n, ts: previous.ts, records: previous.records, head: previous.head}
  }

  /** A schema-v1 record's JSON text as the chained v2 line. */
  seal(json: string): string {
    const text = json.startsWith(V1_PREFIX) ? V2_PREFIX + json.slice(V1_PREFIX.length) : json
    const {line, hash} = sealRecord(text, this.head)
    this.head = hash
    this.records++
    return line
  }

  mark(): unknown {
    return {head: this.head, records: this.records}
  }

  rollback(mark: unknown): void {
    const m = mark as {head: string; records: number}
    this.head = m.head
    this.records = m.records
  }

  /** Write the start checkpoint and checkpoint every `intervalMs` (0: only at start and shutdown). */
  start(writer: GroupCommitWriter, intervalMs: number): void {
    this.writer = writer
    this.checkpoint('start')
    if (intervalMs > 0) {
      this.timer = setInterval(() => this.checkpoint('interval'), intervalMs)
      this.timer.unref()
    }
  }

  /** Write one checkpoint of what is on disk now; false when there was nothing new or it could not be written. */
  checkpoint(reason: CheckpointReason): boolean {
    if (reason !== 'shutdown') this.writer?.syncNow()
    // Never sign a head whose records may not be in the file.
    if (this.writer?.failure && reason !== 'shutdown') return false
    if (reason === 'interval' && this.last?.records === this.records && this.last.head === this.head) return false
    const segment = this.records > this.resumedRecords ? this.options.currentSegment() : this.resumedSegment
    try {
      const written = this.checkpoints.write({records: this.records, head: this.head, segment, reason, nowMs: this.options.now()})
      this.last = {n: written.n, ts: written.ts, records: written.records, head: written.head}
      this.failedOnce = false
      return true
    } catch (error) {
      if (!this.failedOnce) this.options.log(`decision log: checkpoint not written (${(error as Error).message}); retried at the next interval`)
      this.failedOnce = true
      return false
    }
  }

  status(): ChainStatus {
    return {
      instance: this.options.instanceId,
      records: this.records,
      head: this.head,
      public_key: this.options.key.publicText,
      checkpoint_file: this.checkpoints.file,
      ...(this.last ? {last_checkpoint: this.last} : {}),
    }
  }

  /** The shutdown checkpoint (call after the writer closed: its records are written and fsynced). */
  close(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.checkpoint('shutdown')
    this.checkpoints.close()
  }
}

interface Resumed {
  head: string
  records: number
  /** Segment holding the head. */
  segment: string
}

/**
 * Where the instance's chain stands on disk: the last durable chained record of its newest segment
 * that has one, and how many records the chain holds through it (the last checkpoint's count plus
 * the records written after its head; only those are read).
 */
export function resumeChain(segments: SegmentFile[], previous: ParsedCheckpoint | undefined): Resumed {
  let found: {head: string; index: number} | undefined
  for (let i = segments.length - 1; i >= 0 && !found; i--) {
    if (segments[i].gz) continue
    const tail = lastDurableLine(segments[i].path)
    if (tail.line === undefined) continue
    const link = openRecord(tail.line)
    // An unchained last line (a v1 segment of this instance): a new chain starts.
    if (!link) return {head: GENESIS_HASH, records: 0, segment: ''}
    found = {head: link.hash, index: i}
  }
  if (!found) return previous ? {head: previous.head, records: previous.records, segment: previous.segment} : {head: GENESIS_HASH, records: 0, segment: ''}
  const segment = segments[found.index].name
  if (previous?.head === found.head) return {head: found.head, records: previous.records, segment}
  const from = previous ? Math.max(0, segments.findIndex((s) => s.name === previous.segment)) : 0
  let records = previous?.records ?? 0
  let seeking = previous && previous.head !== GENESIS_HASH ? Buffer.from(`"hash":"${previous.head}"}\n`) : undefined
  for (let i = from; i <= found.index; i++) {
    const bytes = readSegment(segments[i])
    let at = 0
    if (seeking) {
      const hit = bytes.indexOf(seeking)
      if (hit < 0) continue
      at = hit + seeking.length
      seeking = undefined
    }
    records += completeLines(bytes, at)
  }
  return {head: found.head, records, segment}
}

function readSegment(segment: SegmentFile): Buffer {
  const bytes = fs.readFileSync(segment.path)
  return segment.gz ? zlib.gunzipSync(bytes) : bytes
}

function completeLines(bytes: Buffer, from: number): number {
  let n = 0
  for (let at = bytes.indexOf(0x0a, from); at >= 0; at = bytes.indexOf(0x0a, at + 1)) n++
  return n
}
