// Budget runbook flows: funding and freezing with the safety rails (scope/unit/amount checked
// before any call, current state shown, confirmation for disruptive operations, an idempotency
// key generated and printed for every funding call).
import {randomUUID} from 'node:crypto'

import type {AdminClient, FundingResponse, LedgerWire} from '../client/admin-client.js'
import {checkScope, tenantOfScope} from '../cli/scope-input.js'
import {CliError, EXIT} from '../cli/errors.js'
import {MICROCENTS_PER_USD, formatAmount, parseUnit, resolveAmount} from '../cli/money.js'
import {budgetDetail} from '../cli/render.js'
import type {Unit} from '../protocol/types.js'

export type FundingOperation = 'CREDIT' | 'DEBIT' | 'RESET' | 'RESET_SPENT' | 'REPAY_DEBT'

/** Operations that take money away or rewrite the ledger ask for confirmation. */
export const DISRUPTIVE: ReadonlySet<FundingOperation> = new Set(['DEBIT', 'RESET', 'RESET_SPENT'])

/** Operations for which an amount of 0 changes nothing (RESET to 0 does). */
const ZERO_IS_NO_OP: ReadonlySet<FundingOperation> = new Set(['CREDIT', 'DEBIT', 'REPAY_DEBT'])
const MICROCENTS_PER_CENT = Number(MICROCENTS_PER_USD / 100n)

export interface FlowIO {
  /** Diagnostics (stderr). */
  note(line: string): void
  confirm(action: string): Promise<void>
  json: boolean
}

export interface BudgetAddress {
  scope: string
  unit: Unit
}

export function budgetAddress(flags: {scope: string; unit: string}, note?: (l: string) => void): BudgetAddress {
  return {scope: checkScope(flags.scope, note), unit: parseUnit(flags.unit)}
}

export interface FundingInput {
  operation: FundingOperation
  scope: string
  unit: string
  amount?: string
  usd?: string
  spent?: string
  reason?: string
  idempotencyKey?: string
}

export interface FundingOutcome {
  operation: FundingOperation
  scope: string
  unit: Unit
  idempotency_key: string
  before: LedgerWire
  result: FundingResponse
}

export async function fundBudget(client: () => AdminClient, input: FundingInput, io: FlowIO): Promise<FundingOutcome> {
  // Everything local first: a typo never reaches the server.
  const {scope, unit} = budgetAddress(input, io.note)
  const amount = resolveAmount(unit, input)!
  if (amount === 0 && ZERO_IS_NO_OP.has(input.operation)) {
    throw new CliError('USAGE', `${input.operation} of 0 would change nothing: give a positive --amount or --usd`, {exit: EXIT.USAGE})
  }
  let spent: number | undefined
  if (input.spent !== undefined) spent = resolveAmount(unit, {amount: input.spent})
  const idempotencyKey = input.idempotencyKey ?? `cli-${input.operation.toLowerCase()}-${randomUUID()}`
  const admin = client()

  const before = await admin.lookupBudget(scope, unit)
  if (!io.json) {
    io.note(budgetDetail(before))
    io.note(`${input.operation} ${formatAmount(amount, unit)}${spent === undefined ? '' : `, spent → ${formatAmount(spent, unit)}`}`)
  }
  if (DISRUPTIVE.has(input.operation)) await io.confirm(`${input.operation} ${formatAmount(amount, unit)} on ${scope} ${unit}`)
  else if (unit === 'USD_MICROCENTS' && amount < MICROCENTS_PER_CENT) {
    // --amount is in microcents: "--amount 5" is $0.00000005, almost surely meant as dollars.
    await io.confirm(`${input.operation} ${formatAmount(amount, unit)}, less than one cent, on ${scope} (did you mean --usd ${amount}?)`)
  }
  io.note(`idempotency key: ${idempotencyKey} (re-run with --idempotency-key ${idempotencyKey} to retry safely)`)
  const body: Record<string, unknown> = {operation: input.operation, amount: {unit, amount}, idempotency_key: idempotencyKey}
  if (spent !== undefined) body.spent = {unit, amount: spent}
  if (input.reason) body.reason = input.reason
  const result = await admin.fundBudget(tenantOfScope(scope), scope, unit, body)
  return {operation: input.operation, scope, unit, idempotency_key: idempotencyKey, before, result}
}

export async function setFrozen(client: () => AdminClient, flags: {scope: string; unit: string; reason?: string}, frozen: boolean, io: FlowIO): Promise<{before: LedgerWire; after: LedgerWire}> {
  const {scope, unit} = budgetAddress(flags, io.note)
  const admin = client()
  const before = await admin.lookupBudget(scope, unit)
  if (!io.json) io.note(budgetDetail(before))
  if (frozen) await io.confirm(`freeze ${scope} ${unit} (new reservations are denied BUDGET_FROZEN until unfrozen)`)
  const after = await admin.setFrozen(frozen, scope, unit, flags.reason)
  return {before, after}
}
