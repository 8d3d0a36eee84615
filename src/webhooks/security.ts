// Webhook URL validation against the server's WebhookSecurityConfig (SSRF guard): https only unless
// allow_http, the host's addresses outside every blocked CIDR range, and the URL matching one of the
// allowed patterns when any are set. The config is a doc of the store, so every instance applies
// the same one; absent, the spec's defaults apply (private ranges blocked, allow_http false). Local
// development with a receiver on 127.0.0.1 opts in explicitly with PUT /v1/admin/config/webhook-security.
import {BlockList, isIP} from 'node:net'
import {lookup} from 'node:dns/promises'

import {ProtocolError, invalid} from '../protocol/errors.js'
import type {Store} from '../store/types.js'
import {CONTROL_COLLECTION, SECURITY_DOC} from './model.js'

export interface SecurityConfig {
  blocked_cidr_ranges: string[]
  allowed_url_patterns: string[]
  allow_http: boolean
}

export const DEFAULT_SECURITY: SecurityConfig = {
  blocked_cidr_ranges: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '169.254.0.0/16', '::1/128', 'fc00::/7'],
  allowed_url_patterns: [],
  allow_http: false,
}

/** Resolves a host name to its addresses (injectable so tests need no DNS). */
export type HostLookup = (host: string) => Promise<string[]>
export const dnsLookup: HostLookup = async (host) => (await lookup(host, {all: true})).map((a) => a.address)

export async function readSecurity(store: Store): Promise<{config: SecurityConfig; version: number}> {
  const [doc] = await store.getDocs(CONTROL_COLLECTION, [SECURITY_DOC])
  if (!doc) return {config: DEFAULT_SECURITY, version: 0}
  return {config: {...DEFAULT_SECURITY, ...(doc.value as Partial<SecurityConfig>)}, version: doc.version}
}

/** A CIDR range as BlockList wants it, or the reason it is not one. */
export function parseCidr(text: string): {address: string; prefix: number; type: 'ipv4' | 'ipv6'} | string {
  const [address, bits, extra] = text.trim().split('/')
  const family = isIP(address)
  const prefix = Number(bits)
  if (extra !== undefined || family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) return `not a CIDR range: ${text}`
  return {address, prefix, type: family === 4 ? 'ipv4' : 'ipv6'}
}

export function blockListOf(ranges: readonly string[]): BlockList {
  const list = new BlockList()
  for (const r of ranges) {
    const c = parseCidr(r)
    if (typeof c !== 'string') list.addSubnet(c.address, c.prefix, c.type)
  }
  return list
}

/** `*` matches any run of characters; everything else literally. */
export function globMatches(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i')
  return re.test(text)
}

/** Throws 400 WEBHOOK_URL_INVALID naming the rule the URL breaks. */
export async function checkWebhookUrl(raw: string, config: SecurityConfig, resolve: HostLookup = dnsLookup): Promise<string> {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ProtocolError('WEBHOOK_URL_INVALID', `Not a URL: ${raw}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ProtocolError('WEBHOOK_URL_INVALID', `Webhook URLs must be https:// (got ${url.protocol})`)
  if (url.protocol === 'http:' && !config.allow_http) {
    throw new ProtocolError('WEBHOOK_URL_INVALID', 'Webhook URLs must be https://; plain http:// needs allow_http in /v1/admin/config/webhook-security')
  }
  if (url.username || url.password) throw new ProtocolError('WEBHOOK_URL_INVALID', 'Webhook URLs may not carry credentials; use custom headers')
  if (config.allowed_url_patterns.length > 0 && !config.allowed_url_patterns.some((p) => globMatches(p, url.href))) {
    throw new ProtocolError('WEBHOOK_URL_INVALID', `URL matches none of allowed_url_patterns (${config.allowed_url_patterns.join(', ')})`)
  }
  const host = url.hostname.replace(/^\[|\]$/g, '')
  let addresses: string[]
  if (isIP(host)) addresses = [host]
  else {
    try {
      addresses = await resolve(host)
    } catch {
      throw new ProtocolError('WEBHOOK_URL_INVALID', `Host ${host} does not resolve`)
    }
  }
  const blocked = blockListOf(config.blocked_cidr_ranges)
  for (const a of addresses) {
    if (blocked.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4')) {
      throw new ProtocolError('WEBHOOK_URL_INVALID', `${host} resolves to ${a}, inside a blocked range of /v1/admin/config/webhook-security (private and loopback ranges are blocked by default)`)
    }
  }
  return url.href
}

/** Validate a PUT body's ranges (the rest zod already checked). */
export function checkSecurityConfig(c: SecurityConfig): SecurityConfig {
  for (const r of c.blocked_cidr_ranges) {
    const parsed = parseCidr(r)
    if (typeof parsed === 'string') throw invalid(`Validation failed: blocked_cidr_ranges: ${parsed}`)
  }
  return c
}
