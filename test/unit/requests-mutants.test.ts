// Exact-value tests for the runtime request parsers (src/protocol/requests.ts), written against the
// mutants the last Stryker run left alive: limits at their boundary, the optional blocks each request
// type copies through, and the depth guards that keep a hostile body from blowing the stack.
import {describe, expect, it} from 'vitest'

import {ProtocolError} from '../../src/protocol/errors.js'
import {commitRequest, decisionRequest, eventCreateRequest, extendRequest, parseRequest, reservationCreateRequest} from '../../src/protocol/requests.js'

const subject = {tenant: 'acme'}
const action = {kind: 'llm.chat', name: 'x'}
const estimate = {unit: 'TOKENS', amount: 5}
const base = {idempotency_key: 'k', subject, action, estimate}

/** The INVALID_REQUEST message a body is rejected with (fails the test on any other outcome). */
function rejection(fn: () => unknown): string {
  let caught: unknown
  try {
    fn()
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(ProtocolError)
  expect((caught as ProtocolError).code).toBe('INVALID_REQUEST')
  return (caught as ProtocolError).message
}

/** `levels` objects nested in each other, the innermost holding `leaf`. */
function nested(levels: number, leaf: unknown = 'x'): Record<string, unknown> {
  let value: unknown = leaf
  for (let i = 0; i < levels; i++) value = {a: value}
  return value as Record<string, unknown>
}

describe('metadata depth limit (16 levels)', () => {
  it('accepts exactly 16 nested objects with a string leaf and rejects 17', () => {
    // A string leaf counts no level; a mutant treating it as an object sees 17+.
    expect(parseRequest(decisionRequest, {...base, metadata: nested(16)}).metadata).toEqual(nested(16))
    expect(rejection(() => parseRequest(decisionRequest, {...base, metadata: nested(17)}))).toBe('Validation failed: metadata: nested deeper than 16 levels')
  })

  it('treats a null leaf as a value, not an object', () => {
    expect(parseRequest(decisionRequest, {...base, metadata: nested(16, null)}).metadata).toEqual(nested(16, null))
  })

  it('answers INVALID_REQUEST for metadata nested far past the stack, without walking all of it', () => {
    const deep = nested(200_000)
    expect(rejection(() => parseRequest(decisionRequest, {...base, metadata: deep}))).toBe('Validation failed: metadata: nested deeper than 16 levels')
  })

  it('stops the lone-surrogate scan inside deeply nested arrays', () => {
    let deepArray: unknown = 'x'
    for (let i = 0; i < 200_000; i++) deepArray = [deepArray]
    expect(rejection(() => parseRequest(decisionRequest, {...base, metadata: {list: deepArray}}))).toBe('Validation failed: metadata: nested deeper than 16 levels')
  })
})

describe('subject.dimensions limit', () => {
  const dims = (n: number) => Object.fromEntries(Array.from({length: n}, (_, i) => [`d${i}`, 'v']))
  it('accepts exactly 16 dimensions', () => {
    expect(parseRequest(reservationCreateRequest, {...base, subject: {tenant: 'acme', dimensions: dims(16)}}).subject).toEqual({tenant: 'acme', dimensions: dims(16)})
  })
})

describe('action.tags', () => {
  const tags = (n: number) => Array.from({length: n}, (_, i) => `t${i}`)
  it('keeps up to 10 string tags', () => {
    expect(parseRequest(reservationCreateRequest, {...base, action: {...action, tags: tags(10)}}).action).toEqual({kind: 'llm.chat', name: 'x', tags: tags(10)})
    expect(parseRequest(reservationCreateRequest, {...base, action: {...action, tags: []}}).action).toEqual({kind: 'llm.chat', name: 'x', tags: []})
  })

  it('rejects an eleventh tag, a non-string tag, an over-long tag and a non-array', () => {
    expect(rejection(() => parseRequest(reservationCreateRequest, {...base, action: {...action, tags: tags(11)}}))).toBe('Validation failed: action.tags: at most 10 tags')
    expect(rejection(() => parseRequest(reservationCreateRequest, {...base, action: {...action, tags: ['a', 7]}}))).toBe('Validation failed: action.tags.1: expected a string')
    expect(rejection(() => parseRequest(reservationCreateRequest, {...base, action: {...action, tags: ['y'.repeat(65)]}}))).toBe('Validation failed: action.tags.0: at most 64 characters')
    expect(rejection(() => parseRequest(reservationCreateRequest, {...base, action: {...action, tags: 'a'}}))).toBe('Validation failed: action.tags: expected an array')
  })

  it('reports a lone surrogate inside the tag array by its index', () => {
    expect(rejection(() => parseRequest(reservationCreateRequest, {...base, action: {...action, tags: ['ok', '\uD800']}}))).toBe(
      'Validation failed: action.tags.1: contains a lone UTF-16 surrogate (not valid Unicode)',
    )
  })
})

describe('metrics (commit and event)', () => {
  const full = {tokens_input: 10, tokens_output: 20, latency_ms: 30, model_version: 'gpt-x', custom: {b: 1, a: {c: 'd'}}}

  it('copies every metrics field on commit', () => {
    expect(parseRequest(commitRequest, {idempotency_key: 'k', actual: estimate, metrics: full})).toStrictEqual({
      idempotency_key: 'k',
      actual: {unit: 'TOKENS', amount: 5},
      metrics: {tokens_input: 10, tokens_output: 20, latency_ms: 30, model_version: 'gpt-x', custom: {b: 1, a: {c: 'd'}}},
    })
  })

  it('adds no field the client left out', () => {
    expect(parseRequest(commitRequest, {idempotency_key: 'k', actual: estimate, metrics: {}})).toStrictEqual({idempotency_key: 'k', actual: {unit: 'TOKENS', amount: 5}, metrics: {}})
    expect(parseRequest(commitRequest, {idempotency_key: 'k', actual: estimate, metrics: {latency_ms: 0}}).metrics).toStrictEqual({latency_ms: 0})
  })

  it('validates each metrics field', () => {
    const commit = (metrics: unknown) => () => parseRequest(commitRequest, {idempotency_key: 'k', actual: estimate, metrics})
    expect(rejection(commit({tokens_output: -1}))).toBe('Validation failed: metrics.tokens_output: must be at least 0')
    expect(rejection(commit({latency_ms: 1.5}))).toBe('Validation failed: metrics.latency_ms: expected an integer')
    expect(rejection(commit({model_version: 3}))).toBe('Validation failed: metrics.model_version: expected a string')
    expect(rejection(commit({custom: []}))).toBe('Validation failed: metrics.custom: expected an object')
    expect(rejection(commit({custom: nested(17)}))).toBe('Validation failed: metrics.custom: nested deeper than 16 levels')
  })

  it('copies metrics, client_time_ms and metadata on an event', () => {
    const event = {idempotency_key: 'e', subject, action, actual: estimate, metrics: {tokens_input: 1}, client_time_ms: 1234, metadata: {m: 'v'}}
    expect(parseRequest(eventCreateRequest, event)).toStrictEqual({
      idempotency_key: 'e',
      subject: {tenant: 'acme'},
      action: {kind: 'llm.chat', name: 'x'},
      actual: {unit: 'TOKENS', amount: 5},
      overage_policy: 'ALLOW_IF_AVAILABLE',
      metrics: {tokens_input: 1},
      client_time_ms: 1234,
      metadata: {m: 'v'},
    })
  })
})

describe('metadata is kept on every request type that carries it', () => {
  it('decide', () => {
    expect(parseRequest(decisionRequest, {...base, metadata: {run: 'r1'}})).toStrictEqual({
      idempotency_key: 'k',
      subject: {tenant: 'acme'},
      action: {kind: 'llm.chat', name: 'x'},
      estimate: {unit: 'TOKENS', amount: 5},
      metadata: {run: 'r1'},
    })
  })

  it('commit', () => {
    expect(parseRequest(commitRequest, {idempotency_key: 'k', actual: estimate, metadata: {run: 'r2'}})).toStrictEqual({idempotency_key: 'k', actual: {unit: 'TOKENS', amount: 5}, metadata: {run: 'r2'}})
  })

  it('extend', () => {
    expect(parseRequest(extendRequest, {idempotency_key: 'k', extend_by_ms: 100, metadata: {run: 'r3'}})).toStrictEqual({idempotency_key: 'k', extend_by_ms: 100, metadata: {run: 'r3'}})
  })
})

describe('lone surrogates in keys', () => {
  it('name the object holding the key', () => {
    expect(rejection(() => parseRequest(decisionRequest, {...base, metadata: {'\uDC00': 1}}))).toBe('Validation failed: metadata: contains a lone UTF-16 surrogate (not valid Unicode) in a key')
  })

  it('name the body for a top-level key', () => {
    expect(rejection(() => parseRequest(decisionRequest, {...base, '\uD800': 1}))).toBe(
      'Validation failed: (body): contains a lone UTF-16 surrogate (not valid Unicode) in a key, (body): unknown field(s) \uD800',
    )
  })
})
