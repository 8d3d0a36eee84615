// Counters shown by `cycles daemon status` (GET /actuator/cycles/status).
import type {DecisionRecord} from '../decision-log/record.js'

export class DaemonCounters {
  readonly startedAtMs: number
  requests = 0
  decisions = {ALLOW: 0, ALLOW_WITH_CAPS: 0, DENY: 0}
  wouldDenials = 0
  byEndpoint: Record<string, number> = {}
  errors5xx = 0

  constructor(now: number) {
    this.startedAtMs = now
  }

  observe(record: DecisionRecord): void {
    this.decisions[record.decision]++
    if (record.would_decision === 'DENY') this.wouldDenials++
    this.byEndpoint[record.endpoint] = (this.byEndpoint[record.endpoint] ?? 0) + 1
  }
}
