// Resolve ingest inputs (files, folders, globs; plain or .gz) and scan a file for the physical line
// numbers and text of the records the JSON reader could not use.
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
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

/** Cheap identity of a file's content: size plus hashes of its first and last 64 KiB. */
export function fingerprint(file: InputFile): string {
  const hash = createHash('sha256')
  hash.update(String(file.size))
  const fd = fs.openSync(file.path, 'r')
  try {
    const chunk = Buffer.alloc(Math.min(65_536, file.size))
    fs.readSync(fd, chunk, 0, chunk.length, 0)
    hash.update(chunk)
    if (file.size > 65_536) {
      fs.readSync(fd, chunk, 0, chunk.length, file.size - chunk.length)
      hash.update(chunk)
    }
  } finally {
    fs.closeSync(fd)
  }
  return hash.digest('hex').slice(0, 32)
}

export interface LocatedLine {
  ordinal: number
  line: number
  raw: string
}

const BLANK = /^[ \t\r]*$/

/**
 * The JSON reader numbers the non-blank lines of a file (blank and whitespace-only lines are
 * skipped). Map the wanted ordinals back to physical 1-based line numbers and their text.
 */
export async function locateLines(file: string, ordinals: number[], maxRaw = 2000): Promise<LocatedLine[]> {
  const wanted = new Set(ordinals)
  const out: LocatedLine[] = []
  if (wanted.size === 0) return out
  let stream: NodeJS.ReadableStream = fs.createReadStream(file)
  if (/\.gz$/i.test(file)) stream = stream.pipe(zlib.createGunzip())
  const rl = readline.createInterface({input: stream, crlfDelay: Number.POSITIVE_INFINITY})
  let physical = 0
  let ordinal = 0
  for await (const text of rl) {
    physical++
    if (BLANK.test(text)) continue
    ordinal++
    if (wanted.has(ordinal)) {
      out.push({ordinal, line: physical, raw: text.length > maxRaw ? `${text.slice(0, maxRaw)}…` : text})
      if (out.length === wanted.size) {
        rl.close()
        break
      }
    }
  }
  return out
}
