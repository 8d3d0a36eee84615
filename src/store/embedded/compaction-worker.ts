// Runs in a worker thread: folds the sealed journal segments into a new snapshot, from the files
// alone, so the daemon's event loop never stops to serialize its state while it serves traffic.
import {parentPort, workerData} from 'node:worker_threads'

import {type MemoryLimits, MemoryState} from '../memory-state.js'
import {listSegments, readSnapshot, removeSegmentsThrough, replaySegment, writeSnapshot} from './state-files.js'

export interface CompactionJob {
  dir: string
  /** Last sealed segment: everything up to it goes into the snapshot. */
  upTo: number
  nowMs: number
  limits: MemoryLimits
}

export interface CompactionResult {
  upTo: number
  journalLines: number
  tornLines: number
  ms: number
}

const job = workerData as CompactionJob
const started = performance.now()
const state = new MemoryState(job.limits)
const {journalThrough} = readSnapshot(job.dir, state)
const counts = {journalLines: 0, tornLines: 0}
if (journalThrough < job.upTo) {
  for (const s of listSegments(job.dir)) if (s.seq > journalThrough && s.seq <= job.upTo) replaySegment(s.path, state, counts)
  state.prune(job.nowMs)
  writeSnapshot(job.dir, state, job.upTo)
}
// The snapshot holds them now (a crash before this line only leaves files that recovery skips).
removeSegmentsThrough(job.dir, job.upTo)
parentPort!.postMessage({upTo: job.upTo, ...counts, ms: performance.now() - started} satisfies CompactionResult)
