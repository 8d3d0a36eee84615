// Runs in a worker thread: folds the sealed journal segments into a new snapshot, from the files
// alone, so the daemon's event loop never stops to serialize its state while it serves traffic.
// Sealed segments were written whole, so any damaged line in them (or in the snapshot) fails the
// compaction with its file and line, and every file stays: nothing is skipped and then deleted.
import {parentPort, workerData} from 'node:worker_threads'

import {type MemoryLimits, MemoryState} from '../memory-state.js'
import {type Damage, StateCorruptError} from './state-damage.js'
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
  ms: number
}

const job = workerData as CompactionJob
const started = performance.now()
try {
  const journalLines = compact()
  parentPort!.postMessage({upTo: job.upTo, journalLines, ms: performance.now() - started} satisfies CompactionResult)
} catch (error) {
  // The daemon's state in memory is whole either way; say where the files are damaged, not what a restart would need.
  throw error instanceof StateCorruptError ? new Error(error.summary) : error
}

function compact(): number {
  const state = new MemoryState(job.limits)
  const damage: Damage[] = []
  const {journalThrough, format} = readSnapshot(job.dir, state, damage)
  if (damage.length > 0) throw new StateCorruptError(job.dir, damage, true)
  const counts = {journalLines: 0, tornLines: 0}
  if (journalThrough < job.upTo) {
    for (const s of listSegments(job.dir)) {
      if (s.seq > journalThrough && s.seq <= job.upTo) replaySegment(s.path, state, counts, {format, lastSegment: false, damage})
    }
    if (damage.length > 0) throw new StateCorruptError(job.dir, damage, true)
    state.prune(job.nowMs)
    writeSnapshot(job.dir, state, job.upTo)
  }
  // The snapshot holds them now (a crash before this line only leaves files that recovery skips).
  removeSegmentsThrough(job.dir, job.upTo)
  return counts.journalLines
}
