// `cycles audit verify --log-dir`: recompute every decision-log chain (one per daemon instance) from
// the bytes on disk, check every checkpoint's chain and Ed25519 signature, and match each checkpoint's
// head against the records, so an edited field, a deleted, inserted or swapped line, a truncated tail
// and a forged checkpoint are each found and located (the first break is reported). A line cut short
// by a crash (no newline, at the end of a segment) is a torn line, never linked to: not tampering.
//
// Speed: a line is checked on its bytes (fixed offsets of the two chain members at its end, one
// SHA-256 of the line with its `,"hash"…` member cut off), decoded only where something is wrong.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'

import {type SegmentFile, checkpointFileName, listLogDir, parseSegmentName} from '../decision-log/segments.js'
import {GENESIS_HASH} from './chain.js'
import {type CheckedCheckpoint, type TrustedKey, checkCheckpointFile} from './verify-checkpoints.js'
import {parsePublicKey, publicKeyText} from './signing.js'
import type {ChainBreak, ChainReport, TornLine, VerifyReport} from './verify-types.js'

export type {BreakKind, ChainBreak, ChainReport, VerifyReport} from './verify-types.js'

export interface VerifyOptions {
  /** Public keys the checkpoints must be signed with (`--public-key`); default: the key recorded in them. */
  publicKeys?: string[]
}

/** Verify every chain in a decision-log directory. */
export function verifyLogDir(dir: string, options: VerifyOptions = {}): VerifyReport {
  const listing = listLogDir(dir)
  return verifyChains(dir, listing.segments, listing.checkpoints, options)
}

/**
 * Verify the whole chains the given segment files belong to (`shadow ingest --verify`): every
 * segment and the checkpoint file of each of their instances, from the files' directories — a
 * checkpoint signed over later segments must find them, or the tail would look truncated.
 */
export function verifyLogFiles(files: string[], options: VerifyOptions = {}): VerifyReport {
  const segments = new Map<string, SegmentFile[]>()
  const checkpoints = new Map<string, string>()
  const listings = new Map<string, ReturnType<typeof listLogDir>>()
  for (const file of files) {
    const parsed = parseSegmentName(path.basename(file))
    if (!parsed || segments.has(parsed.instance)) continue
    const dir = path.dirname(path.resolve(file))
    let listing = listings.get(dir)
    if (!listing) listings.set(dir, (listing = listLogDir(dir)))
    segments.set(parsed.instance, listing.segments.get(parsed.instance) ?? [])
    const checkpoint = listing.checkpoints.get(parsed.instance)
    if (checkpoint) checkpoints.set(parsed.instance, checkpoint)
  }
  return verifyChains([...listings.keys()].join(', '), segments, checkpoints, options)
}

function verifyChains(dir: string, segments: Map<string, SegmentFile[]>, checkpointFiles: Map<string, string>, options: VerifyOptions): VerifyReport {
  const started = performance.now()
  const trusted: TrustedKey[] = (options.publicKeys ?? []).map((text) => {
    const key = parsePublicKey(text)
    return {text: publicKeyText(key), key}
  })
  const report: VerifyReport = {intact: true, log_dir: dir, keys_checked: trusted.length > 0 ? 'given' : 'recorded', chains: [], unchained_files: [], records: 0, seconds: 0, records_per_second: 0}
  for (const instance of [...segments.keys()].sort()) {
    const files = segments.get(instance)!
    const checkpointFile = checkpointFiles.get(instance)
    const chain = verifyChain(instance, files, checkpointFile, trusted)
    if (chain === 'unchained') {
      report.unchained_files.push(...files.map((f) => f.name))
      continue
    }
    report.chains.push(chain.report)
    report.records += chain.report.records
    if (chain.break) {
      report.intact = false
      report.break = chain.break
      break
    }
  }
  report.seconds = (performance.now() - started) / 1000
  report.records_per_second = report.seconds > 0 ? Math.round(report.records / report.seconds) : 0
  return report
}

interface Found {
  /** 1-based position of the record in the chain as present. */
  index: number
  file: string
  line: number
}

