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

/**
 * The visible key_prefix: the secret's scheme (`cyc_live_` / `cyc_test_`) and nothing of its random
 * part. It used to be the first 14 characters, i.e. 5 characters of every secret; keys stored that
 * way are trimmed on output too. key_id is what identifies a key.
 */
export function publicKeyPrefix(secretOrStoredPrefix: string): string {
  return /^cyc_(live|test)_/.exec(secretOrStoredPrefix)?.[0] ?? ''
}
