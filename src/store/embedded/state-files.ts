// The embedded store's files under --state-dir, shared by the store (recovery, clean shutdown) and
// the compaction worker:
//   snapshot.jsonl            state as of the end of journal segment `journal_through`
//   journal-00000042.jsonl    accepted transactions, one per line, in segments of bounded size
// A snapshot is written line by line (a head line, then one line per reservation and per idempotency
// record, then an end line with the count), so neither writing nor reading it builds one string of
// the whole state: V8 strings stop at ~512 MiB, and the idempotency records alone may hold 256 MiB.
//
// Every line carries a CRC-32 (line-checksum.ts). Files written before checksums existed are read
// as the legacy format, decided once per directory by the snapshot: a snapshot whose head line has
// a checksum means every journal line after it must have one too (this version writes the snapshot
// before its first journal line), so a damaged checksummed line can never pass as a legacy line.
// Directory and files are private to the daemon's user (0700 / 0600): they hold API key hashes.
import {isUtf8} from 'node:buffer'
import fs from 'node:fs'
import path from 'node:path'

import type {IdempotencyRecord, Tx} from '../types.js'
import type {MemoryState, SnapshotHead, StateSnapshot} from '../memory-state.js'
import {checksumProblem, looksChecksummed, withChecksum} from './line-checksum.js'
import {idempotencyEntryProblem, journalEntryProblem, reservationProblem, snapshotHeadProblem} from './line-shapes.js'
import {type Damage, StateCorruptError} from './state-damage.js'

export const SNAPSHOT_FILE = 'snapshot.jsonl'
/** Written by earlier versions: one JSON document, and one journal without segments. */
const LEGACY_SNAPSHOT = 'snapshot.json'
const LEGACY_JOURNAL = 'journal.jsonl'
const SEGMENT = /^journal-(\d{8})\.jsonl$/
export const DIR_MODE = 0o700
export const FILE_MODE = 0o600
/** The snapshot file format this version writes (its head line's "snapshot" field). */
const SNAPSHOT_FORMAT = 2

/** 'checked': every line carries a checksum. 'legacy': written by a version before checksums. */
export type StateFormat = 'checked' | 'legacy'

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

/** Create the state directory private to this user (an existing one is made private too). */
export function ensureStateDir(dir: string): void {
  fs.mkdirSync(dir, {recursive: true, mode: DIR_MODE})
  try {
    if ((fs.statSync(dir).mode & 0o777) !== DIR_MODE) fs.chmodSync(dir, DIR_MODE)
  } catch (error) {
    // A directory owned by someone else (but writable to us) keeps its mode; the files are still 0600.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error
  }
}

/** Create a new journal segment (0600) durably before the writer appends to it. */
export function createSegment(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', FILE_MODE))
  syncDir(path.dirname(file))
}

interface JournalEntry {
  t: number
  tx: Tx
  /** The idempotency record's response body, embedded as JSON rather than as an escaped string. */
  b?: unknown
}

type JournaledEffects = Omit<Tx, 'conditions' | 'docConditions' | 'returnLedgers'>

/**
 * One checksummed journal line per accepted transaction, in parts. Conditions are left out (a replay
 * needs only the effects) and the stored response body is embedded as a JSON value, not re-escaped
 * as a string: JSON.stringify(JSON.parse(body)) gives back the same bytes for the bodies this daemon
 * writes (JSON objects; anything else stays an escaped string in the record).
 */
export function journalLine(t: number, tx: Tx): string[] {
  const idem = tx.idempotency
  const embedBody = idem !== undefined && idem.record.body.startsWith('{')
  // Every effect field of Tx, spelled out (the type makes a new one a compile error here).
  const effects: {[K in keyof Required<JournaledEffects>]: JournaledEffects[K] | undefined} = {
    deltas: tx.deltas,
    overage: tx.overage,
    createLedgers: tx.createLedgers,
    reservation: tx.reservation,
    idempotency: idem && (embedBody ? {key: idem.key, record: {...idem.record, body: ''}, ttl_ms: idem.ttl_ms} : idem),
    tenants: tx.tenants,
    apiKeys: tx.apiKeys,
    audit: tx.audit,
    control: tx.control,
    docs: tx.docs,
  }
  const json = JSON.stringify(effects)
  // In parts: the body (often the largest piece) is written as it is, never copied into a new string;
  // three parts, not five: each part is one more checksum call (~0.5 µs each, measured).
  return withChecksum(embedBody ? [`{"t":${t},"b":`, idem.record.body, `,"tx":${json}}`] : [`{"t":${t},"tx":${json}}`])
}

