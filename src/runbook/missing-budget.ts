// A budget that does not exist: say which existing one was probably meant, how to create it, and —
// for a runaway agent without a budget of its own — which budgeted ancestor can be frozen instead.
import {distance} from 'fastest-levenshtein'

import type {AdminClient, LedgerWire} from '../client/admin-client.js'
import {CliError, EXIT} from '../cli/errors.js'
import {tenantOfScope} from '../cli/scope-input.js'

export interface BudgetRef {
  scope: string
  unit: string
}

/**
 * The nearest existing budgets to `scope`: probable typos first (a few edits away), then ancestors
 * (nearest first), then the rest by edit distance; the same unit before other units.
 */
export function nearestBudgets(scope: string, unit: string, existing: BudgetRef[], max = 3): BudgetRef[] {
  const typo = Math.max(2, Math.floor(scope.length / 10))
  const ranked = existing
    .filter((b) => b.scope !== scope || b.unit !== unit)
    .map((b) => {
      const edits = distance(scope, b.scope)
      const group = edits <= typo ? 0 : scope.startsWith(`${b.scope}/`) ? 1 : 2
      const within = group === 1 ? -b.scope.length : edits
      return {b, key: [group, within, b.unit === unit ? 0 : 1]}
    })
    .sort((x, y) => x.key[0] - y.key[0] || x.key[1] - y.key[1] || x.key[2] - y.key[2] || x.b.scope.localeCompare(y.b.scope))
  return ranked.slice(0, max).map((r) => r.b)
}

/** The nearest ancestor of `scope` with a budget in `unit`. */
export function budgetedAncestor(scope: string, unit: string, existing: BudgetRef[]): BudgetRef | undefined {
  return existing
    .filter((b) => b.unit === unit && scope.startsWith(`${b.scope}/`))
    .sort((a, b) => b.scope.length - a.scope.length)[0]
}

/** The tenant's budgets (real book), or [] when they cannot be listed (the 404 is still the answer). */
export async function tenantBudgets(admin: AdminClient, scope: string): Promise<BudgetRef[]> {
  try {
    const ledgers: LedgerWire[] = await admin.all((cursor) => admin.listBudgets({tenant_id: tenantOfScope(scope), limit: 100, cursor}), 5000)
    return ledgers.map((l) => ({scope: l.scope, unit: l.unit}))
  } catch {
    return []
  }
}

export const isBudgetNotFound = (error: unknown): error is CliError => error instanceof CliError && error.code === 'BUDGET_NOT_FOUND'

/** The 404 with a way forward: the nearest existing budgets and the command that creates this one. */
export function budgetNotFound(scope: string, unit: string, existing: BudgetRef[], extra: string[] = [], server?: CliError): CliError {
  const near = nearestBudgets(scope, unit, existing)
  return new CliError('BUDGET_NOT_FOUND', `no budget for ${scope} in ${unit}`, {
    exit: EXIT.NOT_FOUND,
    suggestions: [
      ...near.map((b) => `did you mean: --scope ${b.scope} --unit ${b.unit}?`),
      ...(near.length === 0 ? [`tenant ${tenantOfScope(scope)} has no budgets: cycles budget list --tenant ${tenantOfScope(scope)}`] : []),
      ...extra,
      `to create it: cycles budget create --scope ${scope} --unit ${unit} --amount <integer ${unit}>`,
    ],
    // The server's details (status, request and trace ids: the `--json` contract) stay; the way forward is added.
    details: {...server?.details, scope, unit, nearest: near},
  })
}
