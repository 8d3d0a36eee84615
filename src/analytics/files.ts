// Resolve ingest inputs (files, folders, globs; plain or .gz) and scan a file for the physical line
// numbers and text of the records the JSON reader could not use.
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'

import {CliError, EXIT} from '../cli/errors.js'

const LOG_FILE = /\.(jsonl|ndjson|json|log)(\.gz)?$/i

export interface InputFile {
  path: string
  size: number
  mtime_ms: number
}

function hasGlob(p: string): boolean {
  return /[*?[\]{}]/.test(p)
}

/** A glob (`*`, `**`, `?`, `{a,b}`) as an anchored regular expression over '/'-separated paths. */
export function globToRegExp(glob: string): RegExp {
  let out = ''
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        out += glob[i + 2] === '/' ? '(?:.*/)?' : '.*'
        i += glob[i + 2] === '/' ? 2 : 1
      } else out += '[^/]*'
    } else if (ch === '?') out += '[^/]'
    else if (ch === '{') {
      const end = glob.indexOf('}', i)
      if (end < 0) out += '\\{'
      else {
        out += `(?:${glob
          .slice(i + 1, end)
          .split(',')
          .map((s) => s.replace(/[.+^$()|[\]\\]/g, '\\$&'))
          .join('|')})`
        i = end
      }
    } else out += /[.+^$()|[\]\\]/.test(ch) ? `\\${ch}` : ch
  }
  return new RegExp(`^${out}$`)
}

function walk(dir: string, out: string[]): void {
  for (const entry of fs.readdirSync(dir, {withFileTypes: true})) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) walk(full, out)
    else if (entry.isFile()) out.push(full)
  }
}

/** Expand inputs to a sorted, de-duplicated list of files. Folders yield their log files recursively. */
export function resolveInputs(inputs: string[]): InputFile[] {
  const found = new Set<string>()
  for (const input of inputs) {
    if (!hasGlob(input)) {
      let stat: fs.Stats
      try {
        stat = fs.statSync(input)
      } catch {
        throw new CliError('INPUT_NOT_FOUND', `no such file or folder: ${input}`, {
          exit: EXIT.NOT_FOUND,
          suggestions: ['pass decision log files, folders (e.g. .cycles/decisions) or quoted globs like "logs/**/*.jsonl"'],
        })
      }
      if (stat.isDirectory()) {
        const files: string[] = []
        walk(input, files)
        for (const f of files) if (LOG_FILE.test(f)) found.add(path.resolve(f))
      } else found.add(path.resolve(input))
      continue
    }
    const normalized = input.split(path.sep).join('/')
    const parts = normalized.split('/')
    const firstGlob = parts.findIndex((p) => hasGlob(p))
    const base = parts.slice(0, firstGlob).join('/') || (normalized.startsWith('/') ? '/' : '.')
    const re = globToRegExp(path.posix.resolve(base.split(path.sep).join('/'), parts.slice(firstGlob).join('/')))
    const files: string[] = []
    if (fs.existsSync(base) && fs.statSync(base).isDirectory()) walk(base, files)
    const matched = files.map((f) => path.resolve(f)).filter((f) => re.test(f.split(path.sep).join('/')))
    if (matched.length === 0) {
      throw new CliError('INPUT_NOT_FOUND', `no files match ${input}`, {exit: EXIT.NOT_FOUND, suggestions: ['check the pattern; quote it so the shell does not expand it']})
    }
    for (const f of matched) found.add(f)
  }
  return [...found].sort().map((p) => {
    const stat = fs.statSync(p)
    return {path: p, size: stat.size, mtime_ms: stat.mtimeMs}
  })
}

/** fingerprint() of a file no larger than 64 KiB whose first `size` bytes are `bytes` (read once by the caller). */
export function fingerprintBytes(bytes: Buffer): string {
  if (bytes.length > 65_536) throw new Error('fingerprintBytes: more than 64 KiB')
  return createHash('sha256').update(String(bytes.length)).update(bytes).digest('hex').slice(0, 32)
}