function txOf(entry: JournalEntry): Tx {
  if (entry.b === undefined || !entry.tx.idempotency) return entry.tx
  return {...entry.tx, idempotency: {...entry.tx.idempotency, record: {...entry.tx.idempotency.record, body: JSON.stringify(entry.b)}}}
}

export interface ReplayCounts {
  journalLines: number
  tornLines: number
}

export interface ReplayOptions {
  format: StateFormat
  /**
   * The segment is the last one: its last line may be torn (cut short by a kill -9, or ending in the
   * zeros a host crash leaves) and is then skipped, never having been acknowledged.
   */
  lastSegment: boolean
  /** Damaged lines are added here (and not applied); the caller decides whether to go on. */
  damage: Damage[]
}

/** Apply every line of a segment; a torn tail is counted, any other damaged line goes to `damage`. */
export function replaySegment(file: string, state: MemoryState, counts: ReplayCounts, options: ReplayOptions): void {
  for (const line of readLines(file)) {
    const parsed = parseLine(line.bytes, options.format)
    const problem = 'problem' in parsed ? parsed.problem : journalEntryProblem(parsed.value)
    if (problem !== undefined) {
      if (options.lastSegment && line.last && (!line.terminated || line.bytes.includes(0))) {
        counts.tornLines++
        continue
      }
      options.damage.push({file, line: line.number, problem, held: 'transaction', raw: Buffer.from(line.bytes)})
      continue
    }
    const entry = (parsed as {value: JournalEntry}).value // its shape was checked above
    try {
      state.replay(txOf(entry), entry.t)
    } catch (error) {
      options.damage.push({file, line: line.number, problem: `cannot be applied: ${(error as Error).message}`, held: 'transaction', raw: Buffer.from(line.bytes)})
      continue
    }
    counts.journalLines++
  }
}

/** A line's JSON value, its checksum checked first ('checked' format); or what is wrong with it. */
function parseLine(bytes: Buffer, format: StateFormat): {value: unknown} | {problem: string} {
  if (bytes.length === 0) return {problem: 'empty line'}
  if (bytes.includes(0)) return {problem: 'contains NUL bytes (what a host crash leaves where data never reached the disk)'}
  if (format === 'checked') {
    const problem = checksumProblem(bytes)
    if (problem) return {problem}
  } else {
    if (looksChecksummed(bytes)) return {problem: 'a checksummed line in a state directory whose snapshot has no checksums'}
    if (!isUtf8(bytes)) return {problem: 'not valid UTF-8'}
  }
  try {
    return {value: JSON.parse(bytes.toString('utf8')) as unknown}
  } catch (error) {
    return {problem: `not valid JSON (${(error as Error).message})`}
  }
}

const fieldOf = (value: unknown, field: string): unknown =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[field] : undefined

interface SnapshotHeadLine extends SnapshotHead {
  journal_through: number
  reservations: number
  idempotency: number
}

export interface SnapshotRead {
  loaded: boolean
  /** The last journal segment the snapshot holds (-1 when there is none). */
  journalThrough: number
  format: StateFormat
}

/**
 * Load the snapshot into `state`. A damaged reservation or idempotency line, or missing lines, go to
 * `damage` (the rest is loaded); a damaged head line throws: it holds every ledger, tenant and key.
 */
export function readSnapshot(dir: string, state: MemoryState, damage: Damage[]): SnapshotRead {
  const file = path.join(dir, SNAPSHOT_FILE)
  if (!fs.existsSync(file)) {
    const legacy = path.join(dir, LEGACY_SNAPSHOT)
    if (!fs.existsSync(legacy)) return {loaded: false, journalThrough: -1, format: 'checked'}
    // The legacy snapshot predates segments: the legacy journal (segment 0) comes after it.
    try {
      state.restore(JSON.parse(fs.readFileSync(legacy, 'utf8')) as StateSnapshot)
    } catch (error) {
      throw new StateCorruptError(dir, [{file: legacy, line: 1, problem: `cannot be read as a snapshot: ${(error as Error).message}`, held: 'snapshot head'}], false)
    }
    return {loaded: true, journalThrough: -1, format: 'legacy'}
  }
  const lines = readLines(file)
  try {
    return readSnapshotLines(dir, file, lines, state, damage)
  } finally {
    lines.return(undefined) // closes the file
  }
}

