// Human rendering for the runbook commands: tables (cli-table3), colour by meaning (chalk honours
// NO_COLOR), budgets and funding results with raw and human amounts.
import chalk from 'chalk'

import type {AuditEntryWire, FundingResponse, LedgerWire} from '../client/admin-client.js'
import {type Layout, drawTable, layoutFor} from '../output/table.js'

export {documentLayout} from '../output/table.js'
import {formatAmount, humanAmount} from './money.js'

if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') chalk.level = 0

/** A runbook table, drawn for where stdout goes (box fitted to the terminal, records when narrow, TSV when piped). */
export function table(head: string[], rows: Array<Array<string | number>>, layout: Layout = layoutFor()): string {
  return drawTable(layout.kind === 'box' ? head.map((h) => chalk.bold(h)) : head, rows.map((r) => r.map(String)), layout)
}

/** One audit entry on one line (`audit tail` streams these). */
export function auditLine(l: AuditEntryWire): string {
  const resource = `${l.resource_type ?? ''}${l.resource_id ? `:${l.resource_id}` : ''}`
  const status = l.status >= 400 ? chalk.red(String(l.status)) : String(l.status)
  const who = typeof l.metadata?.actor === 'string' ? `by ${l.metadata.actor}` : ''
  const why = typeof l.metadata?.reason === 'string' ? `— ${l.metadata.reason}` : ''
  return [l.timestamp, l.tenant_id, l.operation, resource, status, l.error_code ?? '', who, why, l.trace_id ?? ''].filter((x) => x !== '').join('  ')
}

export const scopeText = (s: string) => chalk.cyan(s)

export function statusText(status: string): string {
  if (status === 'ACTIVE') return chalk.green(status)
  if (status === 'FROZEN' || status === 'SUSPENDED') return chalk.yellow(status)
  if (status === 'CLOSED' || status === 'REVOKED' || status === 'EXPIRED') return chalk.red(status)
  return status
}

export function utilizationOf(l: LedgerWire): number {
  const alloc = l.allocated.amount
  const used = alloc - l.remaining.amount
  return alloc > 0 ? used / alloc : used > 0 ? Number.POSITIVE_INFINITY : 0
}

export function pct(x: number): string {
  if (!Number.isFinite(x)) return '∞'
  const s = `${(x * 100).toFixed(1)}%`
  return x >= 1 ? chalk.red(s) : x >= 0.9 ? chalk.yellow(s) : s
}

export function budgetRows(ledgers: LedgerWire[], layout: Layout = layoutFor()): string {
  return table(
    ['scope', 'unit', 'status', 'allocated', 'remaining', 'used', 'debt'],
    ledgers.map((l) => [
      scopeText(l.scope),
      l.unit,
      statusText(l.status),
      humanAmount(l.allocated.amount, l.unit),
      humanAmount(l.remaining.amount, l.unit),
      pct(utilizationOf(l)),
      l.debt && l.debt.amount > 0 ? chalk.red(humanAmount(l.debt.amount, l.unit)) : '0',
    ]),
    layout,
  )
}

export function budgetDetail(l: LedgerWire): string {
  const a = (x?: {amount: number}) => (x ? formatAmount(x.amount, l.unit) : '-')
  return [
    `${chalk.bold('budget')}     ${scopeText(l.scope)} ${l.unit}  (${l.ledger_id})`,
    `status     ${statusText(l.status)}${l.is_over_limit ? chalk.red('  OVER LIMIT') : ''}`,
    `allocated  ${a(l.allocated)}`,
    `remaining  ${a(l.remaining)}`,
    `reserved   ${a(l.reserved)}`,
    `spent      ${a(l.spent)}`,
    `debt       ${a(l.debt)}`,
    `overdraft  ${a(l.overdraft_limit)}`,
    `used       ${pct(utilizationOf(l))}`,
  ].join('\n')
}

export function fundingDetail(r: FundingResponse, unit: string): string {
  const line = (label: string, prev?: {amount: number}, next?: {amount: number}) =>
    prev && next ? `${label.padEnd(10)} ${formatAmount(prev.amount, unit)} → ${chalk.bold(formatAmount(next.amount, unit))}` : undefined
  if (r.replayed) {
    // The idempotency key was used before: the figures are those of the original change.
    return `${chalk.bold(r.operation)} already applied${r.timestamp ? ` at ${r.timestamp}` : ''}, nothing changed (same idempotency key)`
  }
  return [
    `${chalk.bold(r.operation)} applied`,
    line('allocated', r.previous_allocated, r.new_allocated),
    line('remaining', r.previous_remaining, r.new_remaining),
    line('spent', r.previous_spent, r.new_spent),
    line('debt', r.previous_debt, r.new_debt),
  ]
    .filter(Boolean)
    .join('\n')
}

/** Who, what, on what, how much, why: one row per audit entry (the rest is in --json). */
export function auditRows(logs: AuditEntryWire[], layout: Layout = layoutFor()): string {
  return table(
    ['time', 'actor', 'operation', 'resource', 'amount', 'reason', 'status'],
    logs.map((l) => {
      const m = l.metadata ?? {}
      const text = (v: unknown) => (typeof v === 'string' ? v : '')
      // Funding rows name their operation (CREDIT, RESET …) in metadata.
      const operation = text(m.operation) && l.operation === 'fundBudget' ? `${l.operation} ${text(m.operation)}` : l.operation
      const status = l.status >= 400 ? chalk.red(`${l.status}${l.error_code ? ` ${l.error_code}` : ''}`) : String(l.status)
      return [l.timestamp.replace(/\.\d{3}Z$/, 'Z'), text(m.actor) || '–', operation, `${l.resource_type ?? ''}${l.resource_id ? `:${l.resource_id}` : ''}`, auditAmount(m) || '–', text(m.reason) || '–', status]
    }),
    layout,
  )
}

/** The amount an audit row moved or set (funding amount, a new budget's allocation), in its unit. */
function auditAmount(m: Record<string, unknown>): string {
  const unit = typeof m.unit === 'string' ? m.unit : undefined
  const amount = typeof m.amount === 'number' ? m.amount : typeof m.allocated === 'number' ? m.allocated : undefined
  if (amount === undefined || !unit) return ''
  const moved = typeof m.previous_allocated === 'number' && typeof m.new_allocated === 'number' && m.previous_allocated !== m.new_allocated
  return `${humanAmount(amount, unit)}${moved ? ` (${humanAmount(m.previous_allocated as number, unit)} → ${humanAmount(m.new_allocated as number, unit)})` : ''}`
}