function verifyChain(instance: string, files: SegmentFile[], checkpointFile: string | undefined, trusted: TrustedKey[]): 'unchained' | {report: ChainReport; break?: ChainBreak} {
  const checked = checkpointFile ? checkCheckpointFile(checkpointFile, instance, trusted) : undefined
  const checkpoints = checked?.checkpoints ?? []
  const walk = walkChain(instance, files, new Set(checkpoints.map((c) => c.head)), checkpointFile !== undefined)
  if (walk === 'unchained') return 'unchained'
  const last = checkpoints.at(-1)
  const lastFound = last ? walk.found.get(last.head) : undefined
  const report: ChainReport = {
    instance,
    files: files.length,
    records: walk.records,
    first_file: files[0].name,
    last_file: files.at(-1)!.name,
    starts_at_genesis: walk.startsAtGenesis,
    head: walk.head,
    checkpoints: checkpoints.length,
    ...(last ? {last_checkpoint: {n: last.n, ts: last.ts, records: last.records, file: last.file, line: last.line}} : {}),
    records_after_last_checkpoint: walk.records - (lastFound?.index ?? 0),
    torn_lines: walk.torn,
    public_keys: checked?.publicKeys ?? [],
  }
  if (walk.break) return {report, break: walk.break}
  if (!checkpointFile) {
    return {report, break: {kind: 'checkpoints_missing', instance, file: checkpointFileName(instance), line: 0, message: `${walk.records} chained record(s) of instance ${instance} but no ${checkpointFileName(instance)}: every chained daemon writes one at start, so it was deleted or not copied with the segments`}}
  }
  if (checked?.break) return {report, break: checked.break}
  const headBreak = checkHeads(instance, checkpoints, walk)
  return headBreak ? {report, break: headBreak} : {report}
}

/** Every checkpoint's head must be in the chain at the record count it signs; the last one's absence is a truncated tail. */
function checkHeads(instance: string, checkpoints: CheckedCheckpoint[], walk: Walk): ChainBreak | undefined {
  // Records before the first one present (segments deleted by retention): known from any checkpoint found.
  let offset: number | undefined = walk.startsAtGenesis ? 0 : undefined
  if (offset === undefined) {
    for (const c of checkpoints) {
      const f = walk.found.get(c.head)
      if (f) {
        offset = c.records - f.index
        break
      }
    }
  }
  for (const c of checkpoints) {
    if (c.records === 0 && c.head === GENESIS_HASH) continue
    const f = walk.found.get(c.head)
    const where = `checkpoint ${c.n} (${c.ts}) signs ${c.records} record(s) through head ${c.head.slice(0, 12)}… in ${c.segment}`
    if (f) {
      if (offset !== undefined && f.index + offset !== c.records) {
        return {kind: 'checkpoint_mismatch', instance, file: f.file, line: f.line, message: `${where}, but that head is record ${f.index + offset} of the log: records before it were removed or added and the chain rebuilt`}
      }
      continue
    }
    if (offset !== undefined && c.records <= offset) continue // before the first record present
    const present = walk.records + (offset ?? 0)
    const end = walk.lastLine ? `${walk.lastLine.file}:${walk.lastLine.line}` : 'its start'
    if (present < c.records || offset === undefined) {
      return {
        kind: 'truncated',
        instance,
        file: walk.lastLine?.file ?? c.segment,
        line: walk.lastLine?.line ?? 0,
        ...(walk.lastLine?.id ? {record_id: walk.lastLine.id} : {}),
        message: `the log ends at ${end} after ${present} record(s), but ${where}: ${offset === undefined ? 'its head is not in the log' : `${c.records - present} record(s)`} removed from the tail`,
      }
    }
    return {kind: 'checkpoint_mismatch', instance, file: c.file, line: c.line, message: `${where}, but no record of the log has that hash: the records up to it were rewritten and re-chained`}
  }
  return undefined
}

interface Walk {
  records: number
  startsAtGenesis: boolean
  head: string
  torn: TornLine[]
  found: Map<string, Found>
  lastLine?: {file: string; line: number; id?: string}
  break?: ChainBreak
}

const HASH_MEMBER = Buffer.from('","hash":"')
const PREV_MEMBER = Buffer.from('"prev_hash":"')
const ID_MEMBER = Buffer.from('"id":"')
/** Shortest sealed line: `{"prev_hash":"<64>","hash":"<64>"}`. */
const MIN_SEALED = 154

interface Link {
  prevHash: string
  hash: string
  computed: string
}

/** The chain members of the line buf[start, end) and its recomputed hash (see chain.ts); undefined when unsealed. */
function linkAt(buf: Buffer, start: number, end: number): Link | undefined {
  if (end - start < MIN_SEALED || buf[end - 1] !== 0x7d || buf[end - 2] !== 0x22) return undefined
  // byte by byte: cheaper than two native compare calls per line
  for (let i = 0; i < 10; i++) if (buf[end - 76 + i] !== HASH_MEMBER[i]) return undefined
  for (let i = 0; i < 13; i++) if (buf[end - 153 + i] !== PREV_MEMBER[i]) return undefined
  const lead = buf[end - 154]
  if (lead !== 0x2c && lead !== 0x7b) return undefined
  // The hashed text is the line up to prev_hash's closing quote, closed with `}`: put the brace where
  // the comma is, hash in place, put the comma back.
  buf[end - 75] = 0x7d
  const computed = digestHex(buf.subarray(start, end - 74))
  buf[end - 75] = 0x2c
  return {prevHash: buf.toString('latin1', end - 140, end - 76), hash: buf.toString('latin1', end - 66, end - 2), computed}
}

