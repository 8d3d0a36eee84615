// Decision log writer: JSONL segments under --log-dir, rotated by hour and by size, group-committed
// (written before the responses of the batch leave) and fsynced about once a second.
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {GroupCommitWriter} from '../io/group-commit-writer.js'
import type {DecisionRecord} from './record.js'

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
}

const hourOf = (ms: number) => new Date(ms).toISOString().slice(0, 13).replace(/[-:T]/g, '')

export class DecisionLogWriter implements DecisionSink {
  private readonly writer: GroupCommitWriter
  private sequence = 0
  readonly instanceId: string

  constructor(options: DecisionLogOptions) {
    fs.mkdirSync(options.dir, {recursive: true})
    const maxBytes = options.maxSegmentBytes ?? 128 * 1024 * 1024
    this.instanceId = options.instanceId ?? randomBytes(3).toString('hex')
    this.writer = new GroupCommitWriter({
      fsyncIntervalMs: options.fsyncIntervalMs,
      now: options.now,
      segments: {
        nextPath: (now) => {
          this.sequence++
          const name = `decisions-${hourOf(now)}-${this.instanceId}-${String(this.sequence).padStart(4, '0')}.jsonl`
          return path.join(options.dir, name)
        },
        shouldRotate: (bytes, openedAt, now) => bytes > maxBytes || hourOf(openedAt) !== hourOf(now),
      },
    })
  }

  get currentPath(): string {
    return this.writer.currentPath
  }

  get recordsWritten(): number {
    return this.writer.linesWritten
  }

  write(record: DecisionRecord): void {
    this.writer.append(JSON.stringify(record))
  }

  flushed(): Promise<void> {
    return this.writer.flushed()
  }

  close(): void {
    this.writer.close()
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
