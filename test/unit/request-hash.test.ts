import {describe, expect, it} from 'vitest'

import {requestHash} from '../../src/protocol/canonical-json.js'
import {parseRequest, reservationCreateRequest} from '../../src/protocol/requests.js'

const hash = (body: unknown) => requestHash(parseRequest(reservationCreateRequest, body))
const base = {
  idempotency_key: 'k',
  subject: {tenant: 'acme', agent: 'a', dimensions: {run_id: 'r', z: '1'}},
  action: {kind: 'llm.chat', name: 'x'},
  estimate: {unit: 'TOKENS', amount: 5},
  metadata: {b: {y: 1, x: [2, {d: 1, c: 2}]}, a: true},
}

describe('requestHash (idempotency payload hash)', () => {
  it('ignores key order everywhere, including free-form maps', () => {
    const reordered = {
      metadata: {a: true, b: {x: [2, {c: 2, d: 1}], y: 1}},
      estimate: {amount: 5, unit: 'TOKENS'},
      action: {name: 'x', kind: 'llm.chat'},
      subject: {dimensions: {z: '1', run_id: 'r'}, agent: 'a', tenant: 'acme'},
      idempotency_key: 'k',
    }
    expect(hash(reordered)).toBe(hash(base))
  })

  it('treats an omitted default like the explicit default', () => {
    expect(hash({...base, dry_run: false, grace_period_ms: 5000})).toBe(hash(base))
    expect(hash({...base, dry_run: true})).not.toBe(hash(base))
    expect(hash({...base, grace_period_ms: 4000})).not.toBe(hash(base))
  })

  it('changes with any value', () => {
    expect(hash({...base, estimate: {unit: 'TOKENS', amount: 6}})).not.toBe(hash(base))
    expect(hash({...base, metadata: {...base.metadata, a: false}})).not.toBe(hash(base))
    expect(hash({...base, subject: {...base.subject, dimensions: {run_id: 'r2', z: '1'}}})).not.toBe(hash(base))
  })
})