const digestHex: (bytes: Buffer) => string =
  typeof crypto.hash === 'function' ? (bytes) => crypto.hash('sha256', bytes, 'hex') : (bytes) => crypto.createHash('sha256').update(bytes).digest('hex')

function recordIdAt(buf: Buffer, start: number, end: number): string | undefined {
  const at = buf.indexOf(ID_MEMBER, start)
  if (at < 0 || at >= end) return undefined
  const from = at + ID_MEMBER.length
  const close = buf.indexOf(0x22, from)
  return close > 0 && close < end ? buf.toString('utf8', from, close) : undefined
}

function readSegment(segment: SegmentFile): Buffer {
  const bytes = fs.readFileSync(segment.path)
  return segment.gz ? zlib.gunzipSync(bytes) : bytes
}

/** Read size of the line scan: one buffer, reused (fresh memory per file costs page faults, the most of a read). */
const CHUNK_BYTES = 8 * 2 ** 20

/** Lines of a segment in reused chunks: `visit(view, start, end, fileOffset)` per complete line; returns the torn tail's length. */
function scanLines(segment: SegmentFile, scratch: {buf: Buffer}, visit: (view: Buffer, start: number, end: number) => boolean): {tornBytes: number; stopped: boolean; lastLineId?: string} {
  if (segment.gz) {
    const whole = readSegment(segment)
    let pos = 0
    for (let nl = whole.indexOf(0x0a); nl >= 0; nl = whole.indexOf(0x0a, pos)) {
      if (!visit(whole, pos, nl)) return {tornBytes: 0, stopped: true}
      pos = nl + 1
    }
    const last = lastLineStart(whole, pos)
    return {tornBytes: whole.length - pos, stopped: false, ...(last ? {lastLineId: recordIdAt(whole, last.start, last.end)} : {})}
  }
  const fd = fs.openSync(segment.path, 'r')
  try {
    let carry = 0
    let lastLineId: string | undefined
    for (;;) {
      let buf = scratch.buf
      if (carry === buf.length) {
        // one line longer than the buffer: grow it
        const bigger = Buffer.allocUnsafe(buf.length * 2)
        buf.copy(bigger, 0, 0, carry)
        scratch.buf = buf = bigger
      }
      const read = fs.readSync(fd, buf, carry, buf.length - carry, null)
      if (read === 0) return {tornBytes: carry, stopped: false, ...(lastLineId === undefined ? {} : {lastLineId})}
      const view = buf.subarray(0, carry + read)
      let pos = 0
      for (let nl = view.indexOf(0x0a); nl >= 0; nl = view.indexOf(0x0a, pos)) {
        if (!visit(view, pos, nl)) return {tornBytes: 0, stopped: true}
        pos = nl + 1
      }
      const last = lastLineStart(view, pos)
      if (last) lastLineId = recordIdAt(view, last.start, last.end)
      carry = view.length - pos
      if (carry > 0) view.copy(buf, 0, pos, view.length)
    }
  } finally {
    fs.closeSync(fd)
  }
}

function walkChain(instance: string, files: SegmentFile[], heads: Set<string>, hasCheckpoints: boolean): Walk | 'unchained' {
  const walk: Walk = {records: 0, startsAtGenesis: true, head: GENESIS_HASH, torn: [], found: new Map()}
  const scratch = {buf: Buffer.allocUnsafe(CHUNK_BYTES)}
  let prev: string | undefined
  let prev2: string | undefined
  let beforeFile = ''
  let beforeLine = 0
  let unchained = false
  let broken: {segment: SegmentFile; lineNo: number; link: Link | undefined; prev?: string; prev2?: string; before?: {hash: string; file: string; line: number}} | undefined
  for (const segment of files) {
    let lineNo = 0
    const scan = scanLines(segment, scratch, (buf, start, end) => {
      lineNo++
      const link = linkAt(buf, start, end)
      if (!link || link.computed !== link.hash || (prev !== undefined && link.prevHash !== prev)) {
        if (!link && prev === undefined && !hasCheckpoints) unchained = true // a schema-v1 log
        else broken = {segment, lineNo, link, prev, prev2, before: prev === undefined ? undefined : {hash: prev, file: beforeFile, line: beforeLine}}
        return false
      }
      if (prev === undefined) walk.startsAtGenesis = link.prevHash === GENESIS_HASH
      prev2 = prev
      prev = link.hash
      walk.records++
      if (heads.has(prev)) walk.found.set(prev, {index: walk.records, file: segment.name, line: lineNo})
      beforeFile = segment.name
      beforeLine = lineNo
      return true
    })
    if (unchained) return 'unchained'
    if (broken) return {...walk, break: locateBreakInFile(instance, broken)}
    if (scan.tornBytes > 0) walk.torn.push({file: segment.name, line: lineNo + 1, bytes: scan.tornBytes})
    if (beforeFile === segment.name) walk.lastLine = {file: beforeFile, line: beforeLine, ...(scan.lastLineId === undefined ? {} : {id: scan.lastLineId})}
  }
  walk.head = prev ?? GENESIS_HASH
  return walk
}

