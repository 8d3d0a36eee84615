// A CRC-32 on every line of the journal and the snapshot, so that damage which still parses as JSON
// (a flipped digit, a line overwritten by another valid one) is caught too. The checksum is the
// line's first field and covers every byte after it:
//   {"c":"1a2b3c4d","t":1764000000000,"tx":{...}}
//              covers ^------------------------^ (UTF-8 bytes, up to and without the newline)
// so each line stays one JSON object (jq reads the files as they are).
import zlib from 'node:zlib'

const PREFIX = '{"c":"'
const PREFIX_BYTES = Buffer.from(PREFIX)
/** `{"c":"` + 8 hex digits + `",` */
const HEADER_LENGTH = PREFIX.length + 8 + 2
const QUOTE = 0x22
const COMMA = 0x2c

/** node:zlib has crc32 from Node 20.15; older Node 20 releases use the table below (same CRC-32/ISO-HDLC). */
const crc32: (data: string | Uint8Array, value?: number) => number =
  typeof (zlib as {crc32?: unknown}).crc32 === 'function' ? (zlib as unknown as {crc32: typeof crc32}).crc32 : crc32Table

let table: Uint32Array | undefined
export function crc32Table(data: string | Uint8Array, value = 0): number {
  if (!table) {
    table = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c >>> 0
    }
  }
  const bytes = typeof data === 'string' ? Buffer.from(data) : data
  let crc = ~value >>> 0
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8)
  return ~crc >>> 0
}

export {crc32}

const hex8 = (n: number) => n.toString(16).padStart(8, '0')

/**
 * The parts of a JSON object line (first part starting with `{`, joined they are the line without
 * its newline) with the checksum put in front. Parts are never joined here: a stored response body
 * is checksummed and written as it is.
 */
export function withChecksum(parts: readonly string[]): string[] {
  const first = parts[0]
  if (!first.startsWith('{') || first.startsWith('{}')) throw new Error('a checksummed line must be a non-empty JSON object')
  const rest = first.slice(1)
  let crc = crc32(rest)
  for (let i = 1; i < parts.length; i++) crc = crc32(parts[i], crc)
  const out = [`${PREFIX}${hex8(crc)}",${rest}`]
  for (let i = 1; i < parts.length; i++) out.push(parts[i])
  return out
}

/** True when the line begins like a checksummed line (whether or not the checksum matches). */
export function looksChecksummed(line: Uint8Array): boolean {
  return line.length >= PREFIX_BYTES.length && Buffer.from(line.buffer, line.byteOffset, PREFIX_BYTES.length).equals(PREFIX_BYTES)
}

/** Why the line's checksum does not hold, or undefined when it does. */
export function checksumProblem(line: Buffer): string | undefined {
  if (!looksChecksummed(line) || line.length < HEADER_LENGTH + 1 || line[HEADER_LENGTH - 2] !== QUOTE || line[HEADER_LENGTH - 1] !== COMMA) {
    return 'no checksum where the line should start with {"c":"<8 hex digits>",'
  }
  const stored = line.toString('latin1', PREFIX.length, PREFIX.length + 8)
  if (!/^[0-9a-f]{8}$/.test(stored)) return `the checksum field "${stored}" is not 8 hex digits`
  const computed = hex8(crc32(line.subarray(HEADER_LENGTH)))
  if (computed !== stored) return `checksum mismatch: the line says ${stored}, its bytes give ${computed}`
  return undefined
}
