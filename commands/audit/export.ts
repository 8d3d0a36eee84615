import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {enumFlag, instantFlag, outputFlag} from '../../src/cli/flags.js'
import {writeOutput} from '../../src/output/write.js'
import {EXPORT_FORMATS, type ExportFormat, exportAudit} from '../../src/runbook/audit-export.js'

export default class AuditExport extends RunbookCommand {
  static override description =
    'Export the audit chain (every successful admin write, in chain order) for auditors: JSON lines or CSV with actor, reason, amount and the chain fields (chain_seq, prev_hash, hash). Says on stderr whether the exported rows chain unbroken.'
  static override examples = [
    '<%= config.bin %> audit export --format jsonl --from 2026-01-01 --to 2026-03-31 --output q1-audit.jsonl',
    '<%= config.bin %> audit export --format csv --output audit.csv',
  ]
  static override flags = {
    format: enumFlag({options: EXPORT_FORMATS, description: 'jsonl (one row per line, as the admin API shows it) or csv', default: 'jsonl'}),
    from: instantFlag('Only rows written at or after this'),
    to: instantFlag('Only rows written at or before this'),
    output: outputFlag(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(AuditExport)
    const result = await exportAudit(this.admin(), {
      format: flags.format as ExportFormat,
      fromMs: flags.from ? Date.parse(flags.from) : undefined,
      toMs: flags.to ? Date.parse(flags.to) : undefined,
    })
    writeOutput(result.text, flags.output)
    const v = result.verification
    const span = result.rows > 0 ? ` (chain_seq ${result.first_seq}–${result.last_seq})` : ''
    this.note(`${result.rows} audit row(s) exported${span}${flags.output ? ` to ${flags.output}` : ''}`)
    if (v.ok) {
      if (result.rows > 0) this.note(`the rows chain unbroken from prev_hash ${v.anchor.prev_hash.slice(0, 12)}…${v.anchor.genesis ? ' (the genesis)' : ''}`)
    } else {
      this.note(`WARNING: the chain breaks at row ${v.first_break.index + 1} (${v.first_break.log_id}): ${v.first_break.problem}: ${v.first_break.detail}`)
    }
  }
}
