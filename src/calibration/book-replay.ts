// One shadow book stepped through the log one record at a time (replay.ts runs it over a whole log;
// probe.ts resumes it from checkpoints). Every decision comes from the one evaluator
// (src/evaluator): evaluateReserve, settle and the shadow-book delta builders; this class only keeps
// the book and the open holds, and applies the deltas it is given.
import {evaluateReserve} from '../evaluator/evaluate.js'
import {settle} from '../evaluator/settle.js'
import {chargeDeltas, holdDeltas, releaseHold} from '../evaluator/shadow-book.js'
import type {Ledger, OveragePolicy} from '../protocol/types.js'
import {applyDelta, openingLedger} from '../store/ledger-math.js'
import type {LedgerDelta} from '../store/types.js'
import {KIND, type ReplayLog, policyOf, reasonIndex} from './replay-log.js'
import type {BookLayout} from './replay.js'

/** An open reservation: the budgets holding its estimate (empty: the would-be decision was DENY). */
export interface Hold {
  budgets: readonly number[]
  estimate: number
  policy: OveragePolicy
  reason: number
}

/** The book at one point of a replay: ledgers are never mutated (applyDelta copies), so keeping references is enough. */
export interface Snapshot {
  budgets: readonly number[]
  ledgers: Ledger[]
  holds: Map<number, Hold>
}

const UNIT_MISMATCH = reasonIndex('UNIT_MISMATCH')
const BUDGET_NOT_FOUND = reasonIndex('BUDGET_NOT_FOUND')
const NONE: readonly number[] = []

/** Per scope group: the budgets at its affected scopes, root first (what a would-be ALLOW holds). */
export function heldBudgets(layout: BookLayout): Array<readonly number[]> {
  return layout.slots.map((slot) => {
    const held = [...slot].filter((b) => b >= 0)
    return held.length > 0 ? held : NONE
  })
}

export class BookReplay {
  readonly ledgers: Ledger[]
  holds = new Map<number, Hold>()
  /** The last stepped record's would-be outcome. */
  deny = 0
  reason = 0
  deniedBudget = -1
  deniedLevel = -1
  /** 0 when the replay cannot know the outcome (a commit whose reserve is outside the window). */
  known = 1
  private readonly held: Array<readonly number[]>
  /** One reusable ledger view per scope-group depth (evaluateReserve keeps no reference to it). */
  private readonly views: Array<Array<Ledger | undefined>> = []

  constructor(
    private readonly log: ReplayLog,
    private readonly layout: BookLayout,
    allocated?: ArrayLike<number>,
    overdraft?: ArrayLike<number>,
    held?: Array<readonly number[]>,
  ) {
    this.ledgers = layout.budgets.map((b, i) => {
      const l = openingLedger(b, allocated ? allocated[i] : b.allocated)
      if (overdraft) l.overdraft_limit = overdraft[i]
      return l
    })
    this.held = held ?? heldBudgets(layout)
  }

  /** Ledgers and open holds, for the given budgets (those a resumed replay will touch). */
  snapshot(budgets: readonly number[]): Snapshot {
    return {budgets, ledgers: budgets.map((b) => this.ledgers[b]), holds: new Map(this.holds)}
  }

  restore(s: Snapshot): void {
    s.budgets.forEach((b, i) => (this.ledgers[b] = s.ledgers[i]))
    this.holds = new Map(s.holds)
  }

  /** Give budget b another allocation, keeping what it has spent, reserved and owes. */
  reallocate(b: number, allocated: number): void {
    const l = this.ledgers[b]
    this.ledgers[b] = {...l, allocated, remaining: allocated - l.spent - l.reserved - l.debt}
  }

  /** Apply deltas built for `budgets`, in the same order (every shadow-book builder keeps it). */
  private apply(budgets: readonly number[], deltas: ReadonlyArray<Omit<LedgerDelta, 'book'>>): void {
    for (let i = 0; i < deltas.length; i++) {
      const b = budgets[i]
      const d = deltas[i]
      if (this.layout.budgets[b].scope !== d.scope) throw new Error(`replay: delta for ${d.scope} applied to ${this.layout.budgets[b].scope}`)
      // applyDelta reads only add/set; the book is the shadow book throughout
      const next = applyDelta(this.ledgers[b], d as LedgerDelta, 0)
      if (next) this.ledgers[b] = next
    }
  }

  private deniedAt(g: number, scope: string | undefined): void {
    if (scope === undefined) return
    const level = this.log.groups[g].affected.indexOf(scope)
    this.deniedLevel = level
    if (level >= 0) this.deniedBudget = this.layout.slots[g][level]
  }

