// The limit search (shadow-analytics.md §2.1 (d)): the smallest allocation whose replayed denial
// rate is at most the target. The rate is not monotone in the limit under a stateful book (admitting
// one large request can crowd out several small ones later), so after bisection the neighbours
// below the answer are replayed too, and the readable figure is checked by replay again.

/** Round up to three significant figures (README "Calibration"): 41,234,567 → 41,300,000; 987 → 987. */
export function roundReadable(x: number): number {
  if (x <= 0) return 0
  const digits = Math.floor(Math.log10(x)) + 1
  const step = 10 ** Math.max(0, digits - 3)
  return Math.ceil(x / step - 1e-9) * step
}

/** The next readable figure above x (one step in the third significant figure). */
export function nextReadable(x: number): number {
  const r = roundReadable(x)
  const digits = Math.floor(Math.log10(Math.max(1, r))) + 1
  return r + 10 ** Math.max(0, digits - 3)
}

export interface SearchResult {
  allocated: number
  rate: number
  /** `target`: reached the target; `best_effort`: other budgets deny more than the target whatever this limit is. */
  method: 'target' | 'best_effort'
  replays: number
}

/** Neighbours checked below the bisection's answer. */
const NEIGHBOURS = [0.98, 0.95, 0.9]

/** A rate at a limit; `exact: false` when the replay stopped once the rate exceeded `stopAbove` (then only a lower bound). */
export type RateAt = (allocated: number, stopAbove: number) => {rate: number; exact: boolean}

/**
 * Smallest readable L with rateAt(L) ≤ goal, searched over [0, ceiling] (bisection to 0.2 %, then
 * the neighbours 2, 5 and 10 % below). When even the ceiling
 * misses the goal, the goal becomes the ceiling's rate: the limit then adds no denials of its own.
 * Replays may stop early once they are above the goal: only "above or not" is needed of them.
 */
export function searchLimit(rateAt: RateAt, goal: number, ceiling: number): SearchResult {
  let replays = 0
  const memo = new Map<number, {rate: number; exact: boolean}>()
  let want = Infinity
  const f = (x: number, exact = false) => {
    let v = memo.get(x)
    if (v === undefined || (exact && !v.exact)) {
      v = rateAt(x, exact ? Infinity : want)
      memo.set(x, v)
      replays++
    }
    return v.rate
  }
  let hi = Math.max(1, Math.ceil(ceiling))
  let method: SearchResult['method'] = 'target'
  want = goal
  const top = f(hi, true)
  if (top > goal) {
    method = 'best_effort'
    want = top
  }
  let lo = 0
  if (f(lo) <= want) hi = lo
  while (hi - lo > Math.max(1, hi * 0.002)) {
    const mid = Math.floor((lo + hi) / 2)
    if (f(mid) <= want) hi = mid
    else lo = mid
  }
  let best = hi
  for (const k of NEIGHBOURS) {
    const x = Math.floor(hi * k)
    if (x < best && f(x) <= want) best = x
  }
  let allocated = roundReadable(best)
  for (let i = 0; i < 8 && f(allocated) > want; i++) allocated = nextReadable(allocated)
  return {allocated, rate: f(allocated, true), method, replays}
}
