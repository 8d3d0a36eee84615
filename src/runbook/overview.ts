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

/** The v0.1.26 governance section of `cycles overview`: only what is non-zero, so a server without it prints nothing. */
export interface GovernanceSummary {
  lines: string[]
  /** Top quota counters by utilization: scope, action kind, window, used/limit, utilization. */
  offenders: Array<[string, string, string, string, string]>
}

export function governanceSummary(o: Overview): GovernanceSummary {
  const lines: string[] = []
  const observing = o.tenant_counts.in_observe_mode ?? 0
  if (observing > 0) lines.push(`Tenants not enforcing (observe_mode other than ENFORCE): ${observing}`)
  const q = o.quota_health
  const near = q?.counters_above_80pct ?? 0
  const atLimit = q?.counters_at_limit ?? 0
  if (near > 0 || atLimit > 0) lines.push(`Action quotas: ${near} counter(s) at ≥ 80% of their limit, ${atLimit} at the limit`)
  const acl = o.access_control_stats
  const allow = acl?.policies_with_allow_list ?? 0
  const deny = acl?.policies_with_deny_list ?? 0
  if (allow > 0 || deny > 0) lines.push(`Access control: ${allow} polic${allow === 1 ? 'y' : 'ies'} with an allow list, ${deny} with a deny list`)
  const reasons = Object.entries(o.recent_denials_by_reason ?? {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
  if (reasons.length > 0) lines.push(`Denials by reason (last hour): ${reasons.map(([r, n]) => `${r} ${n}`).join(', ')}`)
  const offenders = near > 0 || atLimit > 0 ? (q?.top_offenders ?? []) : []
  return {
    lines,
    offenders: offenders.map((c) => [c.scope, c.action_kind, c.window ?? '', `${c.used}/${c.limit}`, `${((c.utilization_pct ?? c.used / c.limit) * 100).toFixed(0)}%`]),
  }
}
