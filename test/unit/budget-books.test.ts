// `--book shadow|both` against a server that ignores `book` (a reference cycles-server-admin keeps no
// shadow book and answers with the real ledger): refused, instead of showing the real book as shadow.
import {describe, expect, it} from 'vitest'

import {CliError} from '../../src/cli/errors.js'
import type {LedgerWire} from '../../src/client/admin-client.js'
import {assertBookServed} from '../../src/runbook/budget-books.js'

const ledger = (extra: Partial<LedgerWire> = {}): LedgerWire => ({
  ledger_id: 'l1', scope: 'tenant:acme', unit: 'TOKENS', allocated: {unit: 'TOKENS', amount: 1}, remaining: {unit: 'TOKENS', amount: 1}, status: 'ACTIVE', ...extra,
})

describe('assertBookServed', () => {
  it('accepts what our daemon answers', () => {
    expect(() => assertBookServed([ledger()], 'real')).not.toThrow()
    expect(() => assertBookServed([ledger({book: 'shadow'})], 'shadow')).not.toThrow()
    expect(() => assertBookServed([ledger({book: 'real', shadow: ledger({book: 'shadow'})})], 'both')).not.toThrow()
    expect(() => assertBookServed([], 'both')).not.toThrow()
  })

  it('refuses an answer that ignored the book', () => {
    for (const [items, book] of [[[ledger()], 'shadow'], [[ledger()], 'both'], [[ledger({book: 'real'})], 'both'], [[ledger({book: 'real'})], 'shadow']] as const) {
      let error: unknown
      try {
        assertBookServed([...items], book)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(CliError)
      expect((error as CliError).code).toBe('NO_SHADOW_BOOK')
    }
  })
})
