// The config file against the stored state. At start the daemon keeps what was changed at run time
// (tier modes, funding, freezes survive a restart), so a file edit alone changes nothing: this diff
// says so, `cycles config diff` shows it against a running daemon, and `config apply` /
// `daemon start --config-wins` apply the `apply` column. Pure: config and state in, differences out.
import {sha256Hex} from '../protocol/canonical-json.js'
import {TIERS, type Tier} from '../protocol/types.js'
import type {CyclesConfig} from './schema.js'

/** The parts of the stored state a config file describes, from the store or from the admin API. */
export interface StoredState {
  tiers: Record<Tier, {mode: 'shadow' | 'enforce'; enforce_percent: number}> | null
  killswitch_engaged: boolean
  budgets: Array<{scope: string; unit: string; allocated: number; overdraft_limit: number; status: string}>
  tenants: Array<{id: string; status: string}>
  keys: Array<{key_id: string; tenant: string; status: string}>
}

export type DifferenceAction = 'set_tier' | 'reset_allocation' | 'set_overdraft' | 'freeze' | 'unfreeze' | 'none'

export interface ConfigDifference {
  area: 'tier' | 'budget' | 'tenant' | 'api_key'
  /** `low`, `tenant:acme USD_MICROCENTS`, `acme`, a key id. */
  subject: string
  field: 'mode' | 'enforce_percent' | 'allocated' | 'overdraft_limit' | 'status' | 'presence'
  /** The file's value; null: absent from the file. */
  config: string | number | null
  /** The stored value; null: absent from the store. */
  stored: string | number | null
  /** What `config apply` and `--config-wins` do about it ('none': report only, see note). */
  apply: DifferenceAction
  note?: string
}

/** Key ids of config keys: given, or derived from the secret hash (as the daemon seeds them). */
export function configKeyIds(config: CyclesConfig): Array<{key_id: string; tenant: string}> {
  return config.api_keys.map((k) => ({key_id: k.key_id ?? `key_${(k.secret_sha256 ?? sha256Hex(k.secret!)).slice(0, 16)}`, tenant: k.tenant}))
}

