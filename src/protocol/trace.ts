// Trace id on the way in: a valid W3C traceparent wins, then X-Cycles-Trace-Id, else a fresh one.
// A malformed header is treated as absent, never as a reason to reject.
import {randomFillSync} from 'node:crypto'

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/
const TRACE_ID = /^[0-9a-f]{32}$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)

export function resolveTraceId(traceparent: string | undefined, cyclesTraceId: string | undefined): string {
  if (traceparent) {
    const m = TRACEPARENT.exec(traceparent.trim())
    if (m && m[1] !== ZERO_TRACE && m[2] !== ZERO_SPAN) return m[1]
  }
  if (cyclesTraceId && TRACE_ID.test(cyclesTraceId) && cyclesTraceId !== ZERO_TRACE) return cyclesTraceId
  return newTraceId()
}

// Random bytes are drawn 4 KiB at a time: one syscall per 256 trace ids on the hot path.
const pool = Buffer.alloc(4096)
let offset = pool.length

export function newTraceId(): string {
  for (;;) {
    if (offset + 16 > pool.length) {
      randomFillSync(pool)
      offset = 0
    }
    const id = pool.toString('hex', offset, offset + 16)
    offset += 16
    if (id !== ZERO_TRACE) return id
  }
}
