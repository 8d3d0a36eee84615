// `--book real|shadow|both` on `cycles budget list | show` (README "Two books"): which ledger of a
// budget to show. Our daemon marks a ledger with its book when one is asked for; a server that does
// not (a reference cycles-server-admin keeps no shadow book) would silently answer with the real one.
import type {BudgetBook, LedgerWire} from '../client/admin-client.js'
import {CliError, EXIT} from '../cli/errors.js'

export const BOOK_OPTIONS: readonly BudgetBook[] = ['real', 'shadow', 'both']

/** Refuse an answer that ignored `book` (only our daemon keeps a shadow book). */
export function assertBookServed(ledgers: LedgerWire[], book: BudgetBook): void {
  if (book === 'real') return
  const expected = book === 'shadow' ? 'shadow' : 'real'
  const ignored = ledgers.find((l) => l.book !== expected || (book === 'both' && l.shadow === undefined))
  if (ignored) {
    throw new CliError('NO_SHADOW_BOOK', `The admin server did not answer with the ${book === 'both' ? 'shadow and real books' : 'shadow book'} (only the cycles daemon keeps one)`, {
      exit: EXIT.ERROR,
      suggestions: ['Use --book real against a reference cycles-server-admin'],
    })
  }
}
