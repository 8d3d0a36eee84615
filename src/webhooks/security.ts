// Webhook URL validation against the server's WebhookSecurityConfig (SSRF guard): https only unless
// allow_http, the host's addresses outside every blocked CIDR range, and the URL matching one of the
// allowed patterns when any are set. The config is a doc of the store, so every instance applies
// the same one; absent, the spec's defaults apply (private ranges blocked, allow_http false). Local
// development with a receiver on 127.0.0.1 opts in explicitly with PUT /v1/admin/config/webhook-security.
// The rules are applied twice: when a URL is registered, and again at every send, where the
// connection is made only to addresses that pass (`connectLookup`): a host that resolved to a public
// address when it was registered and to a private one now (DNS rebinding), or a range blocked since,
// is not sent to.
import {BlockList, type LookupFunction, isIP} from 'node:net'
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
  const url = checkUrlRules(raw, config)
  const host = hostOf(url)
  let addresses: string[]
  if (isIP(host)) addresses = [host]
  else {
    try {
      addresses = await resolve(host)
    } catch {
      throw new ProtocolError('WEBHOOK_URL_INVALID', `Host ${host} does not resolve`)
    }
  }
  const blocked = blockedAddress(addresses, blockListOf(config.blocked_cidr_ranges))
  if (blocked !== undefined) throw new ProtocolError('WEBHOOK_URL_INVALID', blockedMessage(host, blocked))
  return url.href
}

/** Every rule that needs no name resolution: scheme, credentials, allowed patterns, and an IP-literal host's range. */
export function checkUrlRules(raw: string, config: SecurityConfig): URL {
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
  const host = hostOf(url)
  if (isIP(host) && blockedAddress([host], blockListOf(config.blocked_cidr_ranges)) !== undefined) {
    throw new ProtocolError('WEBHOOK_URL_INVALID', blockedMessage(host, host))
  }
  return url
}

/**
 * The name resolution a send connects with: the host's addresses, refused when any is in a blocked
 * range, so the address checked is the address connected to (Node calls it for host names only;
 * IP literals were checked by checkUrlRules).
 */
export function connectLookup(config: SecurityConfig, resolve: HostLookup = dnsLookup): LookupFunction {
  const blocked = blockListOf(config.blocked_cidr_ranges)
  const lookup = (hostname: string, options: {family?: number | string; all?: boolean}, callback: (...args: unknown[]) => void): void => {
    resolve(hostname).then(
      (addresses) => {
        const hit = blockedAddress(addresses, blocked)
        if (hit !== undefined) return callback(Object.assign(new Error(blockedMessage(hostname, hit)), {code: 'EBLOCKED'}))
        const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0
        const entries = addresses.map((address) => ({address, family: isIP(address)})).filter((e) => e.family !== 0 && (family === 0 || e.family === family))
        if (entries.length === 0) return callback(Object.assign(new Error(`${hostname} does not resolve`), {code: 'ENOTFOUND'}))
        if (options.all) callback(null, entries)
        else callback(null, entries[0].address, entries[0].family)
      },
      (error: unknown) => callback(error),
    )
  }
  return lookup as unknown as LookupFunction
}

const hostOf = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '')

function blockedAddress(addresses: readonly string[], blocked: BlockList): string | undefined {
  return addresses.find((a) => blocked.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4'))
}

const blockedMessage = (host: string, address: string): string =>
  `${host} resolves to ${address}, inside a blocked range of /v1/admin/config/webhook-security (private and loopback ranges are blocked by default)`

/** Validate a PUT body's ranges (the rest zod already checked). */
export function checkSecurityConfig(c: SecurityConfig): SecurityConfig {
  for (const r of c.blocked_cidr_ranges) {
    const parsed = parseCidr(r)
    if (typeof parsed === 'string') throw invalid(`Validation failed: blocked_cidr_ranges: ${parsed}`)
  }
  return c
}
