// The one verdict engine, shared by `cycles calibrate` and `cycles shadow report`: exactly one
// primary verdict and one next action per budget (or scope), in this precedence (README
// "Calibration", decision table):
//
//   1. config_error      would-be denials mostly BUDGET_NOT_FOUND / UNIT_MISMATCH / BUDGET_FROZEN /
//                        BUDGET_CLOSED / TENANT_CLOSED, or the budget itself frozen or closed
//                        → configure a budget (never "raise the limit")
//   2. insufficient_data fewer requests than the sample floor → keep observing
//   3. estimates         commit overage above the threshold, or reserve:commit outside 0.8–2.0
//                        → fix estimates first (they distort every limit)
//   4. too_tight / warm / decorative / loose  the denial-rate band → set the limit
//   5. ready             goldilocks (1–3 %) → enforce the tier
//
// Lower-precedence findings become secondary findings; they never contradict the primary.
import {type Band, bandOf, pct} from '../analytics/bands.js'
import type {Tier} from '../protocol/types.js'

export const VERDICTS = ['config_error', 'insufficient_data', 'estimates', 'too_tight', 'warm', 'decorative', 'loose', 'ready'] as const
export type Verdict = (typeof VERDICTS)[number]

/** Worst first: the order reports sort by. */
export const VERDICT_SEVERITY: Record<Verdict, number> = {
  config_error: 0,
  too_tight: 1,
  estimates: 2,
  warm: 3,
  decorative: 4,
  loose: 5,
  insufficient_data: 6,
  ready: 7,
}

export const CONFIG_REASONS = new Set(['BUDGET_NOT_FOUND', 'UNIT_MISMATCH', 'BUDGET_FROZEN', 'BUDGET_CLOSED', 'TENANT_CLOSED'])

export interface Action {
  kind: 'create_budget' | 'unfreeze_budget' | 'reactivate_tenant' | 'keep_observing' | 'fix_estimates' | 'set_limit' | 'calibrate' | 'enforce_tier' | 'none'
  command: string | null
}

export interface VerdictInput {
  scope: string
  unit: string
  tenant?: string
  requests: number
  would_denials: number
  /** Would-be denials by reason code. */
  reasons: Record<string, number>
  /** The budget's own status, when the row is a budget. */
  budget_status?: string
  /** No budget is configured for this row (a scope seen in traffic only). */
  unbudgeted?: boolean
  commits: number
  reserve_commit_ratio: number | null
  overage_rate: number | null
  tiers: Tier[]
  /** A replay-validated limit for this budget, when calibrate found one. */
  suggested_allocated?: number | null
  suggested_denial_rate?: number | null
  /** Allocation to propose for a budget that does not exist yet (observed demand). */
  demand?: number
}

export interface VerdictOptions {
  minRequests: number
  overageThreshold: number
}

export interface VerdictResult {
  verdict: Verdict
  band: Band
  denial_rate: number
  /** One sentence: the finding and what to do. */
  message: string
  action: Action
  /** Lower-precedence findings, listed, never contradicting the primary verdict. */
  findings: string[]
}

