// The group-commit call, encoded by hand: one Buffer with the whole RESP request, written to the
// socket as it is. ioredis would concatenate every argument into one string (a byte-length scan per
// argument, then a UTF-8 pass over the whole rope when the socket writes it); a call carries tens of
// kilobytes under load, so that was a good part of the daemon's CPU per request.
import {createHash} from 'node:crypto'

import {Command} from 'ioredis'

/** Reused between calls; every call's bytes are copied out into a Buffer of their own. */
let scratch = Buffer.allocUnsafe(64 * 1024)
const SCRATCH_KEEP = 4 * 1024 * 1024
let at = 0

function ensure(extra: number): void {
  if (at + extra <= scratch.length) return
  let size = scratch.length * 2
  while (size < at + extra) size *= 2
  const bigger = Buffer.allocUnsafe(size)
  scratch.copy(bigger, 0, 0, at)
  scratch = bigger
}

/** "$<n>\r\n" or "*<n>\r\n" at `at`. */
function header(mark: number, n: number): void {
  scratch[at++] = mark
  at += scratch.write(String(n), at, 'latin1')
  scratch[at++] = 13
  scratch[at++] = 10
}

const digits = (n: number): number => (n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10_000 ? 4 : n < 100_000 ? 5 : n < 1_000_000 ? 6 : String(n).length)

/** One bulk string. The header is sized for an all-ASCII string and moved when it is not. */
function bulk(s: string): void {
  const n = s.length
  ensure(n * 3 + 16)
  const guess = digits(n) + 3
  const bytes = scratch.write(s, at + guess, 'utf8')
  const actual = bytes === n ? guess : digits(bytes) + 3
  if (actual !== guess) scratch.copy(scratch, at + actual, at + guess, at + guess + bytes)
  header(36, bytes)
  at += bytes
  scratch[at++] = 13
  scratch[at++] = 10
}

/** The RESP encoding of `name` with the strings of `parts`, in order (the arrays are not concatenated). */
export function encodeCommand(name: string, ...parts: ReadonlyArray<readonly string[]>): Buffer {
  at = 0
  ensure(16)
  let n = 1
  for (const part of parts) n += part.length
  header(42, n)
  bulk(name)
  for (const part of parts) for (let i = 0; i < part.length; i++) bulk(part[i])
  const out = Buffer.from(scratch.subarray(0, at))
  // One very large call (a bulk import, say) should not keep its buffer for good.
  if (scratch.length > SCRATCH_KEEP) scratch = Buffer.allocUnsafe(64 * 1024)
  return out
}

export const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')

/** An ioredis command whose request bytes are already encoded (see encodeCommand). */
export class EncodedCommand extends Command {
  constructor(
    name: string,
    private readonly encoded: Buffer,
  ) {
    super(name, [], {replyEncoding: 'utf8'})
  }

  override toWritable(): Buffer {
    return this.encoded
  }
}
