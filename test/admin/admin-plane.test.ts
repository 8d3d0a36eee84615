import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TestDaemon, call, startTestDaemon} from '../support/daemon.js'
import {specErrors} from '../support/spec.js'
import {ACME_KEY, ADMIN_CONFIG, ADMIN_KEY, admin, dryRun} from './support.js'
import {FIXTURE_CONFIG} from '../support/daemon.js'

const ok = (schema: string, body: unknown) => expect(specErrors('admin', schema, body), JSON.stringify(body)).toBeUndefined()
const q = encodeURIComponent

describe('admin plane', () => {
  let d: TestDaemon
  let url: string
  beforeAll(async () => {
    d = await startTestDaemon(ADMIN_CONFIG, {adminPort: 0})
    url = d.daemon.adminUrl
  })
  afterAll(async () => d.stop())

  it('stays off without an admin key, and the runtime plane serves no admin route', async () => {
    const plain = await startTestDaemon(FIXTURE_CONFIG, {adminPort: 0})
    try {
      expect(plain.daemon.adminUrl).toBe('')
      const res = await call(plain.url, 'GET', '/v1/admin/tenants', undefined, {'X-Admin-API-Key': ADMIN_KEY})
      expect(res.status).toBe(404)
    } finally {
      await plain.stop()
    }
  })

  it('refuses missing and wrong admin keys with 401 and audits them as __unauth__, one row per source and window', async () => {
    const none = await call(url, 'GET', '/v1/admin/tenants')
    expect(none.status).toBe(401)
    ok('ErrorResponse', none.body)
    expect(none.body.error).toBe('UNAUTHORIZED')
    const wrong = await call(url, 'GET', '/v1/admin/tenants', undefined, {'X-Admin-API-Key': 'x'.repeat(ADMIN_KEY.length)})
    expect(wrong.status).toBe(401)
    await d.daemon.adminPlane!.flushFailureRows(true) // as on shutdown: write the open window's row now
    const logs = await admin(url, 'GET', '/v1/admin/audit/logs?tenant_id=__unauth__&status=401')
    expect(logs.status).toBe(200)
    ok('AuditLogListResponse', logs.body)
    // One row per source and 60 s window of the wall clock: two rows only if the calls straddled a minute.
    const rows = logs.body.logs
    expect(rows.length).toBeGreaterThanOrEqual(1)
    expect(rows.length).toBeLessThanOrEqual(2)
    for (const row of rows) {
      expect(row).toMatchObject({operation: 'unauthenticatedRequests', resource_id: 'GET:/v1/admin/tenants', error_code: 'UNAUTHORIZED'})
      expect(row.source_ip).toMatch(/127\.0\.0\.1/)
      expect(row.metadata).toMatchObject({aggregated: true, rate_limited: 0})
    }
    const total = (field: string) => rows.reduce((n: number, r: {metadata: Record<string, number>}) => n + r.metadata[field], 0)
    expect(total('count')).toBe(2)
    expect(total('auth_failures')).toBe(2)
    expect(JSON.stringify(logs.body)).not.toContain('x'.repeat(ADMIN_KEY.length))
  })

  it('creates, lists, gets, suspends and reactivates tenants per the spec', async () => {
    const body = {tenant_id: 'initech', name: 'Initech'}
    ok('TenantCreateRequest', body)
    const created = await admin(url, 'POST', '/v1/admin/tenants', body)
    expect(created.status).toBe(201)
    ok('Tenant', created.body)
    expect(created.body.status).toBe('ACTIVE')
    expect((await admin(url, 'POST', '/v1/admin/tenants', body)).status).toBe(200)
    const conflict = await admin(url, 'POST', '/v1/admin/tenants', {tenant_id: 'initech', name: 'Other'})
    expect(conflict.status).toBe(409)
    expect(conflict.body.error).toBe('DUPLICATE_RESOURCE')
    const bad = await admin(url, 'POST', '/v1/admin/tenants', {tenant_id: 'Bad_Id', name: 'x'})
    expect(bad.status).toBe(400)
    const unknownField = await admin(url, 'POST', '/v1/admin/tenants', {tenant_id: 'abc-1', name: 'x', surprise: 1})
    expect(unknownField.status).toBe(400)
    expect(unknownField.body.message).toContain('surprise')

    const list = await admin(url, 'GET', '/v1/admin/tenants?sort_by=tenant_id&sort_dir=asc&limit=2')
    expect(list.status).toBe(200)
    ok('TenantListResponse', list.body)
    expect(list.body.tenants.map((t: {tenant_id: string}) => t.tenant_id)).toEqual(['acme', 'globex'])
    expect(list.body.has_more).toBe(true)
    const page2 = await admin(url, 'GET', `/v1/admin/tenants?sort_by=tenant_id&sort_dir=asc&limit=2&cursor=${list.body.next_cursor}`)
    expect(page2.body.tenants[0].tenant_id).toBe('initech')
    const stale = await admin(url, 'GET', `/v1/admin/tenants?sort_by=name&limit=2&cursor=${list.body.next_cursor}`)
    expect(stale.status).toBe(400)

    const missing = await admin(url, 'GET', '/v1/admin/tenants/nope')
    expect(missing.status).toBe(404)
    ok('ErrorResponse', missing.body)
    expect(missing.body.error).toBe('TENANT_NOT_FOUND')

    const suspended = await admin(url, 'PATCH', '/v1/admin/tenants/initech', {status: 'SUSPENDED'})
    expect(suspended.status).toBe(200)
    ok('Tenant', suspended.body)
    expect(suspended.body.status).toBe('SUSPENDED')
    expect(suspended.body.suspended_at).toBeDefined()
    const active = await admin(url, 'PATCH', '/v1/admin/tenants/initech', {status: 'ACTIVE'})
    expect(active.body.status).toBe('ACTIVE')
    expect(active.body.suspended_at).toBeUndefined()
  })

  it('creates budgets in both books, rejects duplicates and bad scopes, lists with filters', async () => {
    const body = {tenant_id: 'acme', scope: 'tenant:acme/workspace:prod/agent:triage', unit: 'TOKENS', allocated: {unit: 'TOKENS', amount: 1000}}
    ok('BudgetCreateRequest', body)
    const created = await admin(url, 'POST', '/v1/admin/budgets', body)
    expect(created.status).toBe(201)
    ok('BudgetLedger', created.body)
    expect(created.body.remaining).toEqual({unit: 'TOKENS', amount: 1000})
    const [shadow] = await d.daemon.store.getLedgers('shadow', [body.scope], 'TOKENS')
    expect(shadow?.allocated).toBe(1000)

    const dup = await admin(url, 'POST', '/v1/admin/budgets', body)
    expect(dup.status).toBe(409)
    expect(dup.body.error).toBe('DUPLICATE_RESOURCE')
    const typo = await admin(url, 'POST', '/v1/admin/budgets', {...body, scope: 'tenant:acme/agents:triage'})
    expect(typo.status).toBe(400)
    expect(typo.body.message).toContain("did you mean 'agent:'")
    const noTenant = await admin(url, 'POST', '/v1/admin/budgets', {...body, tenant_id: undefined})
    expect(noTenant.status).toBe(400)
    const mismatch = await admin(url, 'POST', '/v1/admin/budgets', {...body, allocated: {unit: 'CREDITS', amount: 1}})
    expect(mismatch.body.error).toBe('UNIT_MISMATCH')

    const list = await admin(url, 'GET', `/v1/admin/budgets?tenant_id=acme&unit=TOKENS&sort_by=scope&sort_dir=asc`)
    expect(list.status).toBe(200)
    ok('BudgetListResponse', list.body)
    expect(list.body.ledgers.map((l: {scope: string}) => l.scope)).toEqual(['tenant:acme', body.scope])
    const prefix = await admin(url, 'GET', `/v1/admin/budgets?scope_prefix=${q('tenant:acme/workspace:prod')}`)
    expect(prefix.body.ledgers.every((l: {scope: string}) => l.scope.startsWith('tenant:acme/workspace:prod'))).toBe(true)
    expect(prefix.body.ledgers.length).toBe(4)
    const badRange = await admin(url, 'GET', '/v1/admin/budgets?utilization_min=0.9&utilization_max=0.1')
    expect(badRange.status).toBe(400)

    const lookup = await admin(url, 'GET', `/v1/admin/budgets/lookup?scope=${q(body.scope)}&unit=TOKENS`)
    expect(lookup.status).toBe(200)
    ok('BudgetLedger', lookup.body)
    const none = await admin(url, 'GET', `/v1/admin/budgets/lookup?scope=${q(body.scope)}&unit=CREDITS`)
    expect(none.status).toBe(404)
    expect(none.body.error).toBe('BUDGET_NOT_FOUND')

    const patched = await admin(url, 'PATCH', `/v1/admin/budgets?scope=${q(body.scope)}&unit=TOKENS`, {overdraft_limit: {unit: 'TOKENS', amount: 50}, commit_overage_policy: 'ALLOW_WITH_OVERDRAFT'})
    expect(patched.status).toBe(200)
    ok('BudgetLedger', patched.body)
    expect(patched.body.overdraft_limit.amount).toBe(50)
    expect(patched.body.commit_overage_policy).toBe('ALLOW_WITH_OVERDRAFT')
  })

  it('funds with CREDIT / DEBIT / RESET / RESET_SPENT / REPAY_DEBT, idempotently, in both books', async () => {
    const scope = 'tenant:acme/workspace:prod/agent:funded'
    await admin(url, 'POST', '/v1/admin/budgets', {tenant_id: 'acme', scope, unit: 'CREDITS', allocated: {unit: 'CREDITS', amount: 100}})
    const fund = (body: Record<string, unknown>) => {
      ok('BudgetFundingRequest', body)
      return admin(url, 'POST', `/v1/admin/budgets/fund?tenant_id=acme&scope=${q(scope)}&unit=CREDITS`, body)
    }
    const credit = await fund({operation: 'CREDIT', amount: {unit: 'CREDITS', amount: 50}, reason: 'top-up', idempotency_key: 'inc-1'})
    expect(credit.status).toBe(200)
    ok('BudgetFundingResponse', credit.body)
    expect(credit.body.previous_allocated.amount).toBe(100)
    expect(credit.body.new_allocated.amount).toBe(150)
    expect(credit.body.new_remaining.amount).toBe(150)
    // A retry with the same key and payload replays; nothing is credited twice.
    const again = await fund({operation: 'CREDIT', amount: {unit: 'CREDITS', amount: 50}, reason: 'top-up', idempotency_key: 'inc-1'})
    expect(again.text).toBe(credit.text)
    // The body is the original, byte for byte; only a header says it is a replay (the CLI says "already applied").
    expect(again.headers.get('x-cycles-idempotent-replay')).toBe('true')
    expect(credit.headers.get('x-cycles-idempotent-replay')).toBeNull()
    const clash = await fund({operation: 'CREDIT', amount: {unit: 'CREDITS', amount: 51}, idempotency_key: 'inc-1'})
    expect(clash.status).toBe(409)
    expect(clash.body.error).toBe('IDEMPOTENCY_MISMATCH')
    let [real] = await d.daemon.store.getLedgers('real', [scope], 'CREDITS')
    let [shadow] = await d.daemon.store.getLedgers('shadow', [scope], 'CREDITS')
    expect(real?.allocated).toBe(150)
    expect(shadow?.allocated).toBe(150)

    const tooMuch = await fund({operation: 'DEBIT', amount: {unit: 'CREDITS', amount: 151}, idempotency_key: 'd-1'})
    expect(tooMuch.status).toBe(409)
    expect(tooMuch.body.error).toBe('BUDGET_EXCEEDED')
    const debit = await fund({operation: 'DEBIT', amount: {unit: 'CREDITS', amount: 30}, idempotency_key: 'd-2'})
    expect(debit.body.new_allocated.amount).toBe(120)

    const reset = await fund({operation: 'RESET', amount: {unit: 'CREDITS', amount: 500}, idempotency_key: 'r-1'})
    expect(reset.body).toMatchObject({previous_allocated: {amount: 120}, new_allocated: {amount: 500}, new_remaining: {amount: 500}})

    // Debt: set it up directly in the store (commit overage), then repay part of it.
    await d.daemon.store.apply({deltas: [
      {book: 'real', scope, unit: 'CREDITS', add: {spent: 200, debt: 40}},
      {book: 'shadow', scope, unit: 'CREDITS', add: {debt: 10}},
    ]})
    const resetSpent = await fund({operation: 'RESET_SPENT', amount: {unit: 'CREDITS', amount: 300}, spent: {unit: 'CREDITS', amount: 20}, idempotency_key: 'rs-1'})
    ok('BudgetFundingResponse', resetSpent.body)
    expect(resetSpent.body).toMatchObject({previous_spent: {amount: 200}, new_spent: {amount: 20}, new_allocated: {amount: 300}, new_remaining: {amount: 300 - 20 - 40}, new_debt: {amount: 40}})
    const spentWrongOp = await fund({operation: 'CREDIT', amount: {unit: 'CREDITS', amount: 1}, spent: {unit: 'CREDITS', amount: 1}})
    expect(spentWrongOp.status).toBe(400)
    const repay = await fund({operation: 'REPAY_DEBT', amount: {unit: 'CREDITS', amount: 25}, idempotency_key: 'rd-1'})
    expect(repay.body).toMatchObject({previous_debt: {amount: 40}, new_debt: {amount: 15}, previous_remaining: {amount: 240}, new_remaining: {amount: 265}})
    const repayAll = await fund({operation: 'REPAY_DEBT', amount: {unit: 'CREDITS', amount: 1000}, idempotency_key: 'rd-2'})
    expect(repayAll.body.new_debt.amount).toBe(0)
    ;[real] = await d.daemon.store.getLedgers('real', [scope], 'CREDITS')
    ;[shadow] = await d.daemon.store.getLedgers('shadow', [scope], 'CREDITS')
    expect(real).toMatchObject({allocated: 300, spent: 20, debt: 0, remaining: 280})
    expect(shadow).toMatchObject({allocated: 300, spent: 20, debt: 0, remaining: 280})

    const noTenant = await admin(url, 'POST', `/v1/admin/budgets/fund?scope=${q(scope)}&unit=CREDITS`, {operation: 'CREDIT', amount: {unit: 'CREDITS', amount: 1}})
    expect(noTenant.status).toBe(400)
    const unitMismatch = await fund({operation: 'CREDIT', amount: {unit: 'TOKENS', amount: 1}})
    expect(unitMismatch.body.error).toBe('UNIT_MISMATCH')

    const audit = await admin(url, 'GET', `/v1/admin/audit/logs?operation=fundBudget&resource_id=${q(`${scope}:CREDITS`)}`)
    ok('AuditLogListResponse', audit.body)
    expect(audit.body.logs.length).toBe(6)
    expect(audit.body.logs.every((l: {status: number}) => l.status === 200)).toBe(true)
  })

  it('freezes and unfreezes both books; a frozen budget denies dry-runs and refuses funding', async () => {
    const scope = 'tenant:acme/workspace:prod/agent:mailer'
    const path = (op: string) => `/v1/admin/budgets/${op}?scope=${q(scope)}&unit=RISK_POINTS`
    const frozen = await admin(url, 'POST', path('freeze'), {reason: 'runaway agent'})
    expect(frozen.status).toBe(200)
    ok('BudgetLedger', frozen.body)
    expect(frozen.body.status).toBe('FROZEN')
    const [shadow] = await d.daemon.store.getLedgers('shadow', [scope], 'RISK_POINTS')
    expect(shadow?.status).toBe('FROZEN')
    const twice = await admin(url, 'POST', path('freeze'))
    expect(twice.status).toBe(409)
    expect(twice.body.message).toBe('Budget is already frozen')
    const deny = await dryRun(d.url, ACME_KEY, {tenant: 'acme', workspace: 'prod', agent: 'mailer'}, 'RISK_POINTS', 1)
    expect(deny.body).toMatchObject({decision: 'DENY', reason_code: 'BUDGET_FROZEN'})
    const fund = await admin(url, 'POST', `/v1/admin/budgets/fund?tenant_id=acme&scope=${q(scope)}&unit=RISK_POINTS`, {operation: 'CREDIT', amount: {unit: 'RISK_POINTS', amount: 1}})
    expect(fund.status).toBe(409)
    expect(fund.body.error).toBe('BUDGET_FROZEN')
    const thawed = await admin(url, 'POST', path('unfreeze'))
    expect(thawed.status).toBe(200)
    expect(thawed.body.status).toBe('ACTIVE')
    expect((await admin(url, 'POST', path('unfreeze'))).status).toBe(409)
    const allow = await dryRun(d.url, ACME_KEY, {tenant: 'acme', workspace: 'prod', agent: 'mailer'}, 'RISK_POINTS', 1)
    expect(allow.body.decision).toBe('ALLOW')
  })

  it('creates a key (secret once, stored hashed), lists it without secrets, revokes it: the runtime 401s at once', async () => {
    const body = {tenant_id: 'acme', name: 'agent key', permissions: ['reservations:create', 'balances:read']}
    ok('ApiKeyCreateRequest', body)
    const created = await admin(url, 'POST', '/v1/admin/api-keys', body)
    expect(created.status).toBe(201)
    ok('ApiKeyCreateResponse', created.body)
    const secret: string = created.body.key_secret
    expect(secret).toMatch(/^cyc_live_[A-Za-z0-9]{32}$/)
    // key_prefix is the scheme only: no character of the random part is ever shown or stored
    expect(created.body.key_prefix).toBe('cyc_live_')
    const stored = await d.daemon.store.getApiKey(created.body.key_id)
    expect(stored?.key_hash).toMatch(/^[0-9a-f]{64}$/)
    expect(JSON.stringify(stored)).not.toContain(secret)
    expect(JSON.stringify(stored)).not.toContain(secret.slice(9, 12))

    const works = await dryRun(d.url, secret, {tenant: 'acme'}, 'USD_MICROCENTS', 1)
    expect(works.status).toBe(200)

    const list = await admin(url, 'GET', '/v1/admin/api-keys?tenant_id=acme&status=ACTIVE')
    ok('ApiKeyListResponse', list.body)
    expect(list.body.keys.some((k: {key_id: string}) => k.key_id === created.body.key_id)).toBe(true)
    expect(list.text).not.toContain(secret)
    expect(list.text).not.toContain(stored!.key_hash)
    expect(list.body.keys.find((k: {key_id: string}) => k.key_id === created.body.key_id).key_prefix).toBe('cyc_live_')
    const auditRow = await admin(url, 'GET', `/v1/admin/audit/logs?resource_id=${created.body.key_id}&operation=createApiKey`)
    expect(auditRow.body.logs[0].metadata.key_prefix).toBe('cyc_live_')

    const patched = await admin(url, 'PATCH', `/v1/admin/api-keys/${created.body.key_id}`, {name: 'renamed', permissions: ['reservations:create']})
    expect(patched.status).toBe(200)
    ok('ApiKey', patched.body)
    const badPerm = await admin(url, 'PATCH', `/v1/admin/api-keys/${created.body.key_id}`, {permissions: ['root']})
    expect(badPerm.status).toBe(400)
    expect(badPerm.body.message).toContain('Unrecognized permission: root')

    const revoked = await admin(url, 'DELETE', `/v1/admin/api-keys/${created.body.key_id}?reason=leaked`)
    expect(revoked.status).toBe(200)
    ok('ApiKey', revoked.body)
    expect(revoked.body).toMatchObject({status: 'REVOKED', revoked_reason: 'leaked'})
    const refused = await dryRun(d.url, secret, {tenant: 'acme'}, 'USD_MICROCENTS', 1)
    expect(refused.status).toBe(401)
    const twice = await admin(url, 'DELETE', `/v1/admin/api-keys/${created.body.key_id}`)
    expect(twice.status).toBe(409)
    expect(twice.body.error).toBe('KEY_REVOKED')
    expect((await admin(url, 'DELETE', '/v1/admin/api-keys/key_nope')).status).toBe(404)

    const audit = await admin(url, 'GET', `/v1/admin/audit/logs?resource_type=api_key&resource_id=${created.body.key_id}`)
    ok('AuditLogListResponse', audit.body)
    expect(audit.body.logs.map((l: {operation: string}) => l.operation)).toEqual(['revokeApiKey', 'updateApiKey', 'createApiKey'])
    const all = await admin(url, 'GET', '/v1/admin/audit/logs?limit=100')
    expect(all.text).not.toContain(secret)
    expect(all.text).not.toContain(stored!.key_hash)
  })

  it('filters audit logs by IN-lists, status ranges, time window and trace id', async () => {
    const traceId = 'ab'.repeat(16)
    await admin(url, 'PATCH', '/v1/admin/tenants/globex', {name: 'Globex Corp'}, {'X-Cycles-Trace-Id': traceId})
    const byTrace = await admin(url, 'GET', `/v1/admin/audit/logs?trace_id=${traceId}`)
    expect(byTrace.body.logs).toHaveLength(1)
    expect(byTrace.body.logs[0]).toMatchObject({operation: 'updateTenant', resource_type: 'tenant', resource_id: 'globex', tenant_id: 'globex', status: 200})
    const inList = await admin(url, 'GET', '/v1/admin/audit/logs?operation=createTenant,updateTenant&limit=100')
    expect(inList.body.logs.length).toBeGreaterThan(0)
    expect(inList.body.logs.every((l: {operation: string}) => ['createTenant', 'updateTenant'].includes(l.operation))).toBe(true)
    const failures = await admin(url, 'GET', '/v1/admin/audit/logs?status_min=400&status_max=499&limit=100')
    expect(failures.body.logs.length).toBeGreaterThan(3)
    expect(failures.body.logs.every((l: {status: number; metadata: {path?: string}}) => l.status >= 400 && l.status < 500 && l.metadata.path)).toBe(true)
    const future = await admin(url, 'GET', `/v1/admin/audit/logs?from=${q(new Date(Date.now() + 60_000).toISOString())}`)
    expect(future.body.logs).toHaveLength(0)
    const bad = await admin(url, 'GET', '/v1/admin/audit/logs?status=200&status_min=100')
    expect(bad.status).toBe(400)
    const page1 = await admin(url, 'GET', '/v1/admin/audit/logs?limit=2')
    expect(page1.body.has_more).toBe(true)
    const page2 = await admin(url, 'GET', `/v1/admin/audit/logs?limit=2&cursor=${page1.body.next_cursor}`)
    expect(page2.body.logs[0].log_id).not.toBe(page1.body.logs[0].log_id)
  })

  it('answers overview and introspect per the spec', async () => {
    await dryRun(d.url, ACME_KEY, {tenant: 'acme', workspace: 'prod', agent: 'mailer'}, 'RISK_POINTS', 10_000)
    const overview = await admin(url, 'GET', '/v1/admin/overview')
    expect(overview.status).toBe(200)
    ok('AdminOverviewResponse', overview.body)
    expect(overview.body.tenant_counts.total).toBeGreaterThanOrEqual(3)
    expect(overview.body.recent_denials[0]).toMatchObject({event_type: 'reservation.denied', tenant_id: 'acme', data: {reason_code: 'BUDGET_EXCEEDED'}})
    const intro = await admin(url, 'GET', '/v1/auth/introspect')
    ok('AuthIntrospectResponse', intro.body)
    expect(intro.body.auth_type).toBe('admin')
    const tenantIntro = await call(url, 'GET', '/v1/auth/introspect', undefined, {'X-Cycles-API-Key': ACME_KEY})
    ok('AuthIntrospectResponse', tenantIntro.body)
    expect(tenantIntro.body).toMatchObject({auth_type: 'tenant', tenant_id: 'acme'})
  })

  it('closes a tenant with its cascade; afterwards every mutation is 409 TENANT_CLOSED and reads still work', async () => {
    await admin(url, 'POST', '/v1/admin/tenants', {tenant_id: 'umbrella', name: 'Umbrella'})
    await admin(url, 'POST', '/v1/admin/budgets', {tenant_id: 'umbrella', scope: 'tenant:umbrella', unit: 'TOKENS', allocated: {unit: 'TOKENS', amount: 1000}})
    const key = await admin(url, 'POST', '/v1/admin/api-keys', {tenant_id: 'umbrella', name: 'k'})
    const secret = key.body.key_secret
    const live = await call(d.url, 'POST', '/v1/reservations', {idempotency_key: 'live-1', subject: {tenant: 'umbrella'}, action: {kind: 'llm.completion', name: 'x'}, estimate: {unit: 'TOKENS', amount: 100}}, {'X-Cycles-API-Key': secret})
    expect(live.status).toBe(200)
    const rid = live.body.reservation_id
    let [shadow] = await d.daemon.store.getLedgers('shadow', ['tenant:umbrella'], 'TOKENS')
    expect(shadow?.reserved).toBe(100)

    const closed = await admin(url, 'PATCH', '/v1/admin/tenants/umbrella', {status: 'CLOSED'})
    expect(closed.status).toBe(200)
    ok('Tenant', closed.body)
    expect(closed.body.status).toBe('CLOSED')
    expect(closed.body.closed_at).toBeDefined()
    const ledger = await admin(url, 'GET', `/v1/admin/budgets/lookup?scope=tenant:umbrella&unit=TOKENS`)
    expect(ledger.body.status).toBe('CLOSED')
    ;[shadow] = await d.daemon.store.getLedgers('shadow', ['tenant:umbrella'], 'TOKENS')
    expect(shadow).toMatchObject({status: 'CLOSED', reserved: 0, remaining: 1000})
    const keys = await admin(url, 'GET', '/v1/admin/api-keys?tenant_id=umbrella')
    expect(keys.body.keys[0]).toMatchObject({status: 'REVOKED', revoked_reason: 'tenant_closed'})
    const reservation = await call(d.url, 'GET', `/v1/reservations/${rid}`, undefined, {'X-Admin-API-Key': ADMIN_KEY})
    expect(reservation.status).toBe(200)
    expect(reservation.body.status).toBe('RELEASED')

    // Runtime afterwards: the tenant's keys were revoked by the cascade → 401 (as the reference
    // answers for a closed tenant); the cascade already released the reservation, and the spec gives
    // TENANT_CLOSED precedence over RESERVATION_FINALIZED → 409 TENANT_CLOSED.
    expect((await dryRun(d.url, secret, {tenant: 'umbrella'}, 'TOKENS', 1)).status).toBe(401)
    const release = await call(d.url, 'POST', `/v1/reservations/${rid}/release`, {idempotency_key: 'rel-1'}, {'X-Admin-API-Key': ADMIN_KEY})
    expect(release.status).toBe(409)
    expect(release.body.error).toBe('TENANT_CLOSED')

    for (const [method, path, body] of [
      ['PATCH', '/v1/admin/tenants/umbrella', {status: 'ACTIVE'}],
      ['POST', '/v1/admin/budgets/fund?tenant_id=umbrella&scope=tenant:umbrella&unit=TOKENS', {operation: 'CREDIT', amount: {unit: 'TOKENS', amount: 1}}],
      ['POST', '/v1/admin/budgets/freeze?scope=tenant:umbrella&unit=TOKENS', undefined],
      ['POST', '/v1/admin/api-keys', {tenant_id: 'umbrella', name: 'again'}],
    ] as const) {
      const res = await admin(url, method, path, body)
      expect(res.status, `${method} ${path}`).toBe(409)
      expect(res.body.error).toBe('TENANT_CLOSED')
    }
    const cascadeRows = async () => (await admin(url, 'GET', '/v1/admin/audit/logs?tenant_id=umbrella&operation=tenant_close_cascade')).body.logs
    const rows = await cascadeRows()
    expect(rows.map((r: {resource_type: string}) => r.resource_type).sort()).toEqual(['api_key', 'budget', 'reservation'])
    // Re-issuing the close re-runs the cascade: nothing left to do, no duplicate rows.
    expect((await admin(url, 'PATCH', '/v1/admin/tenants/umbrella', {status: 'CLOSED'})).status).toBe(200)
    expect(await cascadeRows()).toHaveLength(3)
    expect((await admin(url, 'GET', '/v1/admin/tenants/umbrella')).status).toBe(200)
  })
})
