import {describe, expect, it} from 'vitest'

import {ProtocolError} from '../../src/protocol/errors.js'
import {commitRequest, eventCreateRequest, extendRequest, parseRequest, releaseRequest, reservationCreateRequest} from '../../src/protocol/requests.js'

const base = {idempotency_key: 'k', subject: {tenant: 'acme'}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'TOKENS', amount: 5}}

function message(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as ProtocolError).code).toBe('INVALID_REQUEST')
    return (error as ProtocolError).message
  }
  throw new Error('accepted')
}

describe('request parsers', () => {
  it('fill defaults and put keys in spec order', () => {
    const req = parseRequest(reservationCreateRequest, {dry_run: true, ...base, metadata: {b: 1}})
    expect(Object.keys(req)).toEqual(['idempotency_key', 'subject', 'action', 'estimate', 'grace_period_ms', 'dry_run', 'metadata'])
    expect(req).toMatchObject({grace_period_ms: 5000, dry_run: true})
    expect(parseRequest(eventCreateRequest, {idempotency_key: 'k', subject: {agent: 'a'}, action: base.action, actual: {unit: 'TOKENS', amount: 1}}).overage_policy).toBe('ALLOW_IF_AVAILABLE')
  })

  it.each<[string, () => unknown, RegExp]>([
    ['unknown top-level field', () => parseRequest(reservationCreateRequest, {...base, observe_mode: 'OBSERVE'}), /\(body\): unknown field\(s\) observe_mode/],
    ['unknown nested field', () => parseRequest(reservationCreateRequest, {...base, estimate: {unit: 'TOKENS', amount: 1, currency: 'x'}}), /estimate: unknown field\(s\) currency/],
    ['missing subject', () => parseRequest(reservationCreateRequest, {...base, subject: undefined}), /subject: expected an object/],
    ['amount as string', () => parseRequest(reservationCreateRequest, {...base, estimate: {unit: 'TOKENS', amount: '5'}}), /estimate\.amount: expected an integer/],
    ['unsafe integer', () => parseRequest(reservationCreateRequest, {...base, estimate: {unit: 'TOKENS', amount: 2 ** 53}}), /estimate\.amount: must be at most 9007199254740991/],
    ['negative', () => parseRequest(commitRequest, {idempotency_key: 'k', actual: {unit: 'TOKENS', amount: -1}}), /actual\.amount: must be at least 0/],
    ['bad unit', () => parseRequest(reservationCreateRequest, {...base, estimate: {unit: 'EUR', amount: 1}}), /estimate\.unit: expected one of USD_MICROCENTS/],
    ['blank kind', () => parseRequest(reservationCreateRequest, {...base, action: {kind: ' ', name: 'x'}}), /action\.kind: must not be blank/],
    ['too many dimensions', () => parseRequest(reservationCreateRequest, {...base, subject: {tenant: 'a', dimensions: Object.fromEntries(Array.from({length: 17}, (_, i) => [`d${i}`, 'v']))}}), /subject\.dimensions: at most 16/],
    ['ttl out of range', () => parseRequest(reservationCreateRequest, {...base, ttl_ms: 10}), /ttl_ms: must be at least 1000/],
    ['dry_run not boolean', () => parseRequest(reservationCreateRequest, {...base, dry_run: 'yes'}), /dry_run: expected a boolean/],
    ['empty key', () => parseRequest(releaseRequest, {idempotency_key: ''}), /idempotency_key: at least 1 character/],
    ['extend_by_ms missing', () => parseRequest(extendRequest, {idempotency_key: 'k'}), /extend_by_ms: expected an integer/],
    ['deep metadata', () => parseRequest(commitRequest, {idempotency_key: 'k', actual: {unit: 'TOKENS', amount: 1}, metadata: JSON.parse('{"a":'.repeat(20) + '1' + '}'.repeat(20))}), /metadata: nested deeper than 16/],
    ['not an object', () => parseRequest(reservationCreateRequest, [1, 2]), /\(body\): expected an object/],
  ])('%s', (_name, fn, expected) => {
    expect(message(fn)).toMatch(expected)
  })

  it('reports several problems at once, at most five', () => {
    const msg = message(() => parseRequest(reservationCreateRequest, {idempotency_key: 1, subject: 2, action: 3, estimate: 4, ttl_ms: 'x', dry_run: 'y'}))
    expect(msg.split(', ')).toHaveLength(5)
    expect(msg).toMatch(/^Validation failed: idempotency_key: expected a string, subject: expected an object/)
  })
})
