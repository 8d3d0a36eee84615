
import {budgetDetail} from '../../src/cli/render.js'
import {budgetBooksDetail} from '../../src/cli/render-books.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import type {BudgetBook} from '../../src/client/admin-client.js'
import {BOOK_OPTIONS, assertBookServed} from '../../src/runbook/budget-books.js'
import {budgetAddress, lookupOrGuide} from '../../src/runbook/budget-flows.js'
import {budgetFlags} from '../../src/runbook/fund-command.js'
import {enumFlag} from '../../src/cli/flags.js'

export default class BudgetShow extends RunbookCommand {
  static override description = 'Show one budget (exact scope and unit): the real book, the shadow book, or both side by side'
  static override examples = [
    '<%= config.bin %> budget show --scope tenant:acme/workspace:prod --unit USD_MICROCENTS',
    '<%= config.bin %> budget show --scope tenant:acme --unit TOKENS --book both',
  ]
  static override flags = {
    ...budgetFlags,
    book: enumFlag({options: [...BOOK_OPTIONS], default: 'real', description: 'real: what was spent (every tier counts); shadow: as if every tier were enforced; both: side by side'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(BudgetShow)
    const {scope, unit} = budgetAddress(flags, (l) => this.note(l))
    const book = flags.book as BudgetBook
    const ledger = await lookupOrGuide(this.admin(), scope, unit, [], book === 'real' ? undefined : book)
    assertBookServed([ledger], book)
    if (this.jsonMode) this.printJson(ledger)
    else if (book === 'both') this.out(budgetBooksDetail(ledger))
    else this.out(`${book === 'shadow' ? 'shadow book (as if every tier were enforced)\n' : ''}${budgetDetail(ledger)}`)
  }
}
