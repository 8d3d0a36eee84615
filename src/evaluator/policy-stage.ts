// Steps 1–3 of the reservation evaluation order (after the closed-tenant guard, before the budget
// checks of evaluate.ts): the governing policy's access control, the approval gate (a `cycles`
// extension), its rate limit, then risk-class and per-kind quotas against the counters as they are
// now. Returns the first denial, or what an admitted live reservation writes (counter increments
// guarded at write time, the grant it consumes) so one transaction carries ledgers and counters.
import {invalid} from '../protocol/errors.js'
import type {Action, Amount, Ledger, Tenant} from '../protocol/types.js'
import type {DocWrite, Store, Tx} from '../store/types.js'
import {budgetDenyDetail} from '../policies/deny-detail.js'
import {accessDenial, counterWrites, rateWrites, type DenyDetail} from '../policies/evaluate.js'
import type {ObserveMode} from '../policies/types.js'
import type {ReserveEvaluation} from './evaluate.js'
import {resolveKind} from '../policies/action-kinds.js'
import type {ApprovalGate} from '../policies/approval.js'
import {type CounterUse, type PolicyDenial, type PolicyPlan, type RateUse, planPolicy, quotaDenial, rateDenial, rateUse} from '../policies/evaluate.js'
import type {SelectedPolicy} from '../policies/match.js'
import {type PolicySet, governingPolicy} from '../policies/policy-set.js'
import {QUOTA_COUNTERS_COLLECTION, RATE_COUNTERS_COLLECTION} from '../policies/types.js'

export type ActionWithKeys = Action & {policy_keys?: {host?: string; recipient_domain?: string; resource_type?: string}}

export interface PolicyStageInput {
  store: Store
  set: PolicySet
  tenant: string
  affected_scopes: string[]
  scope_path: string
  action: ActionWithKeys
  run_id?: string
  estimate: Amount
  nowMs: number
  /** Ask the approval gate (enforced requests); shadowed ones only record that approval would be needed. */
  consultApprovals: boolean
  gate: ApprovalGate
}

/** A denial of steps 1–3, with the policy that fired; APPROVAL_REQUIRED is the gate's. */
export type StageDenial = Omit<PolicyDenial, 'reason_code'> & {reason_code: PolicyDenial['reason_code'] | 'APPROVAL_REQUIRED'}

export interface PolicyStage {
  selected?: SelectedPolicy
  denial?: StageDenial
  /** Quota counters an admitted live reservation increments. */
  counters: CounterUse[]
  /** The per-minute reservation counter, when the policy sets max_reservations_per_minute. */
  rate?: RateUse
  /** The approval grant an admitted live reservation consumes. */
  approvalConsume: DocWrite[]
}


/** 400 for an undeclared custom.* kind (cycles-action-kinds CUSTOM.* NAMESPACE RULES), whether or not a policy applies. */
export function checkKindDeclared(kind: string, set: PolicySet): void {
  if (kind.startsWith('custom.') && 'undeclaredCustom' in resolveKind(kind, set.customKinds)) {
    throw invalid(`Validation failed: action.kind: ${kind} is not a registered custom kind; declare it (action_kinds: in the config, or POST /v1/admin/action-kinds) with its risk_class`)
  }
}

/**
 * What every reservation-path variant starts with: the kind declared (400 otherwise), the governing
 * policy and its plan. `done` when that already answers: no policy, or an access-list denial.
 */
function planStage(input: Pick<PolicyStageInput, 'set' | 'tenant' | 'affected_scopes' | 'action' | 'run_id' | 'nowMs'>): {done: PolicyStage} | {selected: SelectedPolicy; plan: PolicyPlan} {
  const {set, action, nowMs} = input
  checkKindDeclared(action.kind, set)
  const selected = governingPolicy(set, input.tenant, input.affected_scopes, nowMs)
  if (!selected) return {done: NO_POLICY_STAGE}
  const resolution = resolveKind(action.kind, set.customKinds)
  if ('undeclaredCustom' in resolution) return {done: NO_POLICY_STAGE} // refused above
  const plan = planPolicy(selected, {tenant: input.tenant, kind: action.kind, kindResolution: resolution, policy_keys: action.policy_keys, run_id: input.run_id, nowMs})
  if (plan.access) return {done: {selected, denial: plan.access, counters: [], approvalConsume: []}}
  return {selected, plan}
}

