// Decision log writer: JSONL segments under --log-dir, rotated by hour and by size, group-committed
// (written before the responses of the batch leave) and fsynced about once a second. A log disk
// that cannot be written never stops decisions: the records are dropped and counted, and the count
// is reported (status, the daemon's log) once records are written again. Retention deletes old
// closed segments. The directory is created 0700 and the segments 0600.
//
// With `chain` (schema v2, the daemon's default) every record is sealed into the instance's hash
// chain as it is written, and signed checkpoints go to the instance's checkpoint file (see
// src/decision-log/chain.ts).
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {GroupCommitWriter, type WriteFailure} from '../io/group-commit-writer.js'
import type {SigningKey} from '../integrity/signing.js'
import {type ChainStatus, DecisionChain} from './chain.js'
import type {DecisionRecord} from './record.js'
import {type RetentionPolicy, type RetentionResult, applyRetention} from './retention.js'
import {listLogDir, segmentName} from './segments.js'

export interface DecisionSink {
  write(record: DecisionRecord): void
  flushed(): Promise<void>
  close(): void
}

export interface DecisionLogOptions {
  dir: string
  maxSegmentBytes?: number
  fsyncIntervalMs?: number
  now?: () => number
  /** Distinguishes several daemons writing into one directory. */
  instanceId?: string
  retention?: RetentionPolicy
  /** How often retention runs besides at every rotation (default 60 s; 0 = only at rotations). */
  retentionIntervalMs?: number
  /** How often writing is tried again after a failure (default 1000 ms). */
  retryIntervalMs?: number
  /** The daemon's log: failures, recoveries with the number of records dropped, retention errors. */
  log?: (line: string) => void
  /** Hash-chain the records (schema v2) and sign checkpoints with this key. */
  chain?: {key: SigningKey; checkpointIntervalMs: number}
}

export interface DecisionLogHealth {
  writable: boolean
  failure?: WriteFailure
  records_written: number
  records_dropped: number
  /** Segments deleted by retention since start. */
  files_deleted: number
}

const hourOf = (ms: number) => new Date(ms).toISOString().slice(0, 13).replace(/[-:T]/g, '')

export class DecisionLogWriter implements DecisionSink {
  private readonly writer: GroupCommitWriter
  private sequence = 0
  private readonly retentionTimer: NodeJS.Timeout | undefined
  private readonly now: () => number
  filesDeleted = 0
  readonly instanceId: string
  /** The hash chain and its checkpoints (undefined: schema v1, unchained). */
  readonly chain: DecisionChain | undefined

  constructor(private readonly options: DecisionLogOptions) {
    fs.mkdirSync(options.dir, {recursive: true, mode: 0o700})
    const maxBytes = options.maxSegmentBytes ?? 128 * 1024 * 1024
    this.now = options.now ?? Date.now
    this.instanceId = options.instanceId ?? randomBytes(3).toString('hex')
    const log = options.log ?? (() => {})
    // Segment numbers go on from this instance's last segment, so they order its files across restarts.
    this.sequence = listLogDir(options.dir).segments.get(this.instanceId)?.at(-1)?.seq ?? 0
    this.chain = options.chain
      ? new DecisionChain({dir: options.dir, instanceId: this.instanceId, key: options.chain.key, currentSegment: () => path.basename(this.writer.currentPath), now: this.now, log})
      : undefined
    this.writer = new GroupCommitWriter({
      fsyncIntervalMs: options.fsyncIntervalMs,
      now: options.now,
      whenUnwritable: 'drop',
      retryIntervalMs: options.retryIntervalMs,
      fileMode: 0o600,
      segments: {
        nextPath: (now) => {
          this.sequence++
          const name = segmentName(hourOf(now), this.instanceId, this.sequence)
          // A segment was just closed: the moment retention may have something new to delete.
          if (this.writer.currentPath !== '') this.applyRetention(now)
          return path.join(options.dir, name)
        },
        shouldRotate: (bytes, openedAt, now) => bytes > maxBytes || hourOf(openedAt) !== hourOf(now),
      },
      onFailure: (failure) => {
        log(`decision log: ${failure.message}; decisions go on, their records are dropped and counted until writing works again`)
        // Free what retention allows: the next attempt may then succeed.
        this.applyRetention(this.now())
      },
      onRecovery: ({failure, recoveredAtMs, droppedLines}) => {
        const from = new Date(failure.sinceMs).toISOString()
        log(`decision log: writing again; ${droppedLines} record(s) dropped from ${from} to ${new Date(recoveredAtMs).toISOString()} (${failure.errno})`)
      },
      sealer: this.chain,
    })
    if (this.chain && options.chain) this.chain.start(this.writer, options.chain.checkpointIntervalMs)
    const interval = options.retentionIntervalMs ?? 60_000
    if (options.retention && interval > 0) {
      this.retentionTimer = setInterval(() => this.applyRetention(this.now()), interval)
      this.retentionTimer.unref()
    }
  }

  get currentPath(): string {
    return this.writer.currentPath
  }

  get recordsWritten(): number {
    return this.writer.linesWritten
  }

  get recordsDropped(): number {
    return this.writer.linesDropped
  }

  /** The chain's head, record count and last checkpoint (undefined when unchained). */
  chainStatus(): ChainStatus | undefined {
    return this.chain?.status()
  }

  health(): DecisionLogHealth {
    const failure = this.writer.failure
    return {
      writable: failure === undefined,
      ...(failure ? {failure} : {}),
      records_written: this.writer.linesWritten,
      records_dropped: this.writer.linesDropped,
      files_deleted: this.filesDeleted,
    }
  }

  /** Delete closed segments the retention policy no longer keeps (nothing without a policy). */
  applyRetention(nowMs = this.now()): RetentionResult {
    const empty = {deleted: [], deletedBytes: 0, keptBytes: 0}
    if (!this.options.retention) return empty
    try {
      const result = applyRetention(this.options.dir, this.options.retention, {nowMs, instanceId: this.instanceId, currentPath: this.writer.currentPath})
      this.filesDeleted += result.deleted.length
      return result
    } catch (error) {
      this.options.log?.(`decision log retention failed: ${(error as Error).message}`)
      return empty
    }
  }

  /** Try writing again now (also happens by itself with the next record once the retry interval has passed). */
  retry(): boolean {
    return this.writer.retry()
  }

  write(record: DecisionRecord): void {
    this.writer.append(JSON.stringify(record))
  }

  flushed(): Promise<void> {
    return this.writer.flushed()
  }

  close(): void {
    if (this.retentionTimer) clearInterval(this.retentionTimer)
    this.writer.close()
    // After the last records are written and fsynced: the shutdown checkpoint covers all of them.
    this.chain?.close()
  }
}

/** A sink that keeps records in memory (tests, in-process simulation). */
export class MemoryDecisionSink implements DecisionSink {
  readonly records: DecisionRecord[] = []
  write(record: DecisionRecord): void {
    this.records.push(record)
  }

  flushed(): Promise<void> {
    return Promise.resolve()
  }

  close(): void {}
}
