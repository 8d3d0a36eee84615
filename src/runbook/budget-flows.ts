// Budget runbook flows: funding and freezing with the safety rails (scope/unit/amount checked
// before any call, current state shown, confirmation for disruptive operations, an idempotency
// key generated and printed for every funding call).
import {randomUUID} from 'node:crypto'

import type {AdminClient, FundingResponse, LedgerWire} from '../client/admin-client.js'
import {checkScope, tenantOfScope} from '../cli/scope-input.js'
import {CliError, EXIT} from '../cli/errors.js'
import {MICROCENTS_PER_USD, formatAmount, parseUnit, resolveAmount} from '../cli/money.js'
import {budgetDetail} from '../cli/render.js'
import {budgetNotFound, budgetedAncestor, isBudgetNotFound, tenantBudgets} from './missing-budget.js'
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

  const before = await lookupOrGuide(admin, scope, unit)
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

/** Look a budget up; a 404 names the nearest existing budgets and how to create this one. */
export async function lookupOrGuide(admin: AdminClient, scope: string, unit: Unit, extra: string[] = [], book?: 'shadow' | 'both'): Promise<LedgerWire> {
  try {
    return await admin.lookupBudget(scope, unit, book)
  } catch (error) {
    if (!isBudgetNotFound(error)) throw error
    throw budgetNotFound(scope, unit, await tenantBudgets(admin, scope), extra, error)
  }
}

export interface FreezeInput {
  scope: string
  unit: string
  reason?: string
  /** Freezing a scope without a budget: freeze its nearest budgeted ancestor instead (asked on a TTY). */
  ancestor?: boolean
}

export async function setFrozen(client: () => AdminClient, flags: FreezeInput, frozen: boolean, io: FlowIO & {interactive?: boolean}): Promise<{before: LedgerWire; after: LedgerWire; ancestor_of?: string}> {
  const {scope, unit} = budgetAddress(flags, io.note)
  const admin = client()
  const tenant = tenantOfScope(scope)
  const revokeHint = `the other way to stop one agent: revoke its key (cycles api-key list --tenant ${tenant}, then cycles api-key revoke <key_id>)`
  let target = scope
  let before: LedgerWire
  try {
    before = await admin.lookupBudget(scope, unit)
  } catch (error) {
    if (!isBudgetNotFound(error)) throw error
    const existing = await tenantBudgets(admin, scope)
    const ancestor = frozen ? budgetedAncestor(scope, unit, existing) : undefined
    // A runaway agent without a budget of its own: freezing the nearest budgeted ancestor stops it
    // (and everything else under that ancestor), so it is never done on --yes alone.
    if (!ancestor || (!flags.ancestor && !io.interactive)) {
      const offer = ancestor ? [`to stop it anyway, freeze its nearest budgeted ancestor ${ancestor.scope} (stops every agent under it): add --ancestor`] : []
      throw budgetNotFound(scope, unit, existing, [...offer, ...(frozen ? [revokeHint] : [])], error)
    }
    io.note(`${scope} has no ${unit} budget of its own; its nearest budgeted ancestor is ${ancestor.scope}`)
    io.note(revokeHint)
    target = ancestor.scope
    before = await admin.lookupBudget(target, unit)
    if (!io.json) io.note(budgetDetail(before))
    await io.confirm(`freeze the ancestor ${target} ${unit} instead (every agent under it is denied BUDGET_FROZEN until unfrozen)`)
    const after = await admin.setFrozen(true, target, unit, flags.reason ?? `stop ${scope} (no budget of its own)`)
    return {before, after, ancestor_of: scope}
  }
  if (!io.json) io.note(budgetDetail(before))
  if (frozen) await io.confirm(`freeze ${target} ${unit} (new reservations are denied BUDGET_FROZEN until unfrozen)`)
  const after = await admin.setFrozen(frozen, target, unit, flags.reason)
  return {before, after}
}
