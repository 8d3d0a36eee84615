// Budgets: create (both books), list with filters, lookup, patch, fund (CREDIT / DEBIT / RESET /
// RESET_SPENT / REPAY_DEBT), freeze and unfreeze. Every change applies to the real and the shadow
// ledger in one transaction; the real ledger decides what is allowed and what is reported.
import {payloadHash} from '../protocol/canonical-json.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {scopeTenant} from '../protocol/scope.js'
import {BUDGET_STATUSES, type Book, type Ledger, UNITS, type Unit} from '../protocol/types.js'
import type {Condition, LedgerDelta, Tx} from '../store/types.js'
import {type AdminCore, type AdminCtx, type AdminResult, paginate, scopeParam, sortBy, unitParam} from './context.js'
import {
  type BudgetFunding,
  budgetCreate,
  budgetFunding,
  budgetUpdate,
  parseBody,
  queryBool,
  queryEnum,
  queryLimit,
  queryNumber,
  querySearch,
  statusTransition,
} from './requests.js'
import {ledgerId, ledgerWire, utilization} from './wire.js'
import {FUNDING_EVENT, budgetLifecycleData} from '../events/build.js'
import {BUDGET_PERIODS_COLLECTION, budgetKey, periodConfigOf, periodConfigWrites} from '../daemon/periods.js'

const FUND_IDEMPOTENCY_TTL_MS = 24 * 3_600_000
/** `book` on list and lookup: which ledger to show (absent: the real one, in the spec's shape). */
const BOOK_VIEWS = ['real', 'shadow', 'both'] as const
const MAX_ATTEMPTS = 16

export class BudgetOps {
  constructor(private readonly core: AdminCore) {}

  async create(ctx: AdminCtx, raw: unknown): Promise<AdminResult> {
    const req = parseBody(budgetCreate, raw)
    if (!req.tenant_id) throw invalid('Validation failed: tenant_id: is required with X-Admin-API-Key')
    const scope = scopeParam(req.scope)
    if (scopeTenant(scope) !== req.tenant_id) throw invalid(`Validation failed: scope: tenant in scope (${scopeTenant(scope)}) does not match tenant_id ${req.tenant_id}`)
    if (req.allocated.unit !== req.unit) throw new ProtocolError('UNIT_MISMATCH', `allocated.unit ${req.allocated.unit} does not match unit ${req.unit}`)
    if (req.overdraft_limit && req.overdraft_limit.unit !== req.unit) {
      throw new ProtocolError('UNIT_MISMATCH', `overdraft_limit.unit ${req.overdraft_limit.unit} does not match unit ${req.unit}`)
    }
    if (req.rollover_policy && req.rollover_policy !== 'NONE') throw invalid('Validation failed: rollover_policy: this daemon supports NONE only')
    if (req.period_start || req.period_end) throw invalid('Validation failed: period_start/period_end: budget periods are not supported by this daemon')
    const tenant = await this.core.tenantOrThrow(req.tenant_id)
    if (tenant.status === 'CLOSED') throw new ProtocolError('TENANT_CLOSED', `Tenant ${tenant.tenant_id} is closed`)
    if (tenant.status !== 'ACTIVE') throw invalid(`Tenant ${tenant.tenant_id} is ${tenant.status}; budgets can be created for ACTIVE tenants only`)
    const now = this.core.now()
    const base: Ledger = {
      scope,
      unit: req.unit,
      allocated: req.allocated.amount,
      remaining: req.allocated.amount,
      reserved: 0,
      spent: 0,
      debt: 0,
      overdraft_limit: req.overdraft_limit?.amount ?? 0,
      is_over_limit: false,
      status: 'ACTIVE',
      ...(req.commit_overage_policy ? {commit_overage_policy: req.commit_overage_policy} : {}),
      created_at_ms: now,
      updated_at_ms: now,
    }
    const result = await this.core.store.apply({
      createLedgers: [{...base, book: 'real'}, {...base, book: 'shadow'}],
      ...(req.period ? {docs: periodConfigWrites(scope, req.unit, req.period, now)} : {}),
      audit: [
        this.core.audit(ctx, {
          tenant_id: req.tenant_id,
          operation: 'createBudget',
          resource_type: 'budget',
          resource_id: ledgerId(scope, req.unit),
          status: 201,
          metadata: {scope, unit: req.unit, allocated: req.allocated.amount, ...(req.period ? {period: req.period} : {}), ...(req.metadata ? {request_metadata: req.metadata} : {})},
        }),
      ],
    })
    if (!result.ok) {
      if (result.failed === 'exists') throw new ProtocolError('DUPLICATE_RESOURCE', `A budget for ${scope} in ${req.unit} already exists`)
      throw new ProtocolError('INTERNAL_ERROR', `Store rejected the change (${result.failed})`)
    }
    await this.core.store.flushed()
    this.core.emit(ctx, 'budget.created', {scope, data: budgetLifecycleData(ledgerId(scope, req.unit), 'CREATE', undefined, base)})
    return {status: 201, body: {...ledgerWire(base), ...(req.period ? {period: req.period} : {})}}
  }