const q = (s: string) => (/^[A-Za-z0-9_:./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`)

export function limitCommand(scope: string, unit: string, amount: number): string {
  return `cycles budget reset --scope ${q(scope)} --unit ${unit} --amount ${amount} --reason ${q('cycles calibrate')} --yes`
}

const tenantOf = (scope: string, fallback?: string) => fallback ?? /(?:^|\/)tenant:([^/]+)/.exec(scope)?.[1]

/** Estimate findings in words (empty when estimates are within bounds or there are too few commits). */
export function estimateFindings(v: Pick<VerdictInput, 'commits' | 'reserve_commit_ratio' | 'overage_rate'>, o: VerdictOptions): string[] {
  if (v.commits < o.minRequests) return []
  const out: string[] = []
  const rc = v.reserve_commit_ratio
  if (v.overage_rate !== null && v.overage_rate > o.overageThreshold) out.push(`${pct(v.overage_rate)} of commits exceed their estimate`)
  if (rc !== null && rc > 2) out.push(`estimates are ${rc.toFixed(1)}× actual — the budget is effectively ${rc.toFixed(1)}× tighter`)
  else if (rc !== null && rc < 0.8) out.push(`estimates are only ${rc.toFixed(2)}× actual — under-estimating`)
  return out
}

export function decideVerdict(v: VerdictInput, o: VerdictOptions): VerdictResult {
  const band = bandOf(v.requests, v.would_denials, o.minRequests)
  const rate = v.requests > 0 ? v.would_denials / v.requests : 0
  const findings: string[] = []
  const configDenials = Object.entries(v.reasons).filter(([r]) => CONFIG_REASONS.has(r)).reduce((n, [, c]) => n + c, 0)
  const topConfig = Object.entries(v.reasons).filter(([r]) => CONFIG_REASONS.has(r)).sort((a, b) => b[1] - a[1])[0]?.[0]
  const tenant = tenantOf(v.scope, v.tenant)
  const estimateProblems = estimateFindings(v, o)
  const limitWords = bandWords(band, rate, v)

  // 1. Configuration errors.
  const frozen = v.budget_status === 'FROZEN'
  const closed = v.budget_status === 'CLOSED'
  const configDominant = v.would_denials > 0 && configDenials * 2 >= v.would_denials
  if (v.unbudgeted || frozen || closed || configDominant) {
    const reason = frozen ? 'BUDGET_FROZEN' : closed ? 'BUDGET_CLOSED' : v.unbudgeted && !topConfig ? 'BUDGET_NOT_FOUND' : (topConfig ?? 'BUDGET_NOT_FOUND')
    if (estimateProblems.length > 0) findings.push(...estimateProblems)
    return {verdict: 'config_error', band, denial_rate: rate, message: configMessage(reason, v, configDenials), action: configAction(reason, v, tenant), findings}
  }
  if (configDenials > 0) findings.push(`${configDenials} would-be denial(s) are configuration errors (${topConfig})`)

  // 2. Not enough data.
  if (band === 'insufficient_data') {
    findings.push(...estimateProblems)
    return {
      verdict: 'insufficient_data',
      band,
      denial_rate: rate,
      message: `not enough data: ${v.requests} requests (need ${o.minRequests}) — keep observing`,
      action: {kind: 'keep_observing', command: 'cycles shadow ingest .cycles/decisions'},
      findings,
    }
  }

  // 3. Estimates first: a limit calibrated on wrong estimates is wrong too.
  if (estimateProblems.length > 0) {
    findings.push(band === 'decorative' ? 'no request would be denied at the current limit — judge the limit after estimates are fixed' : `${pct(rate, 2)} would be denied (${band.replace('_', ' ')} band) — judge the limit after estimates are fixed`)
    return {
      verdict: 'estimates',
      band,
      denial_rate: rate,
      message: `fix estimates before the limit: ${estimateProblems.join('; ')}`,
      action: {kind: 'fix_estimates', command: `cycles calibrate${tenant ? ` --tenant ${q(tenant)}` : ''} --format json`},
      findings,
    }
  }

  // 4./5. The limit.
  const verdict: Verdict = band === 'goldilocks' ? 'ready' : (band as Verdict)
  const suggested = v.suggested_allocated
  let action: Action
  if (verdict === 'ready') {
    const tier = v.tiers[0]
    action = tier ? {kind: 'enforce_tier', command: `cycles tier set ${tier} enforce`} : {kind: 'none', command: null}
  } else if (suggested !== undefined && suggested !== null) {
    action = {kind: 'set_limit', command: limitCommand(v.scope, v.unit, suggested)}
  } else {
    action = {kind: 'calibrate', command: `cycles calibrate${tenant ? ` --tenant ${q(tenant)}` : ''}`}
  }
  return {verdict, band, denial_rate: rate, message: limitWords, action, findings}
}

function bandWords(band: Band, rate: number, v: VerdictInput): string {
  const then =
    v.suggested_allocated !== undefined && v.suggested_allocated !== null
      ? ` — set ${v.suggested_allocated.toLocaleString('en-US')}${v.suggested_denial_rate === null || v.suggested_denial_rate === undefined ? '' : ` (replayed: ${pct(v.suggested_denial_rate, 1)} denied)`}`
      : ''
  switch (band) {
    case 'too_tight':
      return `too tight: ${pct(rate)} would be denied${then || ' — raise the limit'}`
    case 'warm':
      return `running warm: ${pct(rate)} would be denied${then || ' — investigate before enforcing'}`
    case 'goldilocks':
      return `goldilocks: ${pct(rate)} would be denied — ready to enforce`
    case 'loose':
      return `loose: ${pct(rate, 2)} would be denied${then || ' — the limit rarely bites; tighten it'}`
    case 'decorative':
      return `decorative: nothing would be denied${then || ' — tighten the limit, it protects nothing'}`
    default:
      return `not enough data: ${v.requests} requests`
  }
}

function configMessage(reason: string, v: VerdictInput, configDenials: number): string {
  const share = v.would_denials > 0 ? ` (${configDenials} of ${v.would_denials} would-be denials)` : ''
  switch (reason) {
    case 'BUDGET_FROZEN':
      return `configuration: the budget is frozen${share} — unfreeze it or remove it; the limit is not the problem`
    case 'BUDGET_CLOSED':
      return `configuration: the budget is closed${share} — create a budget for this scope; the limit is not the problem`
    case 'UNIT_MISMATCH':
      return `configuration: no budget in ${v.unit} here, budgets exist in another unit${share} — configure a budget in ${v.unit}; the limit is not the problem`
    case 'TENANT_CLOSED':
      return `configuration: the tenant is closed${share} — its traffic is refused whatever the limit`
    default:
      return `configuration: no budget in ${v.unit} covers this scope${share} — configure a budget`
  }
}

function configAction(reason: string, v: VerdictInput, tenant: string | undefined): Action {
  if (reason === 'BUDGET_FROZEN') return {kind: 'unfreeze_budget', command: `cycles budget unfreeze --scope ${q(v.scope)} --unit ${v.unit} --reason ${q('cycles calibrate')}`}
  if (reason === 'TENANT_CLOSED') return {kind: 'reactivate_tenant', command: tenant ? `cycles tenant show ${q(tenant)}` : null}
  const amount = Math.max(1, Math.ceil(v.demand ?? 0))
  const scope = v.unbudgeted || reason === 'BUDGET_CLOSED' ? v.scope : tenant ? `tenant:${tenant}` : v.scope
  return {kind: 'create_budget', command: `cycles budget create --scope ${q(scope)} --unit ${v.unit} --amount ${amount}`}
}

/** A tier is ready only when every budget its traffic touches is ready; otherwise its blockers. */
export function tierReadiness(rows: Array<{scope: string; unit: string; tiers: Tier[]; verdict: Verdict}>): Array<{tier: Tier; ready: boolean; budgets: number; blockers: string[]; action: Action}> {
  const out: Array<{tier: Tier; ready: boolean; budgets: number; blockers: string[]; action: Action}> = []
  for (const tier of ['low', 'medium', 'high'] as Tier[]) {
    const touching = rows.filter((r) => r.tiers.includes(tier))
    if (touching.length === 0) continue
    const blockers = touching.filter((r) => r.verdict !== 'ready').map((r) => `${r.scope} (${r.unit}): ${r.verdict}`)
    blockers.sort()
    const ready = blockers.length === 0
    out.push({tier, ready, budgets: touching.length, blockers, action: ready ? {kind: 'enforce_tier', command: `cycles tier set ${tier} enforce`} : {kind: 'none', command: null}})
  }
  return out
}
