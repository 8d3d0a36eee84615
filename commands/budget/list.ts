import {Flags} from '@oclif/core'

import {parseUnit} from '../../src/cli/money.js'
import {budgetRows} from '../../src/cli/render.js'
import {budgetBookRows} from '../../src/cli/render-books.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {checkScope} from '../../src/cli/scope-input.js'
import type {BudgetBook} from '../../src/client/admin-client.js'
import {BOOK_OPTIONS, assertBookServed} from '../../src/runbook/budget-books.js'
import {enumFlag, fraction, listFlags} from '../../src/cli/flags.js'

export default class BudgetList extends RunbookCommand {
  static override description = 'List budgets (most used first)'
  static override examples = [
    '<%= config.bin %> budget list --tenant acme',
    '<%= config.bin %> budget list --scope-prefix tenant:acme/workspace:prod --unit RISK_POINTS',
    '<%= config.bin %> budget list --over-limit --all',
    '<%= config.bin %> budget list --tenant acme --book both',
  ]
  static override flags = {
    tenant: Flags.string({description: 'Tenant id'}),
    'scope-prefix': Flags.string({description: 'Scope prefix, e.g. tenant:acme/workspace:prod'}),
    unit: Flags.string({description: 'Unit'}),
    status: enumFlag({options: ['ACTIVE', 'FROZEN', 'CLOSED'], description: 'Status'}),
    'over-limit': Flags.boolean({description: 'Only budgets over their overdraft limit', allowNo: true}),
    'has-debt': Flags.boolean({description: 'Only budgets with debt', allowNo: true}),
    'utilization-min': Flags.string({description: 'Minimum used fraction, 0–1 (0.9 = 90 %)'}),
    'sort-by': enumFlag({options: ['tenant_id', 'scope', 'unit', 'status', 'commit_overage_policy', 'utilization', 'debt'], default: 'utilization'}),
    'sort-dir': enumFlag({options: ['asc', 'desc'], default: 'desc'}),
    ...listFlags,
    book: enumFlag({options: [...BOOK_OPTIONS], default: 'real', description: 'real: what was spent (every tier counts); shadow: as if every tier were enforced (filters apply to it); both: real with shadow alongside'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(BudgetList)
    const query = {
      tenant_id: flags.tenant,
      scope_prefix: flags['scope-prefix'] ? checkScopePrefix(flags['scope-prefix']) : undefined,
      unit: flags.unit ? parseUnit(flags.unit) : undefined,
      status: flags.status,
      over_limit: flags['over-limit'],
      has_debt: flags['has-debt'],
      utilization_min: flags['utilization-min'] === undefined ? undefined : fraction(flags['utilization-min'], '--utilization-min'),
      sort_by: flags['sort-by'],
      sort_dir: flags['sort-dir'],
      limit: flags.limit,
      book: flags.book === 'real' ? undefined : flags.book,
    }
    const admin = this.admin()
    const page = flags.all ? {items: await admin.all((cursor) => admin.listBudgets({...query, cursor}))} : await admin.listBudgets({...query, cursor: flags.cursor})
    const book = flags.book as BudgetBook
    assertBookServed(page.items, book)
    if (this.jsonMode) this.printJson({ledgers: page.items, ...('next_cursor' in page && page.next_cursor ? {next_cursor: page.next_cursor} : {})})
    else {
      if (book === 'shadow' && page.items.length > 0) this.out('shadow book (as if every tier were enforced)')
      this.out(page.items.length === 0 ? 'no budgets match' : book === 'both' ? budgetBookRows(page.items) : budgetRows(page.items))
      if ('has_more' in page && page.has_more) this.note(`more: --cursor ${page.next_cursor} (or --all)`)
    }
  }
}

/** A prefix may end mid-segment ("tenant:acme/agent:"): check the levels it names, keep it as typed. */
function checkScopePrefix(prefix: string): string {
  const segments = prefix.split('/')
  const last = segments.at(-1) ?? ''
  if (last.endsWith(':')) checkScope(`${prefix}x`)
  else if (last.includes(':')) checkScope(prefix)
  else if (segments.length > 1) checkScope(segments.slice(0, -1).join('/'))
  return prefix.toLowerCase()
}