  async list(query: URLSearchParams): Promise<AdminResult> {
    const tenant = query.get('tenant_id') || undefined
    const scopePrefix = query.get('scope_prefix') || undefined
    const unit = queryEnum(query, 'unit', UNITS)
    const status = queryEnum(query, 'status', BUDGET_STATUSES)
    const overLimit = queryBool(query, 'over_limit')
    const hasDebt = queryBool(query, 'has_debt')
    const uMin = queryNumber(query, 'utilization_min', 0, 1)
    const uMax = queryNumber(query, 'utilization_max', 0, 1)
    if (uMin !== undefined && uMax !== undefined && uMin > uMax) throw invalid('Validation failed: utilization_min must be ≤ utilization_max')
    const search = querySearch(query)
    const sortKey = queryEnum(query, 'sort_by', ['tenant_id', 'scope', 'unit', 'status', 'commit_overage_policy', 'utilization', 'debt'] as const) ?? 'utilization'
    const dir = queryEnum(query, 'sort_dir', ['asc', 'desc'] as const) ?? 'desc'
    const limit = queryLimit(query)
    const book = queryEnum(query, 'book', BOOK_VIEWS)
    const prefix = scopePrefix?.toLowerCase()
    let ledgers = (await this.core.store.listLedgers(book === 'shadow' ? 'shadow' : 'real', {...(tenant ? {tenant} : {}), ...(unit ? {unit} : {})})).filter((l) => {
      if (prefix && !l.scope.startsWith(prefix)) return false
      if (status && l.status !== status) return false
      if (overLimit !== undefined && l.is_over_limit !== overLimit) return false
      if (hasDebt !== undefined && l.debt > 0 !== hasDebt) return false
      const u = utilization(l)
      if (uMin !== undefined && u < uMin) return false
      if (uMax !== undefined && u > uMax) return false
      if (search && !l.scope.includes(search) && !(scopeTenant(l.scope) ?? '').includes(search)) return false
      return true
    })
    const key = (l: Ledger): string | number => {
      switch (sortKey) {
        case 'tenant_id':
          return scopeTenant(l.scope) ?? ''
        case 'utilization':
          return utilization(l)
        case 'debt':
          return l.debt
        case 'commit_overage_policy':
          return l.commit_overage_policy ?? ''
        default:
          return l[sortKey]
      }
    }
    ledgers = sortBy(ledgers, key, dir)
    const binding = {r: 'budgets', tenant, prefix, unit, status, overLimit, hasDebt, uMin, uMax, search, sortKey, dir, ...(book ? {book} : {})}
    const {page, next_cursor, has_more} = paginate(ledgers, binding, query.get('cursor'), limit)
    let wires = page.map(ledgerWire)
    if (book === 'shadow') wires = wires.map((w) => ({...w, book: 'shadow'}))
    else if (book) {
      const shadows = book === 'both' ? await this.shadowOf(page) : []
      wires = wires.map((w, i) => ({...w, book: 'real', ...(book === 'both' && shadows[i] ? {shadow: {...ledgerWire(shadows[i]!), book: 'shadow'}} : {})}))
    }
    return {status: 200, body: {ledgers: wires, ...(next_cursor ? {next_cursor} : {}), has_more}}
  }