/** Cheap identity of the first `size` bytes of a file: size plus hashes of their first and last 64 KiB. */
export function fingerprint(file: string, size: number): string {
  const hash = createHash('sha256')
  hash.update(String(size))
  const fd = fs.openSync(file, 'r')
  try {
    const chunk = Buffer.alloc(Math.min(65_536, size))
    readFully(fd, chunk, 0)
    hash.update(chunk)
    if (size > 65_536) {
      readFully(fd, chunk, size - chunk.length)
      hash.update(chunk)
    }
  } finally {
    fs.closeSync(fd)
  }
  return hash.digest('hex').slice(0, 32)
}

function readFully(fd: number, buffer: Buffer, position: number): void {
  let done = 0
  while (done < buffer.length) {
    const n = fs.readSync(fd, buffer, done, buffer.length - done, position + done)
    if (n === 0) break
    done += n
  }
}

/** Offset just past the last '\n' in the first `size` bytes (0 when there is none). */
export function completeLinesEnd(file: string, size: number): number {
  const fd = fs.openSync(file, 'r')
  try {
    const chunk = Buffer.alloc(65_536)
    let end = size
    while (end > 0) {
      const start = Math.max(0, end - chunk.length)
      const view = chunk.subarray(0, end - start)
      readFully(fd, view, start)
      const at = view.lastIndexOf(10)
      if (at >= 0) return start + at + 1
      end = start
    }
    return 0
  } finally {
    fs.closeSync(fd)
  }
}

/** Bytes [start, end) of a file (a torn tail: small, or cut to `max`). */
export function readRange(file: string, start: number, end: number, max = Number.POSITIVE_INFINITY): Buffer {
  const fd = fs.openSync(file, 'r')
  try {
    const out = Buffer.alloc(Math.min(end - start, max))
    readFully(fd, out, start)
    return out
  } finally {
    fs.closeSync(fd)
  }
}

/** Count '\n' bytes in the first `size` bytes of a file. */
export function countNewlines(file: string, size: number): number {
  const fd = fs.openSync(file, 'r')
  try {
    const chunk = Buffer.alloc(1 << 20)
    let n = 0
    for (let pos = 0; pos < size; pos += chunk.length) {
      const view = chunk.subarray(0, Math.min(chunk.length, size - pos))
      readFully(fd, view, pos)
      for (let at = view.indexOf(10); at >= 0; at = view.indexOf(10, at + 1)) n++
    }
    return n
  } finally {
    fs.closeSync(fd)
  }
}

/** Copy the first `size` bytes of `from` to a new file `to` (the consistent prefix of a live file). */
export function copyPrefix(from: string, to: string, size: number): void {
  fs.copyFileSync(from, to)
  // the file may have grown since `size` was measured: cut the copy back to it
  if (fs.statSync(to).size < size) throw new Error(`${from} shrank while being copied (was ${size} bytes)`)
  fs.truncateSync(to, size)
}

export interface Decompressed {
  /** Bytes of complete lines written to the output file. */
  bytes: number
  /** Newlines in them (= physical lines). */
  lines: number
  /** Text after the last newline (a torn last line), if any. */
  tail: Buffer
  /** Why decompression stopped early (truncated or corrupt input), if it did. */
  error?: string
}

/**
 * Gunzip `from` into `to`, keeping only complete lines. A truncated or corrupt input keeps what
 * decompressed before the damage: zlib hands out every byte it could inflate before it fails.
 */