function readSnapshotLines(dir: string, file: string, lines: Generator<RawLine>, state: MemoryState, damage: Damage[]): SnapshotRead {
  let lineNumber = 0
  const next = (): RawLine | undefined => {
    const n = lines.next()
    if (n.done) return undefined
    lineNumber = n.value.number
    return n.value
  }
  const first = next()
  if (!first) throw new StateCorruptError(dir, [{file, line: 1, problem: 'the snapshot is empty', held: 'snapshot head'}], false)
  const format: StateFormat = looksChecksummed(first.bytes) ? 'checked' : 'legacy'
  const parsedHead = parseLine(first.bytes, format)
  let headValue: unknown
  let headProblem = 'problem' in parsedHead ? parsedHead.problem : undefined
  if (!headProblem) {
    const value = (parsedHead as {value: unknown}).value
    if (format === 'legacy') headValue = value
    else if (fieldOf(value, 'snapshot') !== SNAPSHOT_FORMAT || typeof fieldOf(value, 'state') !== 'object') headProblem = `not a snapshot head of format ${SNAPSHOT_FORMAT}`
    else {
      const {state, ...counts} = value as {state: object}
      headValue = {...state, ...counts}
    }
    headProblem ??= snapshotHeadProblem(headValue)
  }
  if (headProblem) {
    throw new StateCorruptError(dir, [{file, line: 1, problem: `the snapshot's head line: ${headProblem}`, held: 'snapshot head', raw: Buffer.from(first.bytes)}], false)
  }
  const head = headValue as SnapshotHeadLine
  state.restoreHead(head)

  // Records by their place: the head's counts say which lines hold reservations and which idempotency records.
  const readRecord = (held: 'reservation' | 'idempotency record'): boolean => {
    const line = next()
    if (!line) return false
    const parsed = parseLine(line.bytes, format)
    let value: unknown
    let problem: string | undefined
    if ('problem' in parsed) problem = parsed.problem
    else {
      // Checked lines wrap the record: {"c":…,"r":{…}} / {"c":…,"i":[…]}; legacy lines are the record itself.
      value = format === 'checked' ? fieldOf(parsed.value, held === 'reservation' ? 'r' : 'i') : parsed.value
      problem = held === 'reservation' ? reservationProblem(value) : idempotencyEntryProblem(value)
    }
    if (problem) {
      damage.push({file, line: line.number, problem: `a ${held} line: ${problem}`, held, raw: Buffer.from(line.bytes)})
      return true
    }
    if (held === 'reservation') state.putReservation(value as never)
    else {
      const [k, r, e] = value as [string, IdempotencyRecord, number]
      state.putIdempotency(k, r, e)
    }
    return true
  }
  let reservations = 0
  let idempotency = 0
  while (reservations < head.reservations && readRecord('reservation')) reservations++
  if (reservations === head.reservations) while (idempotency < head.idempotency && readRecord('idempotency record')) idempotency++
  const missing = {reservations: head.reservations - reservations, idempotency: head.idempotency - idempotency}
  const expectedLines = 1 + head.reservations + head.idempotency
  if (missing.reservations > 0 || missing.idempotency > 0) {
    damage.push({
      file,
      line: lineNumber + 1,
      problem: `the snapshot ends after line ${lineNumber} (it is truncated): ${missing.reservations} reservation and ${missing.idempotency} idempotency record lines${format === 'checked' ? ' and its end line' : ''} are missing`,
      held: 'missing lines',
      missing,
    })
    return {loaded: true, journalThrough: head.journal_through, format}
  }
  if (format === 'checked') {
    const end = next()
    if (!end) {
      damage.push({file, line: lineNumber + 1, problem: `the snapshot ends after line ${lineNumber} without its end line (it is truncated)`, held: 'snapshot end', missing: {reservations: 0, idempotency: 0}})
      return {loaded: true, journalThrough: head.journal_through, format}
    }
    const parsed = parseLine(end.bytes, format)
    const problem = 'problem' in parsed ? parsed.problem : fieldOf(parsed.value, 'end') === expectedLines ? undefined : `not the end line for ${expectedLines} lines`
    if (problem) damage.push({file, line: end.number, problem: `the end line: ${problem}`, held: 'snapshot end', raw: Buffer.from(end.bytes)})
  }
  const extra = next()
  if (extra) damage.push({file, line: extra.number, problem: 'a line after the snapshot\'s last record', held: 'snapshot end', raw: Buffer.from(extra.bytes)})
  return {loaded: true, journalThrough: head.journal_through, format}
}

