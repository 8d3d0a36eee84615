// The config file's state seeded into the store at start (create-if-absent), and the tier control a
// fresh store starts with.
import type {CyclesConfig} from '../config/schema.js'
import {policySeedWrites} from '../config/policies.js'
import {publicKeyPrefix} from '../admin/auth.js'
import {DEFAULT_PERMISSIONS} from '../admin/requests.js'
import {WriteFailedError} from '../io/group-commit-writer.js'
import {sha256Hex} from '../protocol/canonical-json.js'
import type {Book, Ledger} from '../protocol/types.js'
import {openingLedger} from '../store/ledger-math.js'
import type {Store, TierControl, Tx} from '../store/types.js'
import {BUDGET_PERIODS_COLLECTION, budgetKey, periodConfigWrites} from './periods.js'

export function controlFromConfig(config: CyclesConfig): TierControl {
  return {
    tiers: {low: config.tiers.low.mode, medium: config.tiers.medium.mode, high: config.tiers.high.mode},
    enforce_percent: {low: config.tiers.low.enforce_percent, medium: config.tiers.medium.enforce_percent, high: config.tiers.high.enforce_percent},
    killswitch: {engaged: false},
    version: 0,
  }
}

/** Key ids for config keys are derived from the secret hash, so restarts keep the same id. */
export function configKeyId(hash: string): string {
  return `key_${hash.slice(0, 16)}`
}

/**
 * Seed tenants, keys, budgets (in both books) and tier modes from the config. Create-if-absent:
 * state changed at run time (spend, funding, freezes, mode changes) survives a restart.
 */
export async function seedFromConfig(store: Store, config: CyclesConfig, nowMs: number): Promise<void> {
  const tx: Tx = {tenants: [], apiKeys: [], createLedgers: []}
  for (const t of config.tenants) {
    if (await store.getTenant(t.id)) continue
    const {id, ...rest} = t
    tx.tenants!.push({tenant_id: id, ...rest, created_at_ms: nowMs})
  }
  for (const k of config.api_keys) {
    const hash = k.secret_sha256 ?? sha256Hex(k.secret!)
    const keyId = k.key_id ?? configKeyId(hash)
    const existing = await store.getApiKey(keyId)
    if (existing) continue // may have been revoked at run time; never resurrect it
    tx.apiKeys!.push({
      key_id: keyId,
      tenant_id: k.tenant,
      key_hash: hash,
      key_prefix: k.secret ? publicKeyPrefix(k.secret) : '',
      name: k.name ?? 'from config',
      status: 'ACTIVE',
      permissions: k.permissions ?? [...DEFAULT_PERMISSIONS],
      ...(k.scope_filter?.length ? {scope_filter: k.scope_filter} : {}),
      created_at_ms: nowMs,
    })
  }
  for (const b of config.budgets) {
    for (const book of ['real', 'shadow'] as Book[]) {
      const [existing] = await store.getLedgers(book, [b.scope], b.unit)
      if (existing) continue
      const ledger: Ledger & {book: Book} = {
        book,
        ...openingLedger(b, b.allocated),
        ...(b.commit_overage_policy ? {commit_overage_policy: b.commit_overage_policy} : {}),
        created_at_ms: nowMs,
        updated_at_ms: nowMs,
      }
      tx.createLedgers!.push(ledger)
    }
  }
  // Periodic budgets: the file's period when the store has none for the budget (create-if-absent too).
  const periodic = config.budgets.filter((b) => b.period)
  if (periodic.length > 0) {
    const periodDocs = await store.getDocs(BUDGET_PERIODS_COLLECTION, periodic.map((b) => budgetKey(b.scope, b.unit)))
    const docs = periodic.flatMap((b, i) => (periodDocs[i] ? [] : periodConfigWrites(b.scope, b.unit, b.period, nowMs)))
    if (docs.length > 0) tx.docs = docs
  }
  if (!(await store.getControl())) tx.control = controlFromConfig(config)
  tx.docs = [...(tx.docs ?? []), ...(await policySeedWrites(store, config, nowMs))] // policies and custom action kinds (src/config/policies.ts)
  // Nothing new (every restart after the first): no journal line, so a full state disk is no reason not to start.
  if (tx.tenants!.length === 0 && tx.apiKeys!.length === 0 && tx.createLedgers!.length === 0 && !tx.control && tx.docs.length === 0) return
  const result = await store.apply(tx)
  if (!result.ok) throw new Error(`seeding state from config failed: ${result.failed} ${result.detail ?? ''}`)
  try {
    await store.flushed()
  } catch (error) {
    // A full state disk: the seed stays in memory and is written with the journal once space returns.
    if (!(error instanceof WriteFailedError)) throw error
  }
}
