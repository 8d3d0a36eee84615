// What reserve and decide share before they answer: the request's tier, mode and record facts, then
// one read of tenant, both books and the policy stage (steps 1–3 of the v0.1.26 order), evaluated with
// the one evaluator against each book.
import {type RecordFacts} from '../decision-log/record.js'
import {type ReserveEvaluation, admissionConditions, evaluateReserve} from '../evaluator/evaluate.js'
import {chargeDeltas, wouldOutcome} from '../evaluator/shadow-book.js'
import {requestHash} from '../protocol/canonical-json.js'
import {ProtocolError} from '../protocol/errors.js'
import {type Amount, type Tenant} from '../protocol/types.js'
import type {Tx} from '../store/types.js'
import {baseFacts, scopesFor, withContext} from './request-facts.js'
import {type CallContext, type ServiceResponse, type ReserveLike, type BookView, type RuntimeCore} from './runtime-core.js'
import {NO_POLICY_STAGE, type PolicyStage, checkKindDeclared, evaluatePolicyStage} from '../evaluator/policy-stage.js'
import {EMPTY_POLICY_SET} from '../policies/policy-set.js'

export type Scopes = {affected_scopes: string[]; scope_path: string}

export interface Evaluated {
  tenant: Tenant | undefined
  real: BookView
  realEval: ReserveEvaluation
  shadowEval: ReserveEvaluation
  stage: PolicyStage
}

/** What beginAdmission establishes, and the read and evaluation of one attempt: everything a reserve's answer needs. */
export type Admission = ReturnType<typeof beginAdmission>
export type Admitted = Admission & Evaluated

/**
 * What reserve and decide establish first: tier and the request's mode (the ramp needs the scope
 * path when there is no run id), the record's facts, the scopes, the idempotency key and payload hash.
 */
export function beginAdmission(core: RuntimeCore, endpoint: 'reserve' | 'decide', ctx: CallContext, req: ReserveLike, dryRun: boolean) {
  const {tier, mode: tierMode} = core.tierOf(req.action)
  const facts = baseFacts(endpoint, req.subject, req.action, req.metadata, {tier, mode: tierMode, dry_run: dryRun})
  facts.unit = req.estimate.unit
  facts.estimate = req.estimate.amount
  const scopes = scopesFor(ctx, req.subject, facts)
  Object.assign(facts, scopes)
  const {mode, enforce_percent} = core.modeOfRequest(ctx.tenant, tier, facts.run_id, scopes.scope_path)
  facts.mode = mode
  facts.enforce_percent = enforce_percent
  return {tier, mode, facts, scopes, idemKey: `${ctx.tenant}:${endpoint}:${req.idempotency_key}`, hash: requestHash(req)}
}

/**
 * Read the tenant and both books and evaluate the estimate against each; the would-be decision
 * goes into `facts`. On a first attempt the idempotency lookup goes out with the reads (one round
 * trip with a remote store), and a replay simply discards them.
 */
export async function readAndEvaluate(
  core: RuntimeCore,
  ctx: CallContext,
  req: ReserveLike,
  scopes: Scopes,
  idemKey: string,
  hash: string,
  facts: RecordFacts,
  lookUpReplay: boolean,
  consultApprovals: boolean,
): Promise<{replay: ServiceResponse} | Evaluated> {
  const estimate = req.estimate
  const policies = core.policies()
  const set = policies instanceof Promise ? await policies : policies
  try {
    checkKindDeclared(req.action.kind, set)
  } catch (error) {
    throw withContext(error as ProtocolError, facts)
  }
  const [replay, tenant, real, shadow, stage] = await Promise.all([
    lookUpReplay ? core.replay(idemKey, hash, facts) : undefined,
    core.store.getTenant(ctx.tenant),
    core.view('real', scopes.affected_scopes, estimate),
    core.view('shadow', scopes.affected_scopes, estimate),
    // Steps 1–3 of the v0.1.26 order; the evaluator puts them after the closed-tenant guard.
    set === EMPTY_POLICY_SET
      ? NO_POLICY_STAGE
      : evaluatePolicyStage({
          store: core.store,
          set,
          tenant: ctx.tenant,
          affected_scopes: scopes.affected_scopes,
          scope_path: scopes.scope_path,
          action: req.action,
          run_id: facts.run_id,
          estimate,
          nowMs: core.now(),
          consultApprovals,
          gate: core.approvalGate,
        }).catch((error: unknown) => {
          throw error instanceof ProtocolError ? withContext(error, facts) : error
        }),
  ])
  if (replay) return {replay}
  if (stage.selected) facts.policy_id = stage.selected.policy.policy_id
  const realEval = evaluateWithStage(real, tenant, stage)
  const shadowEval = evaluateWithStage(shadow, tenant, stage)
  Object.assign(facts, wouldOf(shadow, shadowEval))
  return {tenant, real, realEval, shadowEval, stage}
}

function evaluateWithStage(view: BookView, tenant: Tenant | undefined, stage: PolicyStage): ReserveEvaluation {
  const denial = stage.denial
  return evaluateReserve({
    tenant,
    affected_scopes: view.scopes,
    unit: view.estimate.unit,
    estimate: view.estimate.amount,
    ledgers: view.ledgers,
    book: view.book,
    policy: {
      ...(denial ? {denial: {reason_code: denial.reason_code, scope: denial.detail.blocked_by_scope}} : {}),
      ...(stage.selected?.policy.caps ? {caps: stage.selected.policy.caps} : {}),
    },
  })
}

/** Debit the shadow ledger with the estimate of a would-be-allowed dry-run or decide. */
export function shadowCharge(shadowEval: ReserveEvaluation, estimate: Amount): Pick<Tx, 'conditions' | 'deltas'> {
  if (shadowEval.decision === 'DENY' || estimate.amount === 0) return {}
  return {conditions: admissionConditions(shadowEval), deltas: chargeDeltas(shadowEval, estimate)}
}

function wouldOf(view: BookView, evaluation: ReserveEvaluation): Pick<RecordFacts, 'would_decision' | 'would_reason_code' | 'denied_scope'> {
  return wouldOutcome(view.unitMismatch !== undefined, evaluation)
}
