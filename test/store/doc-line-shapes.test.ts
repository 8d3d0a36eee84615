// Recovery's shape checks for doc writes (journal) and stored docs (snapshot head): a line of
// another shape would replay into a silently corrupted doc, so it must be refused with its place.
import {describe, expect, it} from 'vitest'

import {journalEntryProblem, snapshotHeadProblem} from '../../src/store/embedded/line-shapes.js'
import {MemoryState} from '../../src/store/memory-state.js'

const entry = (docs: unknown[]) => ({t: 1000, tx: {docs}})
const head = (docs: unknown[]) => ({journal_through: 0, reservations: 0, idempotency: 0, ledgers: [], tenants: [], apiKeys: [], docs})

describe('journal and snapshot shape checks for docs', () => {
  it('accepts every write the store journals', () => {
    const docs = [
      {collection: 'c', id: 'a', set: {x: [1]}, add: {n: 1}, expectVersion: 0, expires_at_ms: 5000},
      {collection: 'c', id: 'a', delete: true, expectVersion: 2},
      {collection: 'c', id: 'b', add: {}},
    ]
    expect(journalEntryProblem(entry(docs))).toBeUndefined()
    // What the embedded store's own journal holds for them replays to the same docs.
    const state = new MemoryState()
    expect(state.apply({docs: docs.slice(0, 1) as never}, 1000)).toMatchObject({ok: true})
    expect(snapshotHeadProblem(head([...state.docs.all()]))).toBeUndefined()
  })

  it.each([
    [{collection: 'c', id: 'a', add: 'abc'}, 'tx.docs[1]: "add" is not an object of numbers'],
    [{collection: 'c', id: 'a', add: {n: '1'}}, 'tx.docs[1]: "add" is not an object of numbers'],
    [{collection: 'c', id: 'a', set: [1, 2]}, 'tx.docs[1]: "set" is not an object'],
    [{collection: 'c', id: 'a', delete: 'yes'}, 'tx.docs[1]: "delete" is not true'],
    [{collection: 'c', id: 'a', expectVersion: 1.5}, 'tx.docs[1]: "expectVersion" is not an integer'],
    [{collection: 'c', id: 'a', expires_at_ms: '5000'}, 'tx.docs[1]: "expires_at_ms" is not a number'],
    [{collection: 'c', id: 7}, 'tx.docs[1]: "id" is not a string'],
    [{id: 'a'}, 'tx.docs[1]: "collection" is not a string'],
  ])('refuses the doc write %j', (bad, problem) => {
    expect(journalEntryProblem(entry([{collection: 'c', id: 'ok', set: {}}, bad]))).toBe(problem)
  })

  it.each([
    [{collection: 'c', id: 'a', field: 'n', op: 'gt', value: 1}, 'tx.docConditions[0]: "op" is not lt, lte, gte or eq'],
    [{collection: 'c', id: 'a', field: 'n', op: 'lt', value: '1'}, 'tx.docConditions[0]: "value" is not a number'],
    [{collection: 'c', id: 'a', op: 'lt', value: 1}, 'tx.docConditions[0]: "field" is not a string'],
  ])('refuses the doc condition %j', (bad, problem) => {
    expect(journalEntryProblem({t: 1000, tx: {docConditions: [bad]}})).toBe(problem)
  })

  it.each([
    [{collection: 'c', id: 'a', version: 0, value: {}}, 'docs[0]: "version" is not a positive integer'],
    [{collection: 'c', id: 'a', version: 1, value: []}, 'docs[0]: "value" is not an object'],
    [{collection: 'c', id: 'a', version: 1, value: {}, expires_at_ms: null}, 'docs[0]: "expires_at_ms" is not a number'],
    [{collection: 'c', version: 1, value: {}}, 'docs[0]: "id" is not a string'],
  ])('refuses the stored doc %j in a snapshot', (bad, problem) => {
    expect(snapshotHeadProblem(head([bad]))).toBe(problem)
  })
})
