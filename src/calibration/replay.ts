// The replay: an ingested decision log run through the one evaluator (src/evaluator), in log order,
// against a shadow book seeded with a given set of allocations — the daemon's shadow book exactly
// (src/evaluator/shadow-book.ts): a would-be ALLOW holds its estimate, a commit settles at its
// actual, a release or expiry returns the hold, a dry-run or decide is charged its estimate, an
// event debits its actual. Nothing here decides; it only applies the evaluator's answers.
//
// Limits of the log (README "Calibration"): admin funding during the window is not in the decision
// log, and an expiry shows only when the client later commits or releases (the hold is returned
// then, not at the daemon's sweep).
import type {BudgetStatus, Caps, Ledger, OveragePolicy, Tenant, Unit} from '../protocol/types.js'
import {BookReplay} from './book-replay.js'
import {REASONS, type ReplayLog} from './replay-log.js'

export interface BudgetSpec {
  scope: string
  unit: Unit
  allocated: number
  overdraft_limit: number
  status: BudgetStatus
  caps?: Caps
}

export interface TenantSpec {
  tenant_id: string
  status: Tenant['status']
  default_commit_overage_policy?: OveragePolicy
}

/** The static part of a replay: which budget each record's scopes hit (allocations vary per replay). */
export interface BookLayout {
  budgets: BudgetSpec[]
  /** Per scope group: the budget index at each affected scope in the group's unit (-1: none). */
  slots: Int32Array[]
  /** Per scope group: no budget in its unit at any affected scope, but one in another unit. */
  unitMismatch: Uint8Array
  tenants: Map<string, Tenant>
  /** Per scope group: its tenant record (undefined when the config does not list it). */
  tenantOf: Array<Tenant | undefined>
}

export function bookLayout(log: ReplayLog, budgets: BudgetSpec[], tenants: TenantSpec[]): BookLayout {
  const index = new Map<string, number>()
  const unitsAt = new Map<string, Set<Unit>>()
  budgets.forEach((b, i) => {
    index.set(`${b.scope}\u0000${b.unit}`, i)
    let set = unitsAt.get(b.scope)
    if (!set) unitsAt.set(b.scope, (set = new Set()))
    set.add(b.unit)
  })
  const tenantMap = new Map<string, Tenant>(tenants.map((t) => [t.tenant_id, {...t}]))
  const slots: Int32Array[] = []
  const unitMismatch = new Uint8Array(log.groups.length)
  log.groups.forEach((g, gi) => {
    const s = new Int32Array(g.affected.length)
    let any = false
    g.affected.forEach((scope, k) => {
      s[k] = index.get(`${scope}\u0000${g.unit}`) ?? -1
      if (s[k] >= 0) any = true
    })
    slots.push(s)
    if (!any && g.affected.some((scope) => [...(unitsAt.get(scope) ?? [])].some((u) => u !== g.unit))) unitMismatch[gi] = 1
  })
  return {budgets, slots, unitMismatch, tenants: tenantMap, tenantOf: log.groups.map((g) => tenantMap.get(g.tenant))}
}

export interface ReplayOutcome {
  /** Per record (of those replayed): 1 when full enforcement would deny it. */
  deny: Uint8Array
  /** REASONS index of the would-be denial. */
  reason: Uint8Array
  /** The denying budget's index (-1: none, or no budget: BUDGET_NOT_FOUND / UNIT_MISMATCH / TENANT_CLOSED). */
  deniedBudget: Int32Array
  /** Position of the denying scope in the record's affected scopes (-1: none). */
  deniedLevel: Int8Array
  /** 0 when the replay cannot know the record's outcome (a commit whose reserve is outside the window). */
  known: Uint8Array
  /** The shadow book at the end. */
  ledgers: Ledger[]
}

/**
 * Replay `records` (indices into the log, ascending; default all) with `allocated[i]` for budget i
 * (default: the layout's allocations). Records outside `records` never touch the book, so a subset
 * must hold every record of the budgets it covers (see components()). With `into`, the outcomes of
 * `records` are written there (the others are left as they are).
 */