/** The break found by the scan, described with the whole file at hand (its neighbours tell what happened). */
function locateBreakInFile(instance: string, b: {segment: SegmentFile; lineNo: number; link: Link | undefined; prev?: string; prev2?: string; before?: {hash: string; file: string; line: number}}): ChainBreak {
  const buf = readSegment(b.segment)
  let pos = 0
  for (let line = 1; line < b.lineNo; line++) pos = buf.indexOf(0x0a, pos) + 1
  const nl = buf.indexOf(0x0a, pos)
  return locateBreak({instance, segment: b.segment, buf, pos, nl, lineNo: b.lineNo, link: b.link, prev: b.prev, prev2: b.prev2, before: b.before})
}

interface BreakContext {
  instance: string
  segment: SegmentFile
  buf: Buffer
  pos: number
  nl: number
  lineNo: number
  link: Link | undefined
  prev: string | undefined
  prev2: string | undefined
  before: {hash: string; file: string; line: number} | undefined
}

/** What is wrong with the line at ctx.lineNo, told by its neighbours. */
function locateBreak(ctx: BreakContext): ChainBreak {
  const {instance, segment, buf, pos, nl, lineNo, link, prev, prev2, before} = ctx
  const at = (kind: ChainBreak['kind'], message: string, line = lineNo, file = segment.name, id = recordIdAt(buf, pos, nl)): ChainBreak => ({kind, instance, file, line, ...(id ? {record_id: id} : {}), message})
  if (!link) {
    return at('unchained_line', pos === nl ? `line ${lineNo} is blank: inserted into a chained segment` : `line ${lineNo} has no chain fields (prev_hash, hash): inserted, or rewritten without them`)
  }
  if (link.computed !== link.hash) return at('edited', `the record at line ${lineNo} does not match its hash: a field of it was changed`)
  const next = nextLink(buf, nl + 1)
  if (next && link.prevHash === next.hash) return at('swapped', `lines ${lineNo} and ${lineNo + 1} are in the wrong order (swapped): the record at line ${lineNo} links to the one after it`)
  if (next && next.prevHash === prev) {
    const copy = link.hash === prev ? ` (a copy of line ${lineNo - 1})` : ''
    return at('inserted', `line ${lineNo} was inserted${copy}: the record after it links to line ${lineNo - 1}`)
  }
  if (prev2 !== undefined && link.prevHash === prev2 && before) {
    const id = before.file === segment.name ? recordIdAt(buf, lineStartBefore(buf, pos), pos - 1) : undefined
    return at('inserted', `line ${before.line} of ${before.file} was inserted: the record at line ${lineNo} links to the record before it`, before.line, before.file, id ?? '')
  }
  if (lineNo === 1 && before) {
    return at('deleted', `the first record of ${segment.name} does not link to the last record of ${before.file} (line ${before.line}): records were deleted at the end of ${before.file} or the start of ${segment.name}, or a segment between them is missing`)
  }
  return at('deleted', `the record at line ${lineNo} does not link to line ${lineNo - 1}: record(s) between them were deleted (or line ${lineNo - 1} was rewritten and re-hashed)`)
}

/** Start of the line that ends with the newline at pos - 1. */
function lineStartBefore(buf: Buffer, pos: number): number {
  return pos < 2 ? 0 : buf.lastIndexOf(0x0a, pos - 2) + 1
}

/** The link of the line starting at `start` (undefined at the end of the buffer or when unsealed). */
function nextLink(buf: Buffer, start: number): Link | undefined {
  const end = buf.indexOf(0x0a, start)
  return end < 0 ? undefined : linkAt(buf, start, end)
}

/** Start and end of the last complete line before `pos` (pos: after the last newline read, or a torn line's start). */
function lastLineStart(buf: Buffer, pos: number): {start: number; end: number} | undefined {
  const end = pos - 1
  if (end < 0 || buf[end] !== 0x0a) return undefined
  const start = end === 0 ? 0 : buf.lastIndexOf(0x0a, end - 1) + 1
  return {start, end}
}