  /**
   * One budget. Without `book` the spec's shape (the real ledger); `book=real|shadow` marks the
   * ledger with its book, `book=both` adds the shadow ledger under `shadow` (README "Two books").
   */
  async lookup(query: URLSearchParams): Promise<AdminResult> {
    const book = queryEnum(query, 'book', BOOK_VIEWS)
    const {real, shadow} = await this.read(query)
    // `period` (a cycles extension) only on periodic budgets, so other budgets keep the spec's shape.
    const [periodDoc] = await this.core.store.getDocs(BUDGET_PERIODS_COLLECTION, [budgetKey(real.scope, real.unit)])
    const period = periodDoc ? {period: periodConfigOf(periodDoc).period} : {}
    if (!book) return {status: 200, body: {...ledgerWire(real), ...period}}
    const shadowWire = shadow ? {...ledgerWire(shadow), book: 'shadow'} : undefined
    if (book === 'shadow') {
      if (!shadowWire) throw new ProtocolError('BUDGET_NOT_FOUND', `No shadow ledger for scope ${real.scope} in ${real.unit}`)
      return {status: 200, body: shadowWire}
    }
    return {status: 200, body: {...ledgerWire(real), ...period, book: 'real', ...(book === 'both' && shadowWire ? {shadow: shadowWire} : {})}}
  }

  /** The shadow ledgers of these real ones, in order (undefined where a shadow ledger is missing). */
  private async shadowOf(ledgers: Ledger[]): Promise<Array<Ledger | undefined>> {
    return Promise.all(ledgers.map(async (l) => (await this.core.store.getLedgers('shadow', [l.scope], l.unit))[0]))
  }

  async update(ctx: AdminCtx, query: URLSearchParams, raw: unknown): Promise<AdminResult> {
    const req = parseBody(budgetUpdate, raw)
    const {scope, unit} = this.address(query)
    if (req.overdraft_limit && req.overdraft_limit.unit !== unit) {
      throw new ProtocolError('UNIT_MISMATCH', `overdraft_limit.unit ${req.overdraft_limit.unit} does not match unit ${unit}`)
    }
    await this.core.guardTenantOpen(scopeTenant(scope))
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const {real, shadow} = await this.read(query)
      if (real.status === 'CLOSED') throw new ProtocolError('BUDGET_CLOSED', `Budget ${scope} ${unit} is closed`)
      const conditions: Condition[] = []
      const deltas: LedgerDelta[] = []
      for (const [book, l] of [['real', real], ['shadow', shadow]] as Array<[Book, Ledger | undefined]>) {
        if (!l) continue
        const set: LedgerDelta['set'] = {}
        if (req.commit_overage_policy) set.commit_overage_policy = req.commit_overage_policy
        if (req.overdraft_limit) {
          set.overdraft_limit = req.overdraft_limit.amount
          set.is_over_limit = l.debt > req.overdraft_limit.amount
          conditions.push({book, scope, unit, field: 'debt', op: 'eq', value: l.debt})
        }
        deltas.push({book, scope, unit, set})
      }
      const result = await this.core.store.apply({
        conditions,
        deltas,
        returnLedgers: true,
        ...(req.period !== undefined ? {docs: periodConfigWrites(scope, unit, req.period ?? undefined, this.core.now())} : {}),
        audit: [
          this.core.audit(ctx, {
            tenant_id: scopeTenant(scope),
            operation: 'updateBudget',
            resource_type: 'budget',
            resource_id: ledgerId(scope, unit),
            status: 200,
            metadata: {
              scope,
              unit,
              changed_fields: Object.keys(req),
              ...(req.overdraft_limit ? {previous_overdraft_limit: real.overdraft_limit, overdraft_limit: req.overdraft_limit.amount} : {}),
              ...(req.commit_overage_policy ? {previous_commit_overage_policy: real.commit_overage_policy ?? null, commit_overage_policy: req.commit_overage_policy} : {}),
              ...(req.period !== undefined ? {period: req.period} : {}),
              ...(typeof req.metadata?.reason === 'string' ? {reason: req.metadata.reason} : {}),
            },
          }),
        ],
      })
      if (!result.ok) {
        if (result.failed === 'condition') continue
        throw new ProtocolError('INTERNAL_ERROR', `Store rejected the change (${result.failed})`)
      }
      await this.core.store.flushed()
      this.core.emit(ctx, 'budget.updated', {scope, data: budgetLifecycleData(ledgerId(scope, unit), 'UPDATE', real, result.ledgers.get(`real|${scope}|${unit}`)!, {changed_fields: Object.keys(req)})})
      return {status: 200, body: {...ledgerWire(result.ledgers.get(`real|${scope}|${unit}`)!), ...(req.period ? {period: req.period} : {})}}
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget changed too often during the update; retry')
  }