export function diffConfig(config: CyclesConfig, state: StoredState): ConfigDifference[] {
  const out: ConfigDifference[] = []
  if (state.tiers) {
    for (const tier of TIERS) {
      const want = config.tiers[tier]
      const have = state.tiers[tier]
      if (want.mode !== have.mode) out.push({area: 'tier', subject: tier, field: 'mode', config: want.mode, stored: have.mode, apply: 'set_tier'})
      if (want.enforce_percent !== have.enforce_percent) {
        out.push({area: 'tier', subject: tier, field: 'enforce_percent', config: want.enforce_percent, stored: have.enforce_percent, apply: 'set_tier'})
      }
    }
  }

  const stored = new Map(state.budgets.map((b) => [`${b.scope} ${b.unit}`, b]))
  const listed = new Set<string>()
  for (const b of config.budgets) {
    const subject = `${b.scope} ${b.unit}`
    listed.add(subject)
    const have = stored.get(subject)
    if (!have) {
      out.push({area: 'budget', subject, field: 'presence', config: 'present', stored: null, apply: 'none', note: 'created from the file when the daemon starts'})
      continue
    }
    const closed = have.status === 'CLOSED'
    if (b.status !== have.status) out.push(statusDifference(subject, b.status, have.status))
    if (b.allocated !== have.allocated) {
      out.push({area: 'budget', subject, field: 'allocated', config: b.allocated, stored: have.allocated, apply: closed ? 'none' : 'reset_allocation', ...(closed ? {note: 'the budget is closed'} : {})})
    }
    if (b.overdraft_limit !== have.overdraft_limit) {
      out.push({area: 'budget', subject, field: 'overdraft_limit', config: b.overdraft_limit, stored: have.overdraft_limit, apply: closed ? 'none' : 'set_overdraft', ...(closed ? {note: 'the budget is closed'} : {})})
    }
  }
  for (const b of state.budgets) {
    const subject = `${b.scope} ${b.unit}`
    if (!listed.has(subject) && b.status !== 'CLOSED') out.push({area: 'budget', subject, field: 'presence', config: null, stored: 'present', apply: 'none', note: 'created at run time; not in the file (kept)'})
  }

  const tenants = new Map(state.tenants.map((t) => [t.id, t]))
  for (const t of config.tenants) {
    const have = tenants.get(t.id)
    if (!have) out.push({area: 'tenant', subject: t.id, field: 'presence', config: 'present', stored: null, apply: 'none', note: 'created from the file when the daemon starts'})
    else if (have.status !== t.status) {
      out.push({area: 'tenant', subject: t.id, field: 'status', config: t.status, stored: have.status, apply: 'none', note: tenantNote(t.id, t.status, have.status)})
    }
  }
  const fileTenants = new Set(config.tenants.map((t) => t.id))
  for (const t of state.tenants) {
    if (!fileTenants.has(t.id)) out.push({area: 'tenant', subject: t.id, field: 'presence', config: null, stored: 'present', apply: 'none', note: 'created at run time; not in the file (kept)'})
  }

  const keys = new Map(state.keys.map((k) => [k.key_id, k]))
  for (const k of configKeyIds(config)) {
    const have = keys.get(k.key_id)
    if (!have) out.push({area: 'api_key', subject: k.key_id, field: 'presence', config: 'present', stored: null, apply: 'none', note: `created from the file when the daemon starts (tenant ${k.tenant})`})
    else if (have.status !== 'ACTIVE') {
      out.push({
        area: 'api_key',
        subject: k.key_id,
        field: 'status',
        config: 'ACTIVE',
        stored: have.status,
        apply: 'none',
        note: `${have.status.toLowerCase()} at run time and never brought back from the file: remove it from the file, or create a new key (cycles api-key create --tenant ${k.tenant})`,
      })
    }
  }
  return out
}

function statusDifference(subject: string, want: string, have: string): ConfigDifference {
  const base = {area: 'budget' as const, subject, field: 'status' as const, config: want, stored: have}
  if (want === 'FROZEN' && have === 'ACTIVE') return {...base, apply: 'freeze'}
  if (want === 'ACTIVE' && have === 'FROZEN') return {...base, apply: 'unfreeze'}
  if (have === 'CLOSED') return {...base, apply: 'none', note: 'a closed budget is not reopened; create a budget at another scope or remove it from the file'}
  return {...base, apply: 'none', note: 'closing a budget is final: close it through the admin API if that is meant'}
}

function tenantNote(id: string, want: string, have: string): string {
  if (have === 'CLOSED') return 'a closed tenant is not reopened'
  if (want === 'ACTIVE') return `not applied from the file: cycles tenant reactivate ${id} --reason …`
  if (want === 'SUSPENDED') return `not applied from the file: cycles tenant suspend ${id} --reason …`
  return `not applied from the file: cycles tenant close ${id} --reason …`
}

const show = (v: string | number | null) => (v === null ? 'absent' : typeof v === 'number' ? v.toLocaleString('en-US') : v)

/** One line per difference: where, the file's value, the stored value, and what applies it. */
export function describeDifference(d: ConfigDifference): string {
  const what = d.area === 'api_key' ? `api key ${d.subject}` : `${d.area} ${d.subject}`
  if (d.field === 'presence') return `${what}: ${d.config === null ? 'in the store, not in the file' : 'in the file, not in the store'}${d.note ? ` — ${d.note}` : ''}`
  const how = d.apply === 'none' ? (d.note ? ` — ${d.note}` : '') : ` — the stored value is in effect; \`cycles config apply\` or \`daemon start --config-wins\` applies the file (${d.apply.replace('_', ' ')})`
  return `${what}: ${d.field} ${show(d.config)} in the file, ${show(d.stored)} in the store${how}`
}
