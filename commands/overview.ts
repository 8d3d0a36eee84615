import {Flags} from '@oclif/core'

import {humanAmount} from '../src/cli/money.js'
import {budgetRows, documentLayout, scopeText, table} from '../src/cli/render.js'
import {RunbookCommand} from '../src/cli/runbook-command.js'
import {attention, governanceSummary} from '../src/runbook/overview.js'

export default class Overview extends RunbookCommand {
  static override description = 'What needs attention now: over-limit and nearly spent budgets, debt, frozen scopes, recent denials and would-be denials of shadowed traffic'
  static override examples = ['<%= config.bin %> overview', '<%= config.bin %> overview --threshold 0.8 --json']
  static override flags = {
    threshold: Flags.string({description: 'Used fraction from which a budget counts as nearly spent', default: '0.9'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(Overview)
    const a = await attention(this.admin(), Number(flags.threshold))
    if (this.jsonMode) {
      this.printJson(a)
      return
    }
    const o = a.overview
    const t = o.tenant_counts
    const b = o.budget_counts as Record<string, number>
    this.out(`as of ${o.as_of}: tenants ${t.total} (${t.active} active, ${t.suspended} suspended, ${t.closed} closed); budgets ${b.total} (${b.frozen} frozen, ${b.over_limit} over limit, ${b.with_debt} with debt)`)
    this.out('')
    this.out(`Nearly spent (≥ ${(a.threshold * 100).toFixed(0)}% used): ${a.high_utilization.length}`)
    if (a.high_utilization.length > 0) this.out(budgetRows(a.high_utilization, documentLayout()))
    this.out(`Over limit: ${o.over_limit_scopes.length}`)
    if (o.over_limit_scopes.length > 0) this.out(table(['scope', 'unit', 'debt', 'remaining'], o.over_limit_scopes.map((s) => [scopeText(s.scope), s.unit, humanAmount(s.debt, s.unit), humanAmount(s.remaining, s.unit)]), documentLayout()))
    this.out(`With debt: ${o.debt_scopes.length}`)
    if (o.debt_scopes.length > 0) this.out(table(['scope', 'unit', 'debt', 'overdraft limit'], o.debt_scopes.map((s) => [scopeText(s.scope), s.unit, humanAmount(s.debt, s.unit), humanAmount(s.overdraft_limit, s.unit)]), documentLayout()))
    this.out(`Frozen: ${a.frozen.length}`)
    if (a.frozen.length > 0) this.out(budgetRows(a.frozen, documentLayout()))
    const hooks = o.webhook_counts
    if (hooks) {
      this.out(`Webhooks: ${hooks.total} (${hooks.active} active, ${hooks.disabled} disabled, ${hooks.with_failures} failing)`)
      if (o.failing_webhooks?.length) {
        this.out(table(['subscription', 'url', 'failures in a row', 'last failure'], o.failing_webhooks.map((f) => [f.subscription_id, f.url, f.consecutive_failures, f.last_failure_at ?? '']), documentLayout()))
        this.note(`see why: cycles webhook deliveries ${o.failing_webhooks[0].subscription_id} --status failed`)
      }
    }
    const w = o.would_denials
    const counts = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v}`).join(', ')
    this.out(`Recent denials (last hour): ${o.recent_denials.length} real; ${w ? `${w.total_recent} would-be (shadowed traffic full enforcement would have denied)` : 'would-be denials not reported by this server'}`)
    if (o.recent_denials.length > 0) {
      this.out(table(['time', 'tenant', 'scope', 'reason'], o.recent_denials.map((d) => [d.timestamp, d.tenant_id, scopeText(d.scope ?? ''), String(d.data?.reason_code ?? '')]), documentLayout()))
    }
    if (w && w.total_recent > 0) {
      this.out(`Would-be denials by tier: ${counts(w.by_tier)}; by reason: ${counts(w.by_reason)}`)
      this.out(table(['time', 'tenant', 'scope', 'would-be reason'], w.recent.map((d) => [d.timestamp, d.tenant_id, scopeText(d.scope ?? ''), String(d.data?.reason_code ?? '')]), documentLayout()))
    }
    const governance = governanceSummary(o)
    for (const line of governance.lines) this.out(line)
    if (governance.offenders.length > 0) this.out(table(['scope', 'action kind', 'window', 'used', 'utilization'], governance.offenders.map(([scope, ...rest]) => [scopeText(scope), ...rest]), documentLayout()))
  }
}
