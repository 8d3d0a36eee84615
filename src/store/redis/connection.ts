// Connection plumbing of the Redis store: which failures mean "store unavailable", bounded waits,
// closing, and URLs with their password hidden for messages.
import type {Redis} from 'ioredis'
import {ReplyError} from 'ioredis'

import {StoreUnavailableError} from '../errors.js'

const TRANSIENT_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOSCRIPT)/

export function toStoreError(error: unknown): Error {
  if (error instanceof StoreUnavailableError) return error
  if (error instanceof ReplyError && !TRANSIENT_REPLY.test((error as Error).message)) return error as Error
  return new StoreUnavailableError(`redis unavailable: ${(error as Error)?.message ?? String(error)}`, error)
}

export async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StoreUnavailableError(message)), ms)
      }),
    ])
  } finally {
    if (timer) clearTimeout(timer)
  }
}

export async function quit(r: Redis): Promise<void> {
  try {
    if (r.status === 'ready') await withTimeout(r.quit(), 1000, 'quit timed out')
  } catch {
    // fall through to disconnect
  }
  r.disconnect()
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@')
}
