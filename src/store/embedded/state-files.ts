// The embedded store's files under --state-dir, shared by the store (recovery, clean shutdown) and
// the compaction worker:
//   snapshot.jsonl            state as of the end of journal segment `journal_through`
//   journal-00000042.jsonl    accepted transactions, one per line, in segments of bounded size
// A snapshot is written line by line (a head line, then one line per reservation and per idempotency
// record), so neither writing nor reading it builds one string of the whole state: V8 strings stop
// at ~512 MiB, and the idempotency records alone may hold 256 MiB of bodies.
import fs from 'node:fs'
import path from 'node:path'

import type {IdempotencyRecord, Tx} from '../types.js'
import type {MemoryState, SnapshotHead, StateSnapshot} from '../memory-state.js'

export const SNAPSHOT_FILE = 'snapshot.jsonl'
/** Written by earlier versions: one JSON document, and one journal without segments. */
const LEGACY_SNAPSHOT = 'snapshot.json'
const LEGACY_JOURNAL = 'journal.jsonl'
const SEGMENT = /^journal-(\d{8})\.jsonl$/

export function segmentPath(dir: string, seq: number): string {
  return path.join(dir, `journal-${String(seq).padStart(8, '0')}.jsonl`)
}

export interface Segment {
  seq: number
  path: string
}

/** Journal segments in order; the legacy single journal counts as segment 0. */
export function listSegments(dir: string): Segment[] {
  const out: Segment[] = []
  for (const name of fs.readdirSync(dir)) {
    const m = SEGMENT.exec(name)
    if (m) out.push({seq: Number(m[1]), path: path.join(dir, name)})
    else if (name === LEGACY_JOURNAL) out.push({seq: 0, path: path.join(dir, name)})
  }
  return out.sort((a, b) => a.seq - b.seq)
}

interface JournalEntry {
  t: number
  tx: Tx
  /** The idempotency record's response body, embedded as JSON rather than as an escaped string. */
  b?: unknown
}

type JournaledEffects = Omit<Tx, 'conditions' | 'returnLedgers'>

/**
 * One journal line per accepted transaction. Conditions are left out (a replay needs only the
 * effects) and the stored response body is embedded as a JSON value, not re-escaped as a string:
 * JSON.stringify(JSON.parse(body)) gives back the same bytes for the bodies this daemon writes.
 */
export function journalLine(t: number, tx: Tx): string | string[] {
  const idem = tx.idempotency
  // Every effect field of Tx, spelled out (the type makes a new one a compile error here).
  const effects: {[K in keyof Required<JournaledEffects>]: JournaledEffects[K] | undefined} = {
    deltas: tx.deltas,
    overage: tx.overage,
    createLedgers: tx.createLedgers,
    reservation: tx.reservation,
    idempotency: idem && {key: idem.key, record: {...idem.record, body: ''}, ttl_ms: idem.ttl_ms},
    tenants: tx.tenants,
    apiKeys: tx.apiKeys,
    audit: tx.audit,
    control: tx.control,
  }
  const json = JSON.stringify(effects)
  // In parts: the body (often the largest piece) is written as it is, never copied into a new string.
  return idem === undefined ? `{"t":${t},"tx":${json}}` : [`{"t":${t},"b":`, idem.record.body, ',"tx":', json, '}']
}

function txOf(entry: JournalEntry): Tx {
  if (entry.b === undefined || !entry.tx.idempotency) return entry.tx
  return {...entry.tx, idempotency: {...entry.tx.idempotency, record: {...entry.tx.idempotency.record, body: JSON.stringify(entry.b)}}}
}

export interface ReplayCounts {
  journalLines: number
  tornLines: number
}

/** Apply every whole line of a segment; a torn line (a write cut by kill -9, never acknowledged) is skipped. */
export function replaySegment(file: string, state: MemoryState, counts: ReplayCounts): void {
  for (const line of readLines(file)) {
    let entry: JournalEntry
    try {
      entry = JSON.parse(line)
    } catch {
      counts.tornLines++
      continue
    }
    state.replay(txOf(entry), entry.t)
    counts.journalLines++
  }
}

interface SnapshotHeadLine extends SnapshotHead {
  journal_through: number
  reservations: number
  idempotency: number
}

