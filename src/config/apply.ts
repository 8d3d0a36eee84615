// Apply the file's values where they differ from the stored state (`cycles config apply` through the
// admin API, `daemon start --config-wins` on the store before it serves): tier modes and percents,
// allocations as funding RESET (idempotent per change), overdraft limits, freeze/unfreeze. Every
// change is audited with the reason. Tenants, keys and closing are reported, never applied.
import {BudgetOps} from '../admin/budgets.js'
import {AdminCore, type AdminCtx} from '../admin/context.js'
import type {AdminClient} from '../client/admin-client.js'
import type {ControlClient} from '../client/control-client.js'
import {sha256Hex} from '../protocol/canonical-json.js'
import type {Tier} from '../protocol/types.js'
import type {Store} from '../store/types.js'
import type {ConfigDifference} from './diff.js'
import type {CyclesConfig} from './schema.js'

/** Where changes go: the admin API of a running daemon, or the store at start. */
export interface ConfigTarget {
  setTier(tier: Tier, mode: 'shadow' | 'enforce', percent: number, reason: string): Promise<void>
  resetAllocation(scope: string, unit: string, amount: number, idempotencyKey: string, reason: string): Promise<void>
  setOverdraft(scope: string, unit: string, amount: number, reason: string): Promise<void>
  setStatus(scope: string, unit: string, status: 'FROZEN' | 'ACTIVE', reason: string): Promise<void>
}

export interface AppliedChange {
  subject: string
  change: string
  outcome: 'applied' | 'failed'
  error?: string
}

const tenantOf = (scope: string) => /^tenant:([^/]+)/.exec(scope)?.[1] ?? ''
const splitSubject = (subject: string) => {
  const i = subject.lastIndexOf(' ')
  return {scope: subject.slice(0, i), unit: subject.slice(i + 1)}
}

/** The same change from the same stored value gets the same key, so a retry is a no-op; a later change a new one. */
export function resetIdempotencyKey(scope: string, unit: string, from: number | string | null, to: number): string {
  return `config-apply-${sha256Hex(`${scope}\u0000${unit}\u0000${from}\u0000${to}`).slice(0, 32)}`
}

/**
 * Order: tiers leaving enforcement first (the safe direction), then unfreezes (a frozen budget cannot
 * be funded), allocations, overdraft limits, freezes, and tiers entering or ramping enforcement last.
 */
export async function applyConfigDifferences(diffs: ConfigDifference[], config: CyclesConfig, target: ConfigTarget, reason: string): Promise<AppliedChange[]> {
  const out: AppliedChange[] = []
  const run = async (subject: string, change: string, fn: () => Promise<void>) => {
    try {
      await fn()
      out.push({subject, change, outcome: 'applied'})
    } catch (error) {
      out.push({subject, change, outcome: 'failed', error: (error as Error).message})
    }
  }
  const tiers = [...new Set(diffs.filter((d) => d.apply === 'set_tier').map((d) => d.subject as Tier))]
  const tierChange = (t: Tier) => run(`tier ${t}`, `${config.tiers[t].mode} at ${config.tiers[t].enforce_percent} %`, () => target.setTier(t, config.tiers[t].mode, config.tiers[t].enforce_percent, reason))
  for (const t of tiers.filter((x) => config.tiers[x].mode === 'shadow')) await tierChange(t)
  for (const d of diffs.filter((x) => x.apply === 'unfreeze')) {
    const {scope, unit} = splitSubject(d.subject)
    await run(d.subject, 'unfreeze', () => target.setStatus(scope, unit, 'ACTIVE', reason))
  }
  for (const d of diffs.filter((x) => x.apply === 'reset_allocation')) {
    const {scope, unit} = splitSubject(d.subject)
    const amount = d.config as number
    await run(d.subject, `allocated ${d.stored} → ${amount} (RESET)`, () => target.resetAllocation(scope, unit, amount, resetIdempotencyKey(scope, unit, d.stored, amount), reason))
  }
  for (const d of diffs.filter((x) => x.apply === 'set_overdraft')) {
    const {scope, unit} = splitSubject(d.subject)
    await run(d.subject, `overdraft_limit ${d.stored} → ${d.config}`, () => target.setOverdraft(scope, unit, d.config as number, reason))
  }
  for (const d of diffs.filter((x) => x.apply === 'freeze')) {
    const {scope, unit} = splitSubject(d.subject)
    await run(d.subject, 'freeze', () => target.setStatus(scope, unit, 'FROZEN', reason))
  }
  for (const t of tiers.filter((x) => config.tiers[x].mode === 'enforce')) await tierChange(t)
  return out
}

export function adminApiTarget(admin: AdminClient, control: ControlClient): ConfigTarget {
  return {
    async setTier(tier, mode, percent, reason) {
      await control.setTier(tier, mode, reason, percent)
    },
    async resetAllocation(scope, unit, amount, idempotencyKey, reason) {
      await admin.fundBudget(tenantOf(scope), scope, unit, {operation: 'RESET', amount: {unit, amount}, idempotency_key: idempotencyKey, reason})
    },
    async setOverdraft(scope, unit, amount, reason) {
      await admin.http.request('PATCH', '/v1/admin/budgets', {query: {scope, unit}, body: {overdraft_limit: {unit, amount}, metadata: {reason}}})
    },
    async setStatus(scope, unit, status, reason) {
      await admin.setFrozen(status === 'FROZEN', scope, unit, reason)
    },
  }
}

/**
 * The store itself, before the daemon serves (`--config-wins`): the admin plane's own budget
 * operations in process (same checks, same audit rows), and the control record written as the
 * control endpoint writes it.
 */
export function storeTarget(store: Store, now: () => number, actor: string): ConfigTarget {
  const core = new AdminCore({store, now})
  const budgets = new BudgetOps(core)
  const ctx: AdminCtx = {request_id: `config-wins-${now()}`, trace_id: sha256Hex(`config-wins-${now()}`).slice(0, 32), user_agent: actor, actor}
  const query = (scope: string, unit: string) => new URLSearchParams({scope, unit, tenant_id: tenantOf(scope)})
  return {
    async setTier(tier, mode, percent, reason) {
      const before = await store.getControl()
      if (!before) throw new Error('no control record yet (it is seeded from the file)')
      const after = {
        ...before,
        tiers: {...before.tiers, [tier]: mode},
        enforce_percent: {...before.enforce_percent, [tier]: percent},
        tier_changed_at_ms: {...before.tier_changed_at_ms, [tier]: now()},
        version: before.version + 1,
      }
      const audit = core.audit(ctx, {operation: 'control.tier.set', resource_type: 'control', resource_id: `tier:${tier}`, status: 200, metadata: {tier, mode, enforce_percent: percent, reason, actor, version: after.version}})
      const result = await store.apply({control: after, audit: [{...audit, actor_type: 'admin'}]})
      if (!result.ok) throw new Error(`could not store the control change: ${result.failed}`)
      await store.flushed()
    },
    async resetAllocation(scope, unit, amount, idempotencyKey, reason) {
      await budgets.fund(ctx, query(scope, unit), {operation: 'RESET', amount: {unit, amount}, idempotency_key: idempotencyKey, reason})
    },
    async setOverdraft(scope, unit, amount, reason) {
      await budgets.update(ctx, query(scope, unit), {overdraft_limit: {unit, amount}, metadata: {reason}})
    },
    async setStatus(scope, unit, status, reason) {
      await budgets.freeze(ctx, query(scope, unit), {reason}, status)
    },
  }
}
