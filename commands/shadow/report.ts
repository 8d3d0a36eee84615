import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {CliError, EXIT} from '../../src/cli/errors.js'
import {GATES} from '../../src/analytics/gates.js'
import {GROUPINGS, REPORT_DEFAULTS, type Grouping} from '../../src/analytics/report.js'
import {REPORT_FORMATS, compareWindowFrom, labelsFrom, runawayFlags, runawayOptions, sliceFlags, trendFlags, type ReportFormat} from '../../src/analytics/flags.js'
import {dbPathFrom, runReport} from '../../src/analytics/run.js'
import {useColor} from '../../src/output/table.js'
import {UNITS} from '../../src/protocol/types.js'
import {enumFlag} from '../../src/cli/flags.js'

export default class ShadowReport extends BaseCommand {
  static override description =
    'Per-scope shadow verdicts: would-be denial rate and band, estimate accuracy, loop signatures and delegation fan-out; CI formats and gates'

  static override examples = [
    '<%= config.bin %> shadow report',
    '<%= config.bin %> shadow report --since 2026-11-01 --by workflow --unit USD_MICROCENTS',
    '<%= config.bin %> shadow report --format markdown --output "$GITHUB_STEP_SUMMARY" --fail-on too_tight,loops',
    '<%= config.bin %> shadow report --format html --output shadow-report.html --compare last-week.json',
    '<%= config.bin %> shadow report --format junit --output shadow.xml --fail-on too_tight,warm,decorative,loops,fanout,overage',
  ]

  static override flags = {
    ...sliceFlags,
    unit: enumFlag({description: 'Only this unit', options: [...UNITS]}),
    by: enumFlag({description: 'Group by', options: [...GROUPINGS], default: 'scope'}),
    format: enumFlag({description: 'Output format (html: one self-contained page with charts)', options: [...REPORT_FORMATS], default: 'table'}),
    ...trendFlags,
    output: Flags.string({char: 'o', description: 'Write the report to this file instead of stdout'}),
    'fail-on': Flags.string({description: `Exit ${EXIT.GATE_FAILED} when any of these gates is violated (comma-separated: ${GATES.join(', ')})`}),
    'min-requests': Flags.integer({description: 'Sample floor: fewer requests is insufficient_data', default: REPORT_DEFAULTS.minRequests, min: 1}),
    ...runawayFlags,
    'overage-threshold': Flags.string({description: 'Overage gate: share of commits above estimate (0–1)', default: String(REPORT_DEFAULTS.overageThreshold)}),
    limit: Flags.integer({description: 'Rows shown in table and Markdown output', default: 50, min: 1}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ShadowReport)
    const format = (this.jsonMode ? 'json' : flags.format) as ReportFormat
    const overage = Number(flags['overage-threshold'])
    if (!Number.isFinite(overage) || overage < 0 || overage > 1) throw new CliError('USAGE', '--overage-threshold: expected a number from 0 to 1', {exit: EXIT.USAGE})
    const result = await runReport(dbPathFrom(flags.db), {
      since: flags.since,
      until: flags.until,
      tenant: flags.tenant,
      unit: flags.unit,
      labels: labelsFrom(flags.label),
      compare: flags.compare,
      compareWindow: compareWindowFrom(flags['compare-window']),
      by: flags.by as Grouping,
      minRequests: flags['min-requests'],
      ...runawayOptions(flags),
      overageThreshold: overage,
      format,
      output: flags.output,
      failOn: flags['fail-on'],
      limit: flags.limit,
      color: useColor(),
    })
    if (flags.output) this.note(`report written to ${flags.output} (${format})`)
    if (result.violations.length > 0) {
      this.note(`gate failed: ${result.violations.length} violation(s) of --fail-on ${result.gates.join(',')} (exit ${EXIT.GATE_FAILED})`)
      process.exitCode = EXIT.GATE_FAILED
    }
  }
}