/**
 * Write the state as of the end of segment `journalThrough`: to a temporary file, fsync, rename,
 * fsync the directory. The previous snapshot stays in place until the new one is durable.
 */
export function writeSnapshot(dir: string, state: MemoryState, journalThrough: number): void {
  const file = path.join(dir, SNAPSHOT_FILE)
  const tmp = `${file}.tmp`
  const fd = fs.openSync(tmp, 'w', FILE_MODE)
  // A leftover from a crash keeps the mode it was created with (earlier versions: world-readable).
  const stat = fs.fstatSync(fd)
  if (stat.isFile() && (stat.mode & 0o777) !== FILE_MODE) fs.fchmodSync(fd, FILE_MODE)
  let done = false
  try {
    const head: SnapshotHeadLine = {
      ...state.snapshotHead(),
      journal_through: journalThrough,
      reservations: state.reservations.size,
      idempotency: state.idempotency.size,
    }
    const out = new ChunkedWriter(fd)
    // The state sits under "state", not at the top as in the legacy head: a version before checksums
    // then fails to read this file (no "ledgers" to iterate) instead of misreading its records.
    const {journal_through, reservations, idempotency, ...rest} = head
    out.line(withChecksum([JSON.stringify({snapshot: SNAPSHOT_FORMAT, journal_through, reservations, idempotency, state: rest})]))
    for (const r of state.reservations.values()) out.line(withChecksum([`{"r":${JSON.stringify(r)}}`]))
    for (const entry of state.idempotencyEntries()) out.line(withChecksum([`{"i":${JSON.stringify(entry)}}`]))
    out.line(withChecksum([`{"end":${1 + head.reservations + head.idempotency}}`]))
    out.end()
    fs.fsyncSync(fd)
    done = true
  } finally {
    fs.closeSync(fd)
    // A failed write (a full disk) must not leave a half snapshot behind taking the space.
    if (!done) fs.rmSync(tmp, {force: true})
  }
  fs.renameSync(tmp, file)
  syncDir(dir)
  fs.rmSync(path.join(dir, LEGACY_SNAPSHOT), {force: true})
}

/** Remove segments the snapshot already contains. */
export function removeSegmentsThrough(dir: string, journalThrough: number): void {
  for (const s of listSegments(dir)) if (s.seq <= journalThrough) fs.rmSync(s.path, {force: true})
}

export interface RawLine {
  /** The line without its newline; a view valid only until the next line is read (copy to keep it). */
  bytes: Buffer
  /** 1-based. */
  number: number
  /** False for a last line with no newline after it. */
  terminated: boolean
  /** Nothing follows this line in the file (as large as it was when opened). */
  last: boolean
}

/** Lines of a file, read in 4 MiB pieces (never the whole file as one string). */
export function* readLines(file: string): Generator<RawLine> {
  const fd = fs.openSync(file, 'r')
  try {
    const size = fs.fstatSync(fd).size
    const chunk = Buffer.allocUnsafe(4 * 1024 * 1024)
    let carry: Buffer = Buffer.alloc(0)
    let offset = 0 // of the first byte of `data` in the file
    let number = 0
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null)
      if (n === 0) break
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n)
      let start = 0
      for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
        yield {bytes: data.subarray(start, nl), number: ++number, terminated: true, last: offset + nl + 1 >= size}
        start = nl + 1
      }
      offset += start
      carry = Buffer.from(data.subarray(start))
    }
    if (carry.length > 0) yield {bytes: carry, number: number + 1, terminated: false, last: true}
  } finally {
    fs.closeSync(fd)
  }
}

/** Buffers lines (each given in parts) into ~1 MiB writes. */
class ChunkedWriter {
  private parts: string[] = []
  private size = 0
  constructor(private readonly fd: number) {}

  line(parts: readonly string[]): void {
    for (const part of parts) {
      this.parts.push(part)
      this.size += part.length
    }
    this.parts.push('\n')
    this.size++
    if (this.size >= 1024 * 1024) this.flush()
  }

  end(): void {
    this.flush()
  }

  private flush(): void {
    if (this.parts.length === 0) return
    let buffer = Buffer.from(this.parts.join(''))
    while (buffer.length > 0) buffer = buffer.subarray(fs.writeSync(this.fd, buffer))
    this.parts = []
    this.size = 0
  }
}

/** Make a rename or a new file's name durable. */
export function syncDir(dir: string): void {
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
