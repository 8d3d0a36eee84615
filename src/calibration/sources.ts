// Current allocations: from the daemon config file, or from a Cycles admin API (list budgets).
import {AdminClient} from '../client/admin-client.js'
import {HttpClient} from '../client/http.js'
import {loadConfig} from '../config/load.js'
import type {BudgetStatus, Unit} from '../protocol/types.js'
import type {BudgetSpec, TenantSpec} from './replay.js'

export interface CurrentBudgets {
  source: string
  budgets: BudgetSpec[]
  tenants: TenantSpec[]
}

export function budgetsFromConfig(file: string): CurrentBudgets {
  const config = loadConfig(file)
  return {
    source: file,
    budgets: config.budgets.map((b) => ({scope: b.scope, unit: b.unit, allocated: b.allocated, overdraft_limit: b.overdraft_limit, status: b.status, ...(b.caps ? {caps: b.caps} : {})})),
    tenants: config.tenants.map((t) => ({tenant_id: t.id, status: t.status, ...(t.default_commit_overage_policy ? {default_commit_overage_policy: t.default_commit_overage_policy} : {})})),
  }
}

/** Every budget the admin API lists (all pages), and every tenant with its default overage policy (what the replay falls back on when a record does not say). */
export async function budgetsFromAdmin(url: string, adminKey: string, timeoutMs = 30_000): Promise<CurrentBudgets> {
  const admin = new AdminClient(new HttpClient({baseUrl: url, headers: {'X-Admin-API-Key': adminKey}, timeoutMs, label: 'admin API', urlHint: '--admin-url / CYCLES_ADMIN_URL'}))
  const budgets: BudgetSpec[] = []
  let cursor: string | undefined
  do {
    const page = await admin.listBudgets({limit: 100, cursor})
    for (const l of page.items) {
      budgets.push({
        scope: l.scope,
        unit: l.unit as Unit,
        allocated: l.allocated.amount,
        overdraft_limit: l.overdraft_limit?.amount ?? 0,
        status: l.status as BudgetStatus,
      })
    }
    cursor = page.has_more ? page.next_cursor : undefined
  } while (cursor)
  const tenants: TenantSpec[] = []
  cursor = undefined
  do {
    const page = await admin.listTenants({limit: 100, cursor})
    for (const t of page.items) {
      const policy = t.default_commit_overage_policy as TenantSpec['default_commit_overage_policy']
      tenants.push({tenant_id: t.tenant_id, status: t.status as TenantSpec['status'], ...(policy ? {default_commit_overage_policy: policy} : {})})
    }
    cursor = page.has_more ? page.next_cursor : undefined
  } while (cursor)
  budgets.sort((a, b) => a.scope.localeCompare(b.scope) || a.unit.localeCompare(b.unit))
  return {source: url, budgets, tenants}
}
