// The denial rate of one budget at a candidate limit, without replaying the whole log per candidate.
//
// One base replay runs the records with budget b unlimited (every other budget as given) and keeps
// checkpoints of the book. A replay at limit L is the same as the base, record for record, until the
// first record that could see b's limit: every branch of the evaluator that reads b's balance
// (remaining < estimate, the overage caps and overdraft of a settlement) compares `remaining` with
// at most max(estimate, actual) of the record, and remaining = L − (spent + reserved + debt). So
// while L ≥ (spent + reserved + debt) + max(estimate, actual) for every record so far, the two replays
// take the same branches and build the same deltas. A candidate resumes from the last checkpoint
// before that point, with b's allocation set to L — the exact result of a full replay, cheaper.
// A candidate may also stop once its denials exceed a bound (denials only add up).
import {BIG, isAttempt} from './accounting.js'
import {BookReplay, type Snapshot} from './book-replay.js'
import type {ReplayLog} from './replay-log.js'
import type {BookLayout} from './replay.js'

interface Checkpoint {
  /** Position in `records` the snapshot was taken before. */
  at: number
  snapshot: Snapshot
  /** Largest need of b over the records before `at` (the smallest limit that has not diverged yet). */
  need: number
  /** b's attempts and would-be denials before `at` in the base replay. */
  requests: number
  denials: number
}

export interface ProbeResult {
  rate: number
  /** false when the replay stopped early: the rate is then only a lower bound above `stopAbove`. */
  exact: boolean
}

/** Groups whose affected scopes include budget b. */
export function groupsTouching(layout: BookLayout, b: number): Uint8Array {
  const touches = new Uint8Array(layout.slots.length)
  layout.slots.forEach((slot, g) => {
    if (slot.includes(b)) touches[g] = 1
  })
  return touches
}

/** The budgets any of `records` touches, ascending. */
export function touchedBudgets(log: ReplayLog, layout: BookLayout, records: Int32Array): number[] {
  const seen = new Uint8Array(layout.slots.length)
  const out = new Set<number>()
  for (const r of records) {
    const g = log.group[r]
    if (seen[g]) continue
    seen[g] = 1
    for (const b of layout.slots[g]) if (b >= 0) out.add(b)
  }
  return [...out].sort((x, y) => x - y)
}

export class LimitProbe {
  private readonly checkpoints: Checkpoint[] = []
  private readonly touches: Uint8Array
  private readonly allocated: Float64Array
  private readonly held
  /** b's attempts over `records` (the same at every limit) and the base replay's denials. */
  readonly requests: number
  private readonly baseDenials: number
  private readonly maxNeed: number
  /** Records stepped so far (base and candidates). */
  stepped = 0

  /**
   * `records`: the records to replay (ascending, every record of the budgets they touch);
   * `allocated`: every budget's allocation (b's is ignored).
   */
  constructor(
    private readonly log: ReplayLog,
    private readonly layout: BookLayout,
    private readonly records: Int32Array,
    private readonly b: number,
    allocated: ArrayLike<number>,
    held?: Array<readonly number[]>,
    /** Records between checkpoints (default: about 512 checkpoints, at least 512 records apart). */
    every = Math.max(512, Math.ceil(records.length / 512)),
  ) {
    const budgets = touchedBudgets(log, layout, records)
    this.touches = groupsTouching(layout, b)
    this.allocated = Float64Array.from(allocated)
    this.allocated[b] = BIG
    this.held = held
    const book = new BookReplay(log, layout, this.allocated, undefined, held)
    let need = -Infinity
    let requests = 0
    let denials = 0
    for (let k = 0; k < records.length; k++) {
      if (k % every === 0) this.checkpoints.push({at: k, snapshot: book.snapshot(budgets), need, requests, denials})
      const r = records[k]
      const touched = this.touches[log.group[r]] === 1
      if (touched) {
        const l = book.ledgers[b]
        const x = l.spent + l.reserved + l.debt + Math.max(log.estimate[r], log.actual[r])
        if (x > need) need = x
      }
      book.step(r)
      if (touched && isAttempt(log.kind[r])) {
        requests++
        denials += book.deny
      }
    }
    this.stepped = records.length
    this.requests = requests
    this.baseDenials = denials
    this.maxNeed = need
  }

  /** b's denial rate over its attempts in `records` with b's allocation at `limit`. */
  rate(limit: number, stopAbove = Infinity): ProbeResult {
    const {log, records, touches, requests} = this
    if (requests === 0) return {rate: 0, exact: true}
    if (limit >= this.maxNeed) return {rate: this.baseDenials / requests, exact: true}
    // the last checkpoint taken before the first record whose need exceeds the limit
    let lo = 0
    let hi = this.checkpoints.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.checkpoints[mid].need <= limit) lo = mid
      else hi = mid - 1
    }
    const cp = this.checkpoints[lo]
    const book = new BookReplay(log, this.layout, this.allocated, undefined, this.held)
    book.restore(cp.snapshot)
    book.reallocate(this.b, limit)
    let denials = cp.denials
    for (let k = cp.at; k < records.length; k++) {
      const r = records[k]
      book.step(r)
      this.stepped++
      if (book.deny && touches[log.group[r]] === 1 && isAttempt(log.kind[r]) && ++denials / requests > stopAbove) return {rate: denials / requests, exact: false}
    }
    return {rate: denials / requests, exact: true}
  }
}
