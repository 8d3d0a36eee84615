// Admin-key checks: the presented X-Admin-API-Key is compared with the configured one in constant
// time (sha256 digests of both, so neither length nor content leaks through timing).
import {createHash, timingSafeEqual} from 'node:crypto'

import type {ApiKey} from '../protocol/types.js'

export type KeyMatcher = (presented: string) => boolean

export function adminKeyMatcher(configured: string): KeyMatcher {
  const expected = createHash('sha256').update(configured, 'utf8').digest()
  return (presented: string) => {
    if (typeof presented !== 'string' || presented === '') return false
    const actual = createHash('sha256').update(presented, 'utf8').digest()
    return timingSafeEqual(actual, expected)
  }
}

/** An API key authenticates while ACTIVE and not past its expiry (runtime and admin planes alike). */
export function keyUsable(key: ApiKey, now: number): boolean {
  return key.status === 'ACTIVE' && (key.expires_at_ms === undefined || key.expires_at_ms > now)
}