export async function gunzipLines(from: string, to: string, maxTail = 65_536): Promise<Decompressed> {
  const out = fs.openSync(to, 'w')
  let written = 0
  let lines = 0
  let pending: Buffer[] = []
  let pendingBytes = 0
  let error: string | undefined
  try {
    const input = fs.createReadStream(from)
    const gunzip = zlib.createGunzip()
    const done = new Promise<void>((resolve) => {
      gunzip.on('data', (chunk: Buffer) => {
        const last = chunk.lastIndexOf(10)
        if (last < 0) {
          if (pendingBytes < maxTail) pending.push(chunk)
          pendingBytes += chunk.length
          return
        }
        const head = pending.length > 0 ? Buffer.concat([...pending, chunk.subarray(0, last + 1)]) : chunk.subarray(0, last + 1)
        fs.writeSync(out, head)
        written += head.length
        for (let at = head.indexOf(10); at >= 0; at = head.indexOf(10, at + 1)) lines++
        pending = last + 1 < chunk.length ? [chunk.subarray(last + 1)] : []
        pendingBytes = chunk.length - last - 1
      })
      gunzip.on('end', resolve)
      gunzip.on('error', (e) => {
        error = e.message
        resolve()
      })
      input.on('error', (e) => {
        error = e.message
        resolve()
      })
    })
    input.pipe(gunzip)
    await done
    input.destroy()
  } finally {
    fs.closeSync(out)
  }
  const tail = Buffer.concat(pending)
  return {bytes: written, lines, tail: tail.subarray(0, maxTail), error}
}

export interface LocatedLine {
  ordinal: number
  line: number
  raw: string
}

// What DuckDB's newline-delimited JSON reader skips as a blank line: only whitespace between two
// '\n' (space, tab, CR, form feed, vertical tab). Lines are split on '\n' alone — never on a lone
// CR, as node:readline would, which shifted every later line number after binary garbage.
const WHITESPACE = new Set([0x20, 0x09, 0x0d, 0x0c, 0x0b])

function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) if (!WHITESPACE.has(b)) return false
  return true
}

/** A line's text as stored: UTF-8 decoded (invalid bytes as U+FFFD), the CR of a CRLF dropped, cut to `maxRaw`. */
export function lineText(bytes: Buffer, maxRaw = 2000): string {
  const body = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, -1) : bytes
  const text = body.toString('utf8')
  return text.length > maxRaw ? `${text.slice(0, maxRaw)}…` : text
}

/**
 * The JSON reader numbers the non-blank lines of a (plain) file. Map the wanted ordinals back to
 * physical 1-based line numbers and their text, scanning bytes.
 */
export async function locateLines(file: string, ordinals: number[], maxRaw = 2000): Promise<LocatedLine[]> {
  const wanted = new Set(ordinals)
  const out: LocatedLine[] = []
  if (wanted.size === 0) return out
  const keepBytes = maxRaw * 4 + 4
  let physical = 0
  let ordinal = 0
  // the line being read: its first keepBytes bytes, whether it has a non-blank byte, whether it has any byte
  let head: Buffer[] = []
  let headBytes = 0
  let nonBlank = false
  let started = false
  const addPiece = (piece: Buffer) => {
    started = true
    if (!nonBlank && !isBlank(piece)) nonBlank = true
    if (headBytes < keepBytes) {
      const kept = piece.subarray(0, keepBytes - headBytes)
      head.push(kept)
      headBytes += kept.length
    }
  }
  const finishLine = (): boolean => {
    physical++
    if (nonBlank) {
      ordinal++
      if (wanted.has(ordinal)) {
        out.push({ordinal, line: physical, raw: lineText(Buffer.concat(head), maxRaw)})
        if (out.length === wanted.size) return true
      }
    }
    head = []
    headBytes = 0
    nonBlank = false
    started = false
    return false
  }
  for await (const chunk of fs.createReadStream(file, {highWaterMark: 1 << 20}) as AsyncIterable<Buffer>) {
    let from = 0
    for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, from)) {
      addPiece(chunk.subarray(from, at))
      from = at + 1
      if (finishLine()) return out
    }
    if (from < chunk.length) addPiece(chunk.subarray(from))
  }
  if (started) finishLine()
  return out
}
