// Human rendering of both books of a budget side by side (`--book both`): the real book (what was
// spent, what enforcement acts on) next to the shadow book (what full enforcement would have let
// happen). Built on the tables and colours of render.ts.
import chalk from 'chalk'

import type {LedgerWire} from '../client/admin-client.js'
import {formatAmount, humanAmount} from './money.js'
import {documentLayout, pct, scopeText, statusText, table, utilizationOf} from './render.js'

const debtText = (l: LedgerWire) => (l.debt && l.debt.amount > 0 ? chalk.red(humanAmount(l.debt.amount, l.unit)) : '0')

export function budgetBookRows(ledgers: LedgerWire[]): string {
  return table(
    ['scope', 'unit', 'status', 'allocated', 'real used', 'real debt', 'shadow used', 'shadow debt'],
    ledgers.map((l) => [
      scopeText(l.scope),
      l.unit,
      statusText(l.status),
      humanAmount(l.allocated.amount, l.unit),
      pct(utilizationOf(l)),
      debtText(l),
      l.shadow ? pct(utilizationOf(l.shadow)) : '-',
      l.shadow ? debtText(l.shadow) : '-',
    ]),
  )
}

export function budgetBooksDetail(l: LedgerWire): string {
  const s = l.shadow
  const a = (x?: {amount: number}) => (x ? formatAmount(x.amount, l.unit) : '-')
  const row = (label: string, pick: (x: LedgerWire) => {amount: number} | undefined): Array<string> => [label, a(pick(l)), s ? a(pick(s)) : '-']
  return [
    `${chalk.bold('budget')}     ${scopeText(l.scope)} ${l.unit}  (${l.ledger_id})`,
    `status     ${statusText(l.status)}${l.is_over_limit ? chalk.red('  OVER LIMIT (real)') : ''}${s?.is_over_limit ? chalk.yellow('  over limit (shadow)') : ''}`,
    table(
      ['', 'real book', 'shadow book'],
      [
        row('allocated', (x) => x.allocated),
        row('remaining', (x) => x.remaining),
        row('reserved', (x) => x.reserved),
        row('spent', (x) => x.spent),
        row('debt', (x) => x.debt),
        row('overdraft', (x) => x.overdraft_limit),
        ['used', pct(utilizationOf(l)), s ? pct(utilizationOf(s)) : '-'],
      ],
      documentLayout(),
    ),
  ].join('\n')
}