  async freeze(ctx: AdminCtx, query: URLSearchParams, raw: unknown, target: 'FROZEN' | 'ACTIVE'): Promise<AdminResult> {
    const body = raw === undefined ? {} : parseBody(statusTransition, raw)
    const {scope, unit} = this.address(query)
    await this.core.guardTenantOpen(scopeTenant(scope))
    const from = target === 'FROZEN' ? 'ACTIVE' : 'FROZEN'
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const {real, shadow} = await this.read(query)
      if (real.status === 'CLOSED') throw new ProtocolError('BUDGET_CLOSED', `Budget ${scope} ${unit} is closed`, undefined, 409)
      if (real.status !== from) {
        throw new ProtocolError('INVALID_REQUEST', target === 'FROZEN' ? 'Budget is already frozen' : 'Budget is not frozen', undefined, 409)
      }
      const deltas: LedgerDelta[] = [{book: 'real', scope, unit, set: {status: target}}]
      if (shadow) deltas.push({book: 'shadow', scope, unit, set: {status: target}})
      const result = await this.core.store.apply({
        conditions: [{book: 'real', scope, unit, field: 'status', op: 'eq', value: from}],
        deltas,
        returnLedgers: true,
        audit: [
          this.core.audit(ctx, {
            tenant_id: scopeTenant(scope),
            operation: target === 'FROZEN' ? 'freezeBudget' : 'unfreezeBudget',
            resource_type: 'budget',
            resource_id: ledgerId(scope, unit),
            status: 200,
            metadata: {scope, unit, previous_status: from, new_status: target, ...(body.reason ? {reason: body.reason} : {})},
          }),
        ],
      })
      if (!result.ok) {
        if (result.failed === 'condition') continue
        throw new ProtocolError('INTERNAL_ERROR', `Store rejected the change (${result.failed})`)
      }
      await this.core.store.flushed()
      this.core.emit(ctx, target === 'FROZEN' ? 'budget.frozen' : 'budget.unfrozen', {scope, data: budgetLifecycleData(ledgerId(scope, unit), 'STATUS_CHANGE', real, result.ledgers.get(`real|${scope}|${unit}`)!, {reason: body.reason})})
      return {status: 200, body: ledgerWire(result.ledgers.get(`real|${scope}|${unit}`)!)}
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget changed too often; retry')
  }

