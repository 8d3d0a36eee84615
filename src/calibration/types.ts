// Row types shared by calibrate() and its helpers (accounting, estimates); kept here so the
// helpers need not import calibrate.ts. Re-exported from calibrate.ts.
import type {Band} from '../analytics/bands.js'
import type {Tier} from '../protocol/types.js'
import type {Action, Verdict} from './verdict.js'

export type BudgetStatusKind = 'calibrated' | 'insufficient_data' | 'config_error' | 'no_traffic'

export interface BudgetRow {
  scope: string
  unit: string
  tiers: Tier[]
  requests: number
  would_denials: number
  current_allocated: number | null
  current_denial_rate: number
  suggested_allocated: number | null
  /** The joint replay's rate with every suggestion applied. */
  suggested_denial_rate: number | null
  binding_denials: number
  suggested_binding_denials: number | null
  suggested_overdraft_limit: number | null
  /** replay_inversion | replay_best_effort (other budgets deny more than the target) | none. */
  method: string
  status: BudgetStatusKind
  /** Band of the current denial rate (shadow-analytics.md §1.3). */
  band: Band
  verdict: Verdict
  message: string
  action: Action
  findings: string[]
  /** Below the sample floor: the small-sample rule as a labelled hint, never applied. */
  hint?: {rule: string; allocated: number}
  /** The limit once estimates are corrected by the suggested multipliers (replayed), when estimates are off. */
  suggested_allocated_after_estimates?: number | null
  /** The suggestion for the observed window, before --period scaling. */
  suggested_allocated_window?: number | null
  top_reasons: Array<{reason: string; count: number}>
}

export interface EstimateRow {
  scope: string
  unit: string
  action_kind: string
  action_name: string
  commits: number
  reserve_commit_ratio: number | null
  overage_rate: number | null
  mape: number | null
  suggested_multiplier: number | null
  findings: string[]
}
