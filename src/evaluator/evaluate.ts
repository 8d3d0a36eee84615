// The one evaluator: a pure function from (tenant, derived scopes, ledger view) to a decision,
// following the protocol's check order exactly (cycles-protocol.md §5.2 step 4, §9.5). Dry-run,
// decide, live reserve (real and shadow book) and the simulator all call it. No I/O here.
import type {Book, Caps, Decision, Ledger, Tenant, Unit} from '../protocol/types.js'
import type {Condition} from '../store/types.js'

export type DenyReason =
  | 'TENANT_CLOSED'
  | 'BUDGET_FROZEN'
  | 'BUDGET_CLOSED'
  | 'OVERDRAFT_LIMIT_EXCEEDED'
  | 'DEBT_OUTSTANDING'
  | 'BUDGET_EXCEEDED'
  | 'BUDGET_NOT_FOUND'
  // Steps 1–3 of the v0.1.26 order (policy-stage.ts), and the approval gate and rate limits of a policy.
  | 'ACTION_KIND_DENIED'
  | 'ACTION_KIND_NOT_ALLOWED'
  | 'ACTION_QUOTA_EXCEEDED'
  | 'APPROVAL_REQUIRED'
  | 'LIMIT_EXCEEDED'

export interface ReserveEvaluation {
  decision: Decision
  reason_code?: DenyReason
  /** First failing scope, closest to the root. */
  denied_scope?: string
  /** Scopes that have a ledger in the requested unit, root first. */
  budgeted: string[]
  caps?: Caps
  /** On an ALLOW: the ledgers that admitted the estimate (see admissionConditions). */
  admitting: Ledger[]
  estimate: number
  book: Book
}

export interface ReserveInput {
  tenant: Tenant | undefined
  affected_scopes: string[]
  unit: Unit
  estimate: number
  /** One entry per affected scope, in the same order; undefined where no ledger exists in `unit`. */
  ledgers: Array<Ledger | undefined>
  /** The book the ledgers come from; stamped on the conditions (default real). */
  book?: Book
  /** The governing policy's verdict (policy-stage.ts): its denial, checked right after the closed-tenant guard, and its caps. */
  policy?: {denial?: {reason_code: DenyReason; scope?: string}; caps?: Caps}
}

export function evaluateReserve(input: ReserveInput): ReserveEvaluation {
  const {tenant, affected_scopes: scopes, estimate, ledgers, book = 'real', policy} = input
  if (tenant?.status === 'CLOSED') {
    return {decision: 'DENY', reason_code: 'TENANT_CLOSED', budgeted: budgetedScopes(scopes, ledgers), admitting: [], estimate, book}
  }
  // Access control, approval, rate limit and quotas come before any budget check (v0.1.26 order).
  const policyDenial = policy?.denial
  if (policyDenial) {
    return {decision: 'DENY', reason_code: policyDenial.reason_code, ...(policyDenial.scope ? {denied_scope: policyDenial.scope} : {}), budgeted: budgetedScopes(scopes, ledgers), admitting: [], estimate, book}
  }
  const budgeted: string[] = []
  const admitting: Ledger[] = []
  for (let i = 0; i < scopes.length; i++) {
    const ledger = ledgers[i]
    if (!ledger) continue
    budgeted.push(scopes[i])
    const reason = firstFailure(ledger, estimate)
    if (reason) return {decision: 'DENY', reason_code: reason, denied_scope: scopes[i], budgeted, admitting: [], estimate, book}
    admitting.push(ledger)
  }
  if (budgeted.length === 0) return {decision: 'DENY', reason_code: 'BUDGET_NOT_FOUND', budgeted, admitting, estimate, book}
  // A policy's caps are its pattern-based override of the budget's (admin spec: policy > ledger).
  const deepest = ledgers.at(-1)
  const caps = nonEmpty(policy?.caps) ?? nonEmpty(deepest?.caps)
  return caps ? {decision: 'ALLOW_WITH_CAPS', caps, budgeted, admitting, estimate, book} : {decision: 'ALLOW', budgeted, admitting, estimate, book}
}

/**
 * What must still hold at write time for an ALLOW to be applied atomically: every admitting ledger
 * still passes the same checks. Built only where a write needs them (a dry-run never writes the real
 * book, so its real-book conditions are never built).
 */
export function admissionConditions(evaluation: ReserveEvaluation): Condition[] {
  const conditions: Condition[] = []
  for (const ledger of evaluation.admitting) conditions.push(...admissibleConditions(ledger, evaluation.estimate, evaluation.book))
  return conditions
}

/** FROZEN → CLOSED → over-limit → (debt > 0 with no overdraft) → remaining < estimate; first failure wins. */
function firstFailure(ledger: Ledger, estimate: number): DenyReason | undefined {
  if (ledger.status === 'FROZEN') return 'BUDGET_FROZEN'
  if (ledger.status === 'CLOSED') return 'BUDGET_CLOSED'
  if (ledger.is_over_limit) return 'OVERDRAFT_LIMIT_EXCEEDED'
  if (ledger.debt > 0 && ledger.overdraft_limit === 0) return 'DEBT_OUTSTANDING'
  if (ledger.remaining < estimate) return 'BUDGET_EXCEEDED'
  return undefined
}

function admissibleConditions(ledger: Ledger, estimate: number, book: Book): Condition[] {
  const {scope, unit} = ledger
  const noDebtRule: Condition[] =
    ledger.overdraft_limit === 0
      ? [
          {book, scope, unit, field: 'overdraft_limit', op: 'eq', value: 0},
          {book, scope, unit, field: 'debt', op: 'lte', value: 0},
        ]
      : [{book, scope, unit, field: 'overdraft_limit', op: 'gte', value: 1}]
  return [
    {book, scope, unit, field: 'status', op: 'eq', value: 'ACTIVE'},
    {book, scope, unit, field: 'is_over_limit', op: 'eq', value: false},
    {book, scope, unit, field: 'remaining', op: 'gte', value: estimate},
    ...noDebtRule,
  ]
}

function nonEmpty(caps: Caps | undefined): Caps | undefined {
  return caps && Object.keys(caps).length > 0 ? caps : undefined
}

function budgetedScopes(scopes: string[], ledgers: Array<Ledger | undefined>): string[] {
  return scopes.filter((_, i) => ledgers[i] !== undefined)
}

/** The wire mapping of a deny reason on the persisting (live) surface. */
export function liveErrorFor(reason: DenyReason): {status: number; code: string} {
  if (reason === 'BUDGET_NOT_FOUND') return {status: 404, code: 'NOT_FOUND'}
  if (reason === 'LIMIT_EXCEEDED') return {status: 429, code: 'LIMIT_EXCEEDED'}
  // Issue 14 §2: a missing approval is answered as v0.1.26 answers a kind that is not allowed.
  if (reason === 'APPROVAL_REQUIRED') return {status: 409, code: 'ACTION_KIND_NOT_ALLOWED'}
  return {status: 409, code: reason}
}