export function replay(log: ReplayLog, layout: BookLayout, options: {allocated?: ArrayLike<number>; overdraft?: ArrayLike<number>; records?: Int32Array; into?: ReplayOutcome; held?: Array<readonly number[]>} = {}): ReplayOutcome {
  const book = new BookReplay(log, layout, options.allocated, options.overdraft, options.held)
  const n = log.n
  const out: ReplayOutcome = options.into ?? emptyOutcome(n)
  out.ledgers = book.ledgers
  const {records} = options
  const count = records ? records.length : n
  for (let k = 0; k < count; k++) {
    const r = records ? records[k] : k
    book.step(r)
    out.deny[r] = book.deny
    out.reason[r] = book.reason
    out.deniedBudget[r] = book.deniedBudget
    out.deniedLevel[r] = book.deniedLevel
    out.known[r] = book.known
  }
  return out
}

/** An outcome with no record replayed yet (replay's `into`: components replayed one by one into one outcome). */
export function emptyOutcome(n: number): ReplayOutcome {
  return {
    deny: new Uint8Array(n),
    reason: new Uint8Array(n),
    deniedBudget: new Int32Array(n).fill(-1),
    deniedLevel: new Int8Array(n).fill(-1),
    known: new Uint8Array(n),
    ledgers: [],
  }
}

export interface Mismatch {
  record: number
  kind: number
  logged: {deny: boolean; reason: string; level: number}
  replayed: {deny: boolean; reason: string; level: number}
}

/** Records whose replayed would-be outcome differs from the logged one (only records the daemon evaluated and the replay knows). */
export function mismatches(log: ReplayLog, outcome: ReplayOutcome, limit = 20): {count: number; compared: number; sample: Mismatch[]} {
  let count = 0
  let compared = 0
  const sample: Mismatch[] = []
  for (let r = 0; r < log.n; r++) {
    if (!outcome.known[r] || !log.evaluated[r]) continue
    compared++
    const same = log.loggedDeny[r] === outcome.deny[r] && log.loggedReason[r] === outcome.reason[r] && log.loggedDeniedLevel[r] === outcome.deniedLevel[r]
    if (same) continue
    count++
    if (sample.length < limit) {
      sample.push({
        record: r,
        kind: log.kind[r],
        logged: {deny: log.loggedDeny[r] === 1, reason: REASONS[log.loggedReason[r]] ?? '?', level: log.loggedDeniedLevel[r]},
        replayed: {deny: outcome.deny[r] === 1, reason: REASONS[outcome.reason[r]] ?? '?', level: outcome.deniedLevel[r]},
      })
    }
  }
  return {count, compared, sample}
}

/**
 * Independent parts of the book: budgets that records touch together (a tenant budget and the
 * budgets below it), with the records that touch them, in log order. A replay of one component
 * gives the same answers for its records as a replay of everything.
 */
export function components(log: ReplayLog, layout: BookLayout): Array<{budgets: number[]; records: Int32Array}> {
  const parent = layout.budgets.map((_, i) => i)
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]]
    return x
  }
  for (const slot of layout.slots) {
    let first = -1
    for (const b of slot) {
      if (b < 0) continue
      if (first < 0) first = b
      else parent[find(b)] = find(first)
    }
  }
  const groupRoot = layout.slots.map((slot) => {
    for (const b of slot) if (b >= 0) return find(b)
    return -1
  })
  const counts = new Map<number, number>()
  for (let r = 0; r < log.n; r++) {
    const root = groupRoot[log.group[r]]
    if (root >= 0) counts.set(root, (counts.get(root) ?? 0) + 1)
  }
  const lists = new Map<number, {budgets: number[]; records: Int32Array; fill: number}>()
  for (let b = 0; b < layout.budgets.length; b++) {
    const root = find(b)
    let c = lists.get(root)
    if (!c) lists.set(root, (c = {budgets: [], records: new Int32Array(counts.get(root) ?? 0), fill: 0}))
    c.budgets.push(b)
  }
  for (let r = 0; r < log.n; r++) {
    const root = groupRoot[log.group[r]]
    if (root < 0) continue
    const c = lists.get(root)!
    c.records[c.fill++] = r
  }
  return [...lists.values()].map(({budgets, records}) => ({budgets, records}))
}
