// Exact bytes of canonicalJson and exact hashes of requestHash (src/protocol/canonical-json.ts): the
// idempotency contract depends on both, so they are pinned to literal strings here.
import {createHash} from 'node:crypto'
import {describe, expect, it} from 'vitest'

import {canonicalJson, payloadHash, requestHash} from '../../src/protocol/canonical-json.js'

const sha = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

describe('canonicalJson bytes', () => {
  it('writes scalars as JSON and undefined as null', () => {
    expect(canonicalJson(1)).toBe('1')
    expect(canonicalJson('a"b')).toBe('"a\\"b"')
    expect(canonicalJson(true)).toBe('true')
    expect(canonicalJson(null)).toBe('null')
    expect(canonicalJson(undefined)).toBe('null')
  })

  it('writes arrays in order, comma-separated, without a trailing element', () => {
    expect(canonicalJson([])).toBe('[]')
    expect(canonicalJson([3])).toBe('[3]')
    expect(canonicalJson([3, 'x', null])).toBe('[3,"x",null]')
  })

  it('sorts object keys at every level and separates members with commas', () => {
    expect(canonicalJson({})).toBe('{}')
    expect(canonicalJson({b: 1, a: 2})).toBe('{"a":2,"b":1}')
    expect(canonicalJson({z: [{y: 1, x: 2}], a: {d: {c: 1, b: 2}}})).toBe('{"a":{"d":{"b":2,"c":1}},"z":[{"x":2,"y":1}]}')
  })

  it('skips undefined members without leaving a stray comma', () => {
    expect(canonicalJson({a: undefined, b: 1, c: undefined, d: 2})).toBe('{"b":1,"d":2}')
  })

  it('hashes the canonical bytes', () => {
    expect(payloadHash({b: [1, 2], a: 'x'})).toBe(sha('{"a":"x","b":[1,2]}'))
  })
})

describe('requestHash', () => {
  it('sorts metadata deeply, keeping scalars and array order', () => {
    const req = {idempotency_key: 'k', metadata: {b: [3, {d: 1, c: 'x'}, null], a: 1}}
    expect(requestHash(req)).toBe(sha('{"idempotency_key":"k","metadata":{"a":1,"b":[3,{"c":"x","d":1},null]}}'))
  })

  it('sorts subject.dimensions in place', () => {
    const req = {idempotency_key: 'k', subject: {tenant: 't', dimensions: {z: '1', a: '2'}}}
    expect(requestHash(req)).toBe(sha('{"idempotency_key":"k","subject":{"tenant":"t","dimensions":{"a":"2","z":"1"}}}'))
  })

  it('sorts metrics.custom in place, keeping the other metrics', () => {
    const req = {idempotency_key: 'k', metrics: {tokens_input: 1, custom: {y: 2, x: {q: 1, p: 2}}}}
    expect(requestHash(req)).toBe(sha('{"idempotency_key":"k","metrics":{"tokens_input":1,"custom":{"x":{"p":2,"q":1},"y":2}}}'))
  })
})