  private scopesOf(budgets: readonly number[]): string[] {
    return budgets.map((b) => this.layout.budgets[b].scope)
  }

  step(r: number): void {
    const {log, layout, ledgers} = this
    const kind = log.kind[r]
    const g = log.group[r]
    const group = log.groups[g]
    const unit = group.unit
    const mismatch = layout.unitMismatch[g] === 1
    this.deny = 0
    this.reason = 0
    this.deniedBudget = -1
    this.deniedLevel = -1
    this.known = 1
    if (kind === KIND.reserve || kind === KIND.dryRun || kind === KIND.decide) {
      const slot = layout.slots[g]
      let view = this.views[slot.length]
      if (!view) this.views[slot.length] = view = new Array<Ledger | undefined>(slot.length)
      for (let s = 0; s < slot.length; s++) view[s] = slot[s] >= 0 ? ledgers[slot[s]] : undefined
      const estimate = log.estimate[r]
      const evaluation = evaluateReserve({tenant: layout.tenantOf[g], affected_scopes: group.affected, unit, estimate, ledgers: view, book: 'shadow'})
      if (mismatch) {
        this.deny = 1
        this.reason = UNIT_MISMATCH
      } else if (evaluation.decision === 'DENY') {
        this.deny = 1
        this.reason = reasonIndex(evaluation.reason_code)
        this.deniedAt(g, evaluation.denied_scope)
      }
      // A record the daemon did not answer 2xx (an enforced denial, a 400) changed no book.
      if (!log.ok[r]) return
      const amount = {unit, amount: estimate}
      if (kind === KIND.reserve) {
        const res = log.res[r]
        if (res < 0) return
        const policy = policyOf(log.policy[r]) ?? layout.tenantOf[g]?.default_commit_overage_policy ?? 'ALLOW_IF_AVAILABLE'
        if (this.deny) {
          this.holds.set(res, {budgets: NONE, estimate, policy, reason: this.reason})
          return
        }
        const held = this.held[g]
        this.holds.set(res, {budgets: held, estimate, policy, reason: 0})
        this.apply(held, holdDeltas('shadow', evaluation.budgeted, amount))
      } else if (!mismatch) {
        this.apply(this.held[g], chargeDeltas(evaluation, amount))
      }
      return
    }
    if (kind === KIND.event) {
      const held = this.held[g]
      if (held.length === 0) {
        this.deny = 1
        this.reason = mismatch ? UNIT_MISMATCH : BUDGET_NOT_FOUND
        return
      }
      const policy = policyOf(log.policy[r]) ?? 'ALLOW_IF_AVAILABLE'
      const s = settle({ledgers: held.map((b) => ledgers[b]), estimate: 0, actual: log.actual[r], policy, kind: 'event'})
      if (!s.ok) {
        this.deny = 1
        this.reason = reasonIndex(s.code)
        this.deniedAt(g, s.scope)
      } else if (log.ok[r]) this.apply(held, s.deltas)
      return
    }
    // commit, release, extend: the reservation's hold
    const res = log.res[r]
    const hold = res >= 0 ? this.holds.get(res) : undefined
    if (!hold) {
      this.known = 0
      return
    }
    if (hold.budgets.length === 0) {
      this.deny = 1
      this.reason = hold.reason
    }
    if (kind === KIND.extend) return
    const amount = {unit, amount: hold.estimate}
    if (!log.ok[r]) {
      // Expired before the client came back: the sweep had returned the hold.
      if (log.expired[r] && hold.budgets.length > 0) {
        this.apply(hold.budgets, releaseHold('shadow', this.scopesOf(hold.budgets), amount))
        this.holds.delete(res)
      }
      return
    }
    this.holds.delete(res)
    if (hold.budgets.length === 0) return
    if (kind === KIND.release) {
      this.apply(hold.budgets, releaseHold('shadow', this.scopesOf(hold.budgets), amount))
      return
    }
    const s = settle({ledgers: hold.budgets.map((b) => ledgers[b]), estimate: hold.estimate, actual: log.actual[r], policy: hold.policy, kind: 'commit'})
    if (s.ok) this.apply(hold.budgets, s.deltas)
    else {
      // Under full enforcement this commit would have failed; the hold would have expired.
      this.apply(hold.budgets, releaseHold('shadow', this.scopesOf(hold.budgets), amount))
      this.deny = 1
      this.reason = reasonIndex(s.code)
      this.deniedAt(g, s.scope)
    }
  }
}
