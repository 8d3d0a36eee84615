// Names of the decision log's files: segments `decisions-<UTC hour>-<instance>-<seq>.jsonl` (seq
// increases across restarts of one instance, so it alone orders an instance's segments) and each
// instance's checkpoint file `checkpoints-<instance>.ckpt` (JSON lines; not `.jsonl`, so ingest and
// tools reading the segments leave it alone).
import fs from 'node:fs'
import path from 'node:path'

const SEGMENT_NAME = /^decisions-(\d{10})-([^-]+)-(\d+)\.jsonl(\.gz)?$/
const CHECKPOINT_NAME = /^checkpoints-([^-.]+)\.ckpt$/

export interface SegmentFile {
  path: string
  name: string
  hour: string
  instance: string
  seq: number
  gz: boolean
}

export function parseSegmentName(name: string): Omit<SegmentFile, 'path'> | undefined {
  const m = SEGMENT_NAME.exec(name)
  if (!m) return undefined
  return {name, hour: m[1], instance: m[2], seq: Number(m[3]), gz: m[4] !== undefined}
}

export function segmentName(hour: string, instance: string, seq: number): string {
  return `decisions-${hour}-${instance}-${String(seq).padStart(4, '0')}.jsonl`
}

export function checkpointFileName(instance: string): string {
  return `checkpoints-${instance}.ckpt`
}

export interface LogDirListing {
  /** Segments per instance, in write order. */
  segments: Map<string, SegmentFile[]>
  /** Checkpoint file per instance. */
  checkpoints: Map<string, string>
}

export function listLogDir(dir: string): LogDirListing {
  const segments = new Map<string, SegmentFile[]>()
  const checkpoints = new Map<string, string>()
  for (const name of fs.readdirSync(dir)) {
    const segment = parseSegmentName(name)
    if (segment) {
      const list = segments.get(segment.instance) ?? []
      list.push({...segment, path: path.join(dir, name)})
      segments.set(segment.instance, list)
      continue
    }
    const checkpoint = CHECKPOINT_NAME.exec(name)
    if (checkpoint) checkpoints.set(checkpoint[1], path.join(dir, name))
  }
  for (const list of segments.values()) list.sort((a, b) => a.seq - b.seq || (a.hour < b.hour ? -1 : a.hour > b.hour ? 1 : 0))
  return {segments, checkpoints}
}
