// Canonical JSON (RFC 8785 style: sorted keys, no whitespace) for idempotency payload hashes,
// so "omitted default" and "explicit default" requests hash alike once defaults are filled in.
import {createHash} from 'node:crypto'

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i])
    return out + ']'
  }
  const keys = Object.keys(value as object).sort()
  let out = '{'
  let first = true
  for (const key of keys) {
    const v = (value as Record<string, unknown>)[key]
    if (v === undefined) continue
    out += (first ? '' : ',') + JSON.stringify(key) + ':' + canonicalJson(v)
    first = false
  }
  return out + '}'
}

export function payloadHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
