// `cycles overview`: the admin overview plus the budgets near their cap and the frozen ones.
import type {AdminClient, LedgerWire, Overview} from '../client/admin-client.js'
import {CliError, EXIT} from '../cli/errors.js'

export interface Attention {
  threshold: number
  overview: Overview
  high_utilization: LedgerWire[]
  frozen: LedgerWire[]
}

export async function attention(admin: AdminClient, threshold: number): Promise<Attention> {
  if (!(threshold > 0 && threshold <= 1)) throw new CliError('USAGE', '--threshold must be a fraction in (0, 1]', {exit: EXIT.USAGE})
  const [overview, high, frozen] = await Promise.all([
    admin.overview(),
    admin.listBudgets({utilization_min: threshold, status: 'ACTIVE', sort_by: 'utilization', sort_dir: 'desc', limit: 20}),
    admin.listBudgets({status: 'FROZEN', limit: 20}),
  ])
  return {threshold, overview, high_utilization: high.items, frozen: frozen.items}
}
