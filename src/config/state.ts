// The stored state a config file is compared with (src/config/diff.ts): read from the store at
// daemon start, or from a running daemon's admin API for `cycles config diff | apply`.
import {effectiveKeyStatus} from '../admin/wire.js'
import type {AdminClient} from '../client/admin-client.js'
import {CliError, EXIT} from '../cli/errors.js'
import type {ControlClient} from '../client/control-client.js'
import {enforcePercentFor} from '../evaluator/tiers.js'
import {TIERS, type Tier} from '../protocol/types.js'
import type {Store} from '../store/types.js'
import type {StoredState} from './diff.js'

export async function storedStateFromStore(store: Store, nowMs: number): Promise<StoredState> {
  const control = await store.getControl()
  const [ledgers, tenants, keys] = await Promise.all([store.listLedgers('real'), store.listTenants(), store.listApiKeys()])
  return {
    tiers: control ? (Object.fromEntries(TIERS.map((t) => [t, {mode: control.tiers[t], enforce_percent: enforcePercentFor(control, t)}])) as StoredState['tiers']) : null,
    killswitch_engaged: control?.killswitch.engaged ?? false,
    budgets: ledgers.map((l) => ({scope: l.scope, unit: l.unit, allocated: l.allocated, overdraft_limit: l.overdraft_limit, status: l.status})),
    tenants: tenants.map((t) => ({id: t.tenant_id, status: t.status})),
    keys: keys.map((k) => ({key_id: k.key_id, tenant: k.tenant_id, status: effectiveKeyStatus(k, nowMs)})),
  }
}

export async function storedStateFromAdmin(admin: AdminClient, control: ControlClient): Promise<StoredState> {
  const [c, budgets, tenants, keys] = await Promise.all([
    // The control routes are a cycles extension: a reference admin server has no tiers to compare.
    control.status().catch((error: unknown) => {
      if (error instanceof CliError && error.exit === EXIT.NOT_FOUND) return undefined
      throw error
    }),
    admin.all((cursor) => admin.listBudgets({limit: 200, ...(cursor ? {cursor} : {})})),
    admin.all((cursor) => admin.listTenants({limit: 200, ...(cursor ? {cursor} : {})})),
    admin.all((cursor) => admin.listApiKeys({limit: 200, ...(cursor ? {cursor} : {})})),
  ])
  return {
    tiers: c ? (Object.fromEntries(TIERS.map((t: Tier) => [t, {mode: c.tiers[t], enforce_percent: c.enforce_percent?.[t] ?? 100}])) as StoredState['tiers']) : null,
    killswitch_engaged: c?.killswitch.engaged ?? false,
    budgets: budgets.map((b) => ({scope: b.scope, unit: b.unit, allocated: b.allocated.amount, overdraft_limit: b.overdraft_limit?.amount ?? 0, status: b.status})),
    tenants: tenants.map((t) => ({id: t.tenant_id, status: t.status})),
    keys: keys.map((k) => ({key_id: k.key_id, tenant: k.tenant_id, status: k.status})),
  }
}
