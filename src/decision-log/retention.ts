// Decision-log retention (`--log-retention`): closed segments older than an age, and the oldest
// closed segments beyond a total size, are deleted. A segment still being written is never touched.
import fs from 'node:fs'
import path from 'node:path'

export interface RetentionPolicy {
  /** Delete closed segments whose last record is older than this. */
  maxAgeMs?: number
  /** Delete the oldest closed segments while the directory's segments take more than this. */
  maxTotalBytes?: number
}

export class RetentionSyntaxError extends Error {
  readonly code = 'LOG_RETENTION_INVALID'
  constructor(text: string) {
    super(`--log-retention expects an age (30m, 12h, 7d, 2w), a total size (500MB, 10GiB) or both separated by a comma, such as 7d,10GiB; got '${text}'`)
    this.name = 'RetentionSyntaxError'
  }
}

const AGE_MS: Record<string, number> = {m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000}
// Sizes always end in `b`, so `m` stays minutes.
const SIZE: Record<string, number> = {b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4}

/** A size such as `512MB` or `2GiB` in bytes; undefined when the text is not one. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(text.trim())
  const unit = m?.[2].toLowerCase()
  if (!m || unit === undefined || !(unit in SIZE) || Number(m[1]) <= 0) return undefined
  return Math.round(Number(m[1]) * SIZE[unit])
}

/** `7d`, `10GiB`, `7d,10GiB` (either order). */
export function parseRetention(text: string): RetentionPolicy {
  const policy: RetentionPolicy = {}
  const parts = text.split(',').map((p) => p.trim().toLowerCase())
  if (parts.length === 0 || parts.length > 2) throw new RetentionSyntaxError(text)
  for (const part of parts) {
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/.exec(part)
    if (!m) throw new RetentionSyntaxError(text)
    const value = Number(m[1])
    const unit = m[2]
    if (unit in AGE_MS) {
      if (policy.maxAgeMs !== undefined || value <= 0) throw new RetentionSyntaxError(text)
      policy.maxAgeMs = Math.round(value * AGE_MS[unit])
    } else if (unit in SIZE) {
      if (policy.maxTotalBytes !== undefined || value <= 0) throw new RetentionSyntaxError(text)
      policy.maxTotalBytes = Math.round(value * SIZE[unit])
    } else throw new RetentionSyntaxError(text)
  }
  return policy
}

const SEGMENT = /^decisions-(\d{10})-([^-]+)-(\d+)\.jsonl$/

export interface RetentionContext {
  nowMs: number
  /** This writer's instance id and the segment it writes now (never deleted). */
  instanceId: string
  currentPath: string
}

export interface RetentionResult {
  deleted: string[]
  deletedBytes: number
  keptBytes: number
}

const hourOf = (ms: number) => new Date(ms).toISOString().slice(0, 13).replace(/[-:T]/g, '')

/**
 * Delete what the policy says is too old or too much. A segment counts as closed when it is one of
 * this instance's earlier segments, or another instance's from an earlier hour (every writer leaves
 * a segment of a past hour before writing again); anything else may still be open and stays.
 */
export function applyRetention(dir: string, policy: RetentionPolicy, context: RetentionContext): RetentionResult {
  const result: RetentionResult = {deleted: [], deletedBytes: 0, keptBytes: 0}
  if (policy.maxAgeMs === undefined && policy.maxTotalBytes === undefined) return result
  const thisHour = hourOf(context.nowMs)
  const current = path.basename(context.currentPath)
  const closed: Array<{file: string; size: number; mtimeMs: number}> = []
  let total = 0
  for (const name of fs.readdirSync(dir)) {
    const m = SEGMENT.exec(name)
    if (!m) continue // not a segment: never ours to delete
    let stat: fs.Stats
    try {
      stat = fs.statSync(path.join(dir, name))
    } catch {
      continue // deleted meanwhile (another instance's retention)
    }
    total += stat.size
    const isClosed = name !== current && (m[2] === context.instanceId || m[1] < thisHour)
    if (isClosed) closed.push({file: path.join(dir, name), size: stat.size, mtimeMs: stat.mtimeMs})
  }
  closed.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.file < b.file ? -1 : 1))
  for (const segment of closed) {
    const tooOld = policy.maxAgeMs !== undefined && segment.mtimeMs < context.nowMs - policy.maxAgeMs
    const tooMuch = policy.maxTotalBytes !== undefined && total > policy.maxTotalBytes
    if (!tooOld && !tooMuch) continue
    try {
      fs.rmSync(segment.file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') continue
    }
    total -= segment.size
    result.deleted.push(segment.file)
    result.deletedBytes += segment.size
  }
  result.keptBytes = total
  return result
}
