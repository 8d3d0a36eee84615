// Policy denials by rule (`cycles shadow report`, `cycles calibrate`): would-be denials whose reason is
// one of the v0.1.26 policy rules (access lists, quotas, approval, a policy's rate limit), grouped by
// the rule that fired — the policy, the reason and the action kind. The decision log keeps no
// deny_detail, so the rule is named from the record's policy_id and reason code.
import type {ShadowDb} from './db.js'
import {sqlString} from './schema.js'
import {POLICY_DENIAL_REASON_CODES} from '../decision-log/record.js'

/** Reason codes only a policy gives (LIMIT_EXCEEDED counts when a policy governed the request). */
export const POLICY_REASONS = POLICY_DENIAL_REASON_CODES

export interface PolicyDenialRow {
  /** `policy_id reason action_kind`, e.g. "pol_support ACTION_QUOTA_EXCEEDED email.send". */
  rule: string
  policy_id: string | null
  reason: string
  action_kind: string | null
  /** Would-be denials (what full enforcement answers), and of them the ones actually denied. */
  would_denials: number
  denials: number
  scopes: number
  runs: number
}

/** Over the view `view` (the report's filtered records). */
export async function policyDenialsByRule(db: ShadowDb, view = 'f'): Promise<PolicyDenialRow[]> {
  const reasons = POLICY_REASONS.map((r) => sqlString(r)).join(', ')
  const rows = await db.all<{policy_id: string | null; reason: string; action_kind: string | null; would_denials: number; denials: number; scopes: number; runs: number}>(`
    SELECT policy_id, would_reason_code AS reason, action_kind,
           count(*)::DOUBLE AS would_denials, count(*) FILTER (WHERE decision = 'DENY')::DOUBLE AS denials,
           count(DISTINCT scope_path)::DOUBLE AS scopes, count(DISTINCT run_id)::DOUBLE AS runs
    FROM ${view}
    WHERE endpoint IN ('reserve', 'decide') AND would_decision = 'DENY'
      AND (would_reason_code IN (${reasons}) OR (would_reason_code = 'LIMIT_EXCEEDED' AND policy_id IS NOT NULL))
    GROUP BY ALL ORDER BY would_denials DESC, reason, policy_id NULLS LAST, action_kind NULLS LAST`)
  return rows.map((r) => ({
    rule: [r.policy_id ?? '(policy not recorded)', r.reason, r.action_kind].filter(Boolean).join(' '),
    policy_id: r.policy_id,
    reason: r.reason,
    action_kind: r.action_kind,
    would_denials: r.would_denials,
    denials: r.denials,
    scopes: r.scopes,
    runs: r.runs,
  }))
}

export function renderPolicyDenialLines(rows: PolicyDenialRow[], limit: number): string[] {
  if (rows.length === 0) return []
  const lines = ['', 'Policy denials by rule (would-be; of them denied)']
  for (const r of rows.slice(0, limit)) lines.push(`  ${r.rule}: ${r.would_denials.toLocaleString('en-US')} (${r.denials.toLocaleString('en-US')} denied) over ${r.scopes} scope(s), ${r.runs} run(s)`)
  if (rows.length > limit) lines.push(`  … ${rows.length - limit} more rule(s) (--format json for all)`)
  return lines
}