/** Load the snapshot into `state`; returns the last journal segment it contains (0 when none). */
export function readSnapshot(dir: string, state: MemoryState): {loaded: boolean; journalThrough: number} {
  const file = path.join(dir, SNAPSHOT_FILE)
  if (!fs.existsSync(file)) {
    const legacy = path.join(dir, LEGACY_SNAPSHOT)
    if (!fs.existsSync(legacy)) return {loaded: false, journalThrough: -1}
    // The legacy snapshot predates segments: the legacy journal (segment 0) comes after it.
    state.restore(JSON.parse(fs.readFileSync(legacy, 'utf8')) as StateSnapshot)
    return {loaded: true, journalThrough: -1}
  }
  const lines = readLines(file)
  try {
    const head = JSON.parse(nextLine(lines, file)) as SnapshotHeadLine
    state.restoreHead(head)
    for (let i = 0; i < head.reservations; i++) state.putReservation(JSON.parse(nextLine(lines, file)))
    for (let i = 0; i < head.idempotency; i++) {
      const [k, r, e] = JSON.parse(nextLine(lines, file)) as [string, IdempotencyRecord, number]
      state.putIdempotency(k, r, e)
    }
    return {loaded: true, journalThrough: head.journal_through}
  } finally {
    lines.return(undefined) // closes the file
  }
}

function nextLine(lines: Iterator<string>, file: string): string {
  const next = lines.next()
  if (next.done) throw new Error(`${file} ends early: the snapshot is incomplete`)
  return next.value
}

/** Write the state as of the end of segment `journalThrough`: to a temporary file, fsync, rename. */
export function writeSnapshot(dir: string, state: MemoryState, journalThrough: number): void {
  const file = path.join(dir, SNAPSHOT_FILE)
  const tmp = `${file}.tmp`
  const fd = fs.openSync(tmp, 'w')
  try {
    const head: SnapshotHeadLine = {
      ...state.snapshotHead(),
      journal_through: journalThrough,
      reservations: state.reservations.size,
      idempotency: state.idempotency.size,
    }
    const out = new ChunkedWriter(fd)
    out.line(JSON.stringify(head))
    for (const r of state.reservations.values()) out.line(JSON.stringify(r))
    for (const entry of state.idempotencyEntries()) out.line(JSON.stringify(entry))
    out.end()
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
  fs.rmSync(path.join(dir, LEGACY_SNAPSHOT), {force: true})
  syncDir(dir)
}

/** Remove segments the snapshot already contains. */
export function removeSegmentsThrough(dir: string, journalThrough: number): void {
  for (const s of listSegments(dir)) if (s.seq <= journalThrough) fs.rmSync(s.path, {force: true})
}

/** Lines of a file, read in 4 MiB pieces (never the whole file as one string). */
export function* readLines(file: string): Generator<string> {
  const fd = fs.openSync(file, 'r')
  try {
    const chunk = Buffer.allocUnsafe(4 * 1024 * 1024)
    let carry: Buffer = Buffer.alloc(0)
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null)
      if (n === 0) break
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n)
      let start = 0
      for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
        if (nl > start) yield data.toString('utf8', start, nl)
        start = nl + 1
      }
      carry = Buffer.from(data.subarray(start))
    }
    if (carry.length > 0) yield carry.toString('utf8')
  } finally {
    fs.closeSync(fd)
  }
}

/** Buffers lines into ~1 MiB writes. */
class ChunkedWriter {
  private parts: string[] = []
  private size = 0
  constructor(private readonly fd: number) {}

  line(text: string): void {
    this.parts.push(text)
    this.size += text.length + 1
    if (this.size >= 1024 * 1024) this.flush()
  }

  end(): void {
    this.flush()
  }

  private flush(): void {
    if (this.parts.length === 0) return
    let buffer = Buffer.from(this.parts.join('\n') + '\n')
    while (buffer.length > 0) buffer = buffer.subarray(fs.writeSync(this.fd, buffer))
    this.parts = []
    this.size = 0
  }
}

/** Make a rename durable. */
function syncDir(dir: string): void {
  let fd: number | undefined
  try {
    fd = fs.openSync(dir, 'r')
    fs.fsyncSync(fd)
  } catch {
    // Not every file system lets a directory be fsynced; the rename is then as durable as it gets.
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}
