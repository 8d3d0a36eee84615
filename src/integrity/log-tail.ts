// The last durable line of an append-only JSONL file: the last one ended by a newline. Bytes after
// the last newline are a torn write (a crash mid-line) and were never acknowledged.
import fs from 'node:fs'

const CHUNK = 64 * 1024

export interface FileTail {
  /** The last complete line (without its newline); undefined when the file has none. */
  line?: string
  /** Bytes after the last newline (a torn last line). */
  tornBytes: number
}

export function lastDurableLine(file: string): FileTail {
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {tornBytes: 0}
    throw error
  }
  try {
    const size = fs.fstatSync(fd).size
    // Read backwards in growing windows until the window holds a newline before the last one.
    for (let window = Math.min(CHUNK, size); window > 0; window = Math.min(window * 4, size)) {
      const buffer = Buffer.allocUnsafe(window)
      const read = fs.readSync(fd, buffer, 0, window, size - window)
      const bytes = buffer.subarray(0, read)
      const lastNewline = bytes.lastIndexOf(0x0a)
      if (lastNewline < 0) {
        if (window === size) return {tornBytes: size}
        continue
      }
      const tornBytes = bytes.length - lastNewline - 1
      const start = lastNewline === 0 ? -1 : bytes.lastIndexOf(0x0a, lastNewline - 1)
      if (start < 0 && window < size) continue
      return {line: bytes.toString('utf8', start + 1, lastNewline), tornBytes}
    }
    return {tornBytes: 0}
  } finally {
    fs.closeSync(fd)
  }
}