  async fund(ctx: AdminCtx, query: URLSearchParams, raw: unknown): Promise<AdminResult> {
    const tenantId = query.get('tenant_id')
    if (!tenantId) throw invalid('Validation failed: tenant_id: is required with X-Admin-API-Key')
    const req = parseBody(budgetFunding, raw)
    const {scope, unit} = this.address(query)
    if (scopeTenant(scope) !== tenantId) throw invalid(`Validation failed: scope: tenant in scope (${scopeTenant(scope)}) does not match tenant_id ${tenantId}`)
    if (req.amount.unit !== unit) throw new ProtocolError('UNIT_MISMATCH', `amount.unit ${req.amount.unit} does not match unit ${unit}`)
    if (req.spent && req.operation !== 'RESET_SPENT') throw invalid('Validation failed: spent: only allowed with operation RESET_SPENT')
    if (req.spent && req.spent.unit !== unit) throw new ProtocolError('UNIT_MISMATCH', `spent.unit ${req.spent.unit} does not match unit ${unit}`)

    const hash = payloadHash({scope, unit, tenant_id: tenantId, ...req})
    const idemKey = req.idempotency_key ? `admin:fund:${tenantId}:${req.idempotency_key}` : undefined
    const replay = await this.replay(idemKey, hash)
    if (replay) return replay
    await this.core.guardTenantOpen(tenantId)

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const {real, shadow} = await this.read(query)
      if (real.status === 'FROZEN') throw new ProtocolError('BUDGET_FROZEN', `Budget ${scope} ${unit} is frozen; unfreeze it before funding`)
      if (real.status === 'CLOSED') throw new ProtocolError('BUDGET_CLOSED', `Budget ${scope} ${unit} is closed`)
      const plan = fundingPlan(req, real, shadow)
      const now = this.core.now()
      const response = {
        operation: req.operation,
        previous_allocated: {unit, amount: real.allocated},
        new_allocated: {unit, amount: plan.next.allocated},
        previous_remaining: {unit, amount: real.remaining},
        new_remaining: {unit, amount: plan.next.remaining},
        previous_debt: {unit, amount: real.debt},
        new_debt: {unit, amount: plan.next.debt},
        previous_spent: {unit, amount: real.spent},
        new_spent: {unit, amount: plan.next.spent},
        timestamp: new Date(now).toISOString(),
      }
      const text = JSON.stringify(response)
      const tx: Tx = {
        conditions: plan.conditions,
        deltas: plan.deltas,
        audit: [
          this.core.audit(ctx, {
            tenant_id: tenantId,
            operation: 'fundBudget',
            resource_type: 'budget',
            resource_id: `${scope}:${unit}`,
            status: 200,
            metadata: {
              operation: req.operation,
              scope,
              unit,
              amount: req.amount.amount,
              ...(req.spent ? {spent: req.spent.amount} : {}),
              ...(req.reason ? {reason: req.reason} : {}),
              ...(req.idempotency_key ? {idempotency_key: req.idempotency_key} : {}),
              previous_allocated: real.allocated,
              new_allocated: plan.next.allocated,
              previous_remaining: real.remaining,
              new_remaining: plan.next.remaining,
              previous_spent: real.spent,
              new_spent: plan.next.spent,
              previous_debt: real.debt,
              new_debt: plan.next.debt,
            },
          }),
        ],
        ...(idemKey ? {idempotency: {key: idemKey, record: {hash, status: 200, body: text}, ttl_ms: FUND_IDEMPOTENCY_TTL_MS}} : {}),
      }
      const result = await this.core.store.apply(tx)
      if (!result.ok) {
        if (result.failed === 'condition') continue
        if (result.failed === 'idempotency') {
          const again = await this.replay(idemKey, hash)
          if (again) return again
          continue
        }
        if (result.failed === 'overflow') throw invalid('The result would exceed the largest safe integer amount')
        throw new ProtocolError('INTERNAL_ERROR', `Store rejected the change (${result.failed})`)
      }
      await this.core.store.flushed()
      this.core.emit(ctx, FUNDING_EVENT[req.operation], {scope, data: budgetLifecycleData(ledgerId(scope, unit), req.operation, real, {...real, ...plan.next}, {reason: req.reason, ...(req.operation === 'RESET_SPENT' ? {spent_override_provided: req.spent !== undefined} : {})})})
      return {status: 200, body: text, raw: true}
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget changed too often during funding; retry with the same idempotency_key')
  }

