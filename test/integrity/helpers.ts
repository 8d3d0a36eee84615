// Chained decision logs written by the real writer, and the tampering an attacker with disk access could do.
import fs from 'node:fs'
import path from 'node:path'

import type {DecisionRecord} from '../../src/decision-log/record.js'
import {DecisionLogWriter} from '../../src/decision-log/writer.js'
import {type SigningKey, generateSigningKey} from '../../src/integrity/signing.js'

export const INSTANCE = 'cafe0001'

export function record(i: number): DecisionRecord {
  return {
    v: 1, id: `id-${i}`, ts: new Date(1_700_000_000_000 + i).toISOString(), endpoint: 'reserve', request_id: `r${i}`, trace_id: 't'.repeat(32),
    tenant: 'acme', dry_run: true, mode: 'shadow', tier: 'low', unit: 'TOKENS', estimate: 100 + i, decision: 'ALLOW', would_decision: 'ALLOW', http_status: 200, latency_us: 42,
  }
}

export interface LogOptions {
  key?: SigningKey
  instanceId?: string
  maxSegmentBytes?: number
  checkpointIntervalMs?: number
  now?: () => number
  /** Records per group commit (a segment rotates between commits). */
  batch?: number
}

/** A chained writer as the daemon makes it (checkpoints only at start and close unless an interval is given). */
export function chainedWriter(dir: string, options: LogOptions = {}): DecisionLogWriter {
  return new DecisionLogWriter({
    dir,
    fsyncIntervalMs: 0,
    instanceId: options.instanceId ?? INSTANCE,
    maxSegmentBytes: options.maxSegmentBytes,
    now: options.now,
    chain: {key: options.key ?? generateSigningKey(), checkpointIntervalMs: options.checkpointIntervalMs ?? 0},
  })
}

/** Write records `from`..`to`-1, `batch` per group commit, and wait until they are in the file. */
export async function writeRecords(writer: DecisionLogWriter, from: number, to: number, batch = 1000): Promise<void> {
  for (let i = from; i < to; i++) {
    writer.write(record(i))
    if ((i - from + 1) % batch === 0) await writer.flushed()
  }
  await writer.flushed()
}

/** A closed log of `n` records (start and shutdown checkpoints). */
export async function closedLog(dir: string, n: number, options: LogOptions = {}): Promise<SigningKey> {
  const key = options.key ?? generateSigningKey()
  const writer = chainedWriter(dir, {...options, key})
  await writeRecords(writer, 0, n, options.batch)
  writer.close()
  return key
}

export function segments(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith('decisions-')).sort((a, b) => Number(a.split('-').at(-1)!.slice(0, -6)) - Number(b.split('-').at(-1)!.slice(0, -6)))
}

export function checkpointFile(dir: string, instance = INSTANCE): string {
  return path.join(dir, `checkpoints-${instance}.ckpt`)
}

/** The lines of a file (without the final newline's empty tail) and a writer back. */
export function lines(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8')
  return text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
}

export function writeLines(file: string, content: string[]): void {
  fs.writeFileSync(file, content.map((l) => `${l}\n`).join(''))
}

/** Edit the lines of a file in place. */
export function edit(file: string, change: (lines: string[]) => string[]): void {
  writeLines(file, change(lines(file)))
}