export async function evaluatePolicyStage(input: PolicyStageInput): Promise<PolicyStage> {
  const planned = planStage(input)
  if ('done' in planned) return planned.done
  const {selected, plan} = planned
  const {action, nowMs} = input

  const rate = rateUse(selected, input.tenant, 'reservations', nowMs)
  // Counters are read while the gate answers: one round trip instead of two.
  const [quotaDocs, rateDocs, verdict] = await Promise.all([
    plan.counters.length > 0 ? input.store.getDocs(QUOTA_COUNTERS_COLLECTION, plan.counters.map((c) => c.id)) : [],
    rate ? input.store.getDocs(RATE_COUNTERS_COLLECTION, [rate.id]) : [],
    plan.needsApproval && input.consultApprovals
      ? input.gate(input.store, {tenant: input.tenant, subject: input.scope_path, action_kind: action.kind, estimate: input.estimate, nowMs})
      : undefined,
  ])
  const base = {selected, counters: plan.counters, ...(rate ? {rate} : {})}
  if (plan.needsApproval) {
    if (!verdict || !verdict.admitted) {
      const message = verdict && !verdict.admitted ? verdict.message : `Approval required for ${action.kind} on ${input.scope_path} (policy ${selected.policy.policy_id})`
      const id = selected.policy.policy_id
      return {...base, approvalConsume: [], denial: {reason_code: 'APPROVAL_REQUIRED', message, detail: {reason_code: 'APPROVAL_REQUIRED', blocked_by_policy: id, blocked_by_scope: selected.scope, suggested_fix: verdict && !verdict.admitted && verdict.request_id !== 'none' ? `Approve request ${verdict.request_id}: cycles approvals approve ${verdict.request_id}` : `Remove '${action.kind}' from approval_required_action_kinds in policy '${id}'`}}}
    }
  }
  const approvalConsume = verdict?.admitted ? verdict.consume : []
  if (rate) {
    const denial = rateDenial(rate, numberOf(rateDocs[0]?.value.used))
    if (denial) return {...base, approvalConsume: [], denial}
  }
  const used = new Map<string, number>()
  plan.counters.forEach((c, i) => used.set(c.id, numberOf(quotaDocs[i]?.value.used)))
  const denial = quotaDenial(plan, used, action.kind)
  return denial ? {...base, approvalConsume: [], denial} : {...base, approvalConsume}
}

function numberOf(v: unknown): number {
  return typeof v === 'number' ? v : 0
}

export const NO_POLICY_STAGE: PolicyStage = {counters: [], approvalConsume: []}

export type AccessInput = Pick<PolicyStageInput, 'set' | 'tenant' | 'affected_scopes' | 'action' | 'nowMs'>

/**
 * Step 1 alone — the governing policy's denied / allowed action kinds — which reads no store: what
 * events (no reservation, so no quota or approval) and the store-outage fallback apply. The same
 * selection and the same list check as the reservation path's evaluatePolicyStage.
 */
export function accessControlStage(input: AccessInput): PolicyStage {
  const selected = governingPolicy(input.set, input.tenant, input.affected_scopes, input.nowMs)
  if (!selected) return NO_POLICY_STAGE
  const denial = accessDenial(selected.policy, input.action.kind, selected.scope)
  return {selected, ...(denial ? {denial} : {}), counters: [], approvalConsume: []}
}

/**
 * What the policy stage can still decide while the store is unreachable, from the policies last loaded:
 * access control (step 1: lists need no store), and the approval gate, which fails closed (its grants
 * are in the store). `countersUnread` says the request has quota or rate counters nobody can read:
 * the caller answers it as `on_store_error` says, like the budgets it cannot read either.
 */
export function policyStageWithoutStore(input: AccessInput & {run_id?: string; scope_path: string}): {stage: PolicyStage; countersUnread: boolean} {
  const {action, nowMs, tenant} = input
  const planned = planStage(input)
  if ('done' in planned) return {stage: planned.done, countersUnread: false}
  const {selected, plan} = planned
  const stage: PolicyStage = {selected, counters: [], approvalConsume: []}
  if (plan.needsApproval) {
    const id = selected.policy.policy_id
    stage.denial = {
      reason_code: 'APPROVAL_REQUIRED',
      message: `Approval required for ${action.kind} on ${input.scope_path} (policy ${id}), and the approvals store is unreachable; denied (the approval gate fails closed)`,
      detail: {reason_code: 'APPROVAL_REQUIRED', blocked_by_policy: id, blocked_by_scope: selected.scope, suggested_fix: 'Retry once the store is reachable again: approval grants are kept there'},
    }
  }
  return {stage, countersUnread: plan.counters.length > 0 || rateUse(selected, tenant, 'reservations', nowMs) !== undefined}
}

/** The effective observe mode (v0.1.26 PRECEDENCE): the request's, else the tenant's unless ENFORCE, else ENFORCE. */
export function observeModeOf(requested: ObserveMode | undefined, tenant: Tenant | undefined): 'OBSERVE' | 'ENFORCE' {
  if (requested !== undefined) return requested === 'OBSERVE' ? 'OBSERVE' : 'ENFORCE'
  return tenant?.observe_mode === 'OBSERVE' ? 'OBSERVE' : 'ENFORCE'
}

/**
 * What an admitted live reservation writes besides the ledgers: its quota and rate counters (guarded
 * by the limits in enforce mode; counted without guards in shadow mode, where the request is admitted
 * whatever they say) and, when enforced, the approval grant it consumes.
 */
export function policyWrites(stage: PolicyStage, enforce: boolean): Pick<Tx, 'docs' | 'docConditions'> {
  if (stage.counters.length === 0 && !stage.rate && stage.approvalConsume.length === 0) return {}
  const counted = counterWrites(stage.counters, enforce)
  const rate = stage.rate ? rateWrites(stage.rate) : undefined
  return {
    docs: [...counted.docs, ...(rate ? rate.docs : []), ...(enforce ? stage.approvalConsume : [])],
    docConditions: [...counted.docConditions, ...(rate && enforce ? rate.docConditions : [])],
  }
}

/** The v0.1.26 DenyDetail of a denial: the policy's own, or the budget's. */
export function denyDetailOf(evaluation: ReserveEvaluation, stage: PolicyStage, real: {ledgers: ReadonlyArray<Ledger | undefined>}, estimate: Amount): DenyDetail {
  const reason = evaluation.reason_code ?? 'DENY'
  if (stage.denial && stage.denial.reason_code === reason) return stage.denial.detail
  return budgetDenyDetail(reason, evaluation.denied_scope, real.ledgers, estimate.amount, estimate.unit)
}