  private async replay(idemKey: string | undefined, hash: string): Promise<AdminResult | undefined> {
    if (!idemKey) return undefined
    const existing = await this.core.store.getIdempotency(idemKey)
    if (!existing) return undefined
    if (existing.hash !== hash) throw new ProtocolError('IDEMPOTENCY_MISMATCH', 'idempotency_key was already used with a different request')
    // The stored response as it was (its `timestamp` is when it was applied), marked by a header so a
    // client can say "already applied, nothing changed" instead of announcing a second change.
    return {status: existing.status, body: existing.body, raw: true, headers: {'X-Cycles-Idempotent-Replay': 'true'}}
  }

  private address(query: URLSearchParams): {scope: string; unit: Unit} {
    return {scope: scopeParam(query.get('scope')), unit: unitParam(query.get('unit'))}
  }

  private async read(query: URLSearchParams): Promise<{scope: string; unit: Unit; real: Ledger; shadow?: Ledger}> {
    const {scope, unit} = this.address(query)
    const [[real], [shadow]] = await Promise.all([this.core.store.getLedgers('real', [scope], unit), this.core.store.getLedgers('shadow', [scope], unit)])
    if (!real) throw new ProtocolError('BUDGET_NOT_FOUND', `Budget not found for scope ${scope} in ${unit}`)
    return {scope, unit, real, shadow}
  }
}

interface FundingPlan {
  conditions: Condition[]
  deltas: LedgerDelta[]
  /** The real ledger after the change (exact: the conditions pin every counter it depends on). */
  next: {allocated: number; remaining: number; debt: number; spent: number}
}

/**
 * One funding operation as guarded changes. The real ledger's counters are pinned so the reported
 * previous/new values are exactly what was applied; the shadow ledger gets the same change.
 */
export function fundingPlan(req: BudgetFunding, real: Ledger, shadow: Ledger | undefined): FundingPlan {
  const {scope, unit} = real
  const amount = req.amount.amount
  const pin = (book: Book, l: Ledger, fields: Array<'allocated' | 'spent' | 'reserved' | 'debt'>): Condition[] => [
    {book, scope, unit, field: 'status', op: 'eq', value: 'ACTIVE'},
    ...fields.map((field) => ({book, scope, unit, field, op: 'eq' as const, value: l[field]})),
  ]
  const conditions = pin('real', real, ['allocated', 'spent', 'reserved', 'debt'])
  const deltas: LedgerDelta[] = []
  const both = (f: (book: Book, l: Ledger) => LedgerDelta) => {
    deltas.push(f('real', real))
    if (shadow) deltas.push(f('shadow', shadow))
  }
  let next = {allocated: real.allocated, spent: real.spent, debt: real.debt}
  switch (req.operation) {
    case 'CREDIT':
      both((book) => ({book, scope, unit, add: {allocated: amount}}))
      next = {...next, allocated: real.allocated + amount}
      break
    case 'DEBIT':
      if (real.remaining < amount) {
        throw new ProtocolError('BUDGET_EXCEEDED', `DEBIT of ${amount} would make remaining negative (remaining ${real.remaining})`, {remaining: real.remaining, requested: amount})
      }
      both((book) => ({book, scope, unit, add: {allocated: -amount}}))
      next = {...next, allocated: real.allocated - amount}
      break
    case 'RESET':
      both((book) => ({book, scope, unit, set: {allocated: amount}}))
      next = {...next, allocated: amount}
      break
    case 'RESET_SPENT': {
      const spent = req.spent?.amount ?? 0
      both((book) => ({book, scope, unit, set: {allocated: amount, spent}}))
      next = {...next, allocated: amount, spent}
      break
    }
    case 'REPAY_DEBT': {
      const repay = (l: Ledger) => Math.min(amount, l.debt)
      both((book, l) => ({book, scope, unit, set: {debt: l.debt - repay(l), is_over_limit: l.debt - repay(l) > l.overdraft_limit}}))
      if (shadow) conditions.push({book: 'shadow', scope, unit, field: 'debt', op: 'eq', value: shadow.debt})
      next = {...next, debt: real.debt - repay(real)}
      break
    }
  }
  return {conditions, deltas, next: {...next, remaining: next.allocated - next.spent - real.reserved - next.debt}}
}
