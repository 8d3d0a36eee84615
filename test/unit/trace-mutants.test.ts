// Trace id resolution (src/protocol/trace.ts): header blanks and all-zero ids.
import {describe, expect, it} from 'vitest'

import {newTraceId, resolveTraceId} from '../../src/protocol/trace.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const OTHER = '0af7651916cd43dd8448eb211c80319c'

describe('resolveTraceId', () => {
  it('takes the trace id of a traceparent with surrounding blanks', () => {
    expect(resolveTraceId(`  00-${TRACE}-00f067aa0ba902b7-01 `, undefined)).toBe(TRACE)
  })

  it('ignores a traceparent whose trace id is all zeros, falling back to X-Cycles-Trace-Id', () => {
    expect(resolveTraceId(`00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, OTHER)).toBe(OTHER)
  })

  it('ignores a traceparent whose span id is all zeros', () => {
    expect(resolveTraceId(`00-${TRACE}-${'0'.repeat(16)}-01`, OTHER)).toBe(OTHER)
  })
})

describe('newTraceId over more than one pool of random bytes', () => {
  it('600 ids (the pool holds 256) are all 32 lowercase hex and all distinct', () => {
    const ids = Array.from({length: 600}, () => newTraceId())
    expect(ids.every((id) => /^[0-9a-f]{32}$/.test(id))).toBe(true)
    expect(new Set(ids).size).toBe(600)
  })
})
