// budget.threshold_crossed and budget.exhausted from a ledger's post-states. Per ledger one small
// integer (how many thresholds are at or below its utilization) and one flag, so a threshold fires
// once per direction until utilization crosses it back, and exhaustion once until funds return.
import type {Ledger} from '../../protocol/types.js'

export type ThresholdSignal = {kind: 'threshold'; threshold: number; direction: 'rising' | 'falling'; utilization: number} | {kind: 'exhausted'; utilization: number}

/** (spent + reserved) / allocated, as the spec defines it; undefined without an allocation. */
export function utilizationOf(l: Pick<Ledger, 'spent' | 'reserved' | 'allocated'>): number | undefined {
  return l.allocated > 0 ? (l.spent + l.reserved) / l.allocated : undefined
}

export class ThresholdDetector {
  private readonly thresholds: number[]
  private readonly levels = new Map<string, number>()
  private readonly exhausted = new Set<string>()

  constructor(thresholds: readonly number[]) {
    this.thresholds = [...new Set(thresholds)].sort((a, b) => a - b)
  }

  /** Remember a ledger's state without signalling (what it was before this process saw it change). */
  seed(key: string, l: Ledger): void {
    const u = utilizationOf(l)
    if (u === undefined) return
    this.levels.set(key, this.levelOf(u))
    if (l.remaining <= 0) this.exhausted.add(key)
    else this.exhausted.delete(key)
  }

  observe(key: string, l: Ledger): ThresholdSignal[] {
    const u = utilizationOf(l)
    if (u === undefined) return []
    const level = this.levelOf(u)
    const before = this.levels.get(key) ?? 0
    const out: ThresholdSignal[] = []
    if (level > before) for (let i = before; i < level; i++) out.push({kind: 'threshold', threshold: this.thresholds[i], direction: 'rising', utilization: u})
    if (level < before) for (let i = before - 1; i >= level; i--) out.push({kind: 'threshold', threshold: this.thresholds[i], direction: 'falling', utilization: u})
    this.levels.set(key, level)
    if (l.remaining <= 0 && !this.exhausted.has(key)) {
      this.exhausted.add(key)
      out.push({kind: 'exhausted', utilization: u})
    } else if (l.remaining > 0) this.exhausted.delete(key)
    return out
  }

  private levelOf(u: number): number {
    let n = 0
    while (n < this.thresholds.length && this.thresholds[n] <= u) n++
    return n
  }
}
