import {Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {CliError, EXIT} from '../src/cli/errors.js'
import {dbPathFrom} from '../src/analytics/run.js'
import {CALIBRATION_DEFAULTS} from '../src/calibration/calibrate.js'
import {VERDICT_GATES} from '../src/calibration/gates.js'
import {parseBand, parseRate, runCalibrate} from '../src/calibration/run.js'
import {parseDuration} from '../src/runbook/duration.js'
import {useColor} from '../src/output/table.js'
import {REPORT_FORMATS, compareWindowFrom, labelsFrom, trendFlags, type ReportFormat} from '../src/analytics/flags.js'
import {enumFlag, instantFlag, sinceFlag, urlFlag} from '../src/cli/flags.js'

export default class Calibrate extends BaseCommand {
  static override description =
    'Replay-validated limits per budget from shadow data: the smallest allocation whose replayed denial rate meets the target, validated jointly; estimate corrections; one verdict and action per budget; tier readiness; CI formats and gates'

  static override examples = [
    '<%= config.bin %> calibrate --config cycles.yaml',
    '<%= config.bin %> calibrate --config cycles.yaml --period 30d --write-config cycles.calibrated.yaml',
    '<%= config.bin %> calibrate --admin-url http://127.0.0.1:7979 --format markdown --output "$GITHUB_STEP_SUMMARY" --fail-on too_tight,config_error,insufficient_data',
    '<%= config.bin %> calibrate --config cycles.yaml --format html --output calibration.html --compare-window 7d',
    '<%= config.bin %> calibrate --config cycles.yaml --format junit --output calibrate.xml --fail-on not_ready:low',
  ]

  static override flags = {
    db: Flags.string({description: 'Analysis database file [default: .cycles/shadow.duckdb]', env: 'CYCLES_DB'}),
    config: Flags.string({description: 'Daemon config file with the current allocations', env: 'CYCLES_CONFIG'}),
    'admin-url': urlFlag({description: 'Read the current allocations from this Cycles admin API instead of --config', env: 'CYCLES_ADMIN_URL'}),
    'admin-key': Flags.string({description: 'Admin API key (prefer the env var)', env: 'CYCLES_ADMIN_API_KEY'}),
    target: Flags.string({description: 'Target would-be denial rate per budget', default: String(CALIBRATION_DEFAULTS.target)}),
    band: Flags.string({description: 'Acceptable band "low,high" the joint replay must land in', default: CALIBRATION_DEFAULTS.band.join(',')}),
    'min-requests': Flags.integer({description: 'Sample floor: fewer requests is insufficient_data (no calibration)', default: CALIBRATION_DEFAULTS.minRequests, min: 1}),
    period: Flags.string({description: 'Scale suggestions to this period (e.g. 30d); default: as long as the observed window'}),
    since: sinceFlag('Only records at or after then'),
    until: instantFlag('Only records before this time'),
    tenant: Flags.string({description: 'Only this tenant'}),
    format: enumFlag({description: 'Output format (html: one self-contained page with charts)', options: [...REPORT_FORMATS], default: 'table'}),
    ...trendFlags,
    output: Flags.string({char: 'o', description: 'Write the report to this file instead of stdout'}),
    'write-config': Flags.string({description: 'Write the --config file with calibrated allocations here (comments and order kept)'}),
    'with-overdraft': Flags.boolean({description: 'With --write-config: also write the suggested overdraft_limit', default: false}),
    'fail-on': Flags.string({description: `Exit ${EXIT.GATE_FAILED} when any of these gates fails (comma-separated: ${VERDICT_GATES.join(', ')}, not_ready:<tier>)`}),
    limit: Flags.integer({description: 'Rows shown in table and Markdown output', default: 50, min: 1}),
    threads: Flags.integer({description: 'Worker threads for the limit search [default: min(2, independent components, cores)]; the result does not depend on it', min: 1}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Calibrate)
    const format = (this.jsonMode ? 'json' : flags.format) as ReportFormat
    let periodDays: number | undefined
    if (flags.period) {
      const ms = parseDuration(flags.period)
      if (ms <= 0) throw new CliError('USAGE', `--period: expected a positive duration like 30d, got ${flags.period}`, {exit: EXIT.USAGE})
      periodDays = ms / 86_400_000
    }
    const {result, gates, written} = await runCalibrate({
      db: dbPathFrom(flags.db),
      config: flags.config,
      adminUrl: flags['admin-url'],
      adminKey: flags['admin-key'],
      filter: {since: flags.since, until: flags.until, tenant: flags.tenant, labels: labelsFrom(flags.label)},
      compare: flags.compare,
      compareWindow: compareWindowFrom(flags['compare-window']),
      options: {target: parseRate(flags.target, '--target'), band: parseBand(flags.band), minRequests: flags['min-requests'], periodDays, threads: flags.threads},
      format,
      output: flags.output,
      writeConfig: flags['write-config'],
      withOverdraft: flags['with-overdraft'],
      failOn: flags['fail-on'],
      limit: flags.limit,
      color: useColor(),
      width: process.stdout.columns ?? 120,
    })
    if (flags.output) this.note(`calibration written to ${flags.output} (${format})`)
    if (written !== undefined) this.note(`${written} calibrated budget(s) written to ${flags['write-config']}; run it with: cycles daemon start --config ${flags['write-config']}`)
    if (result.period.scaled) this.note(`suggestions scaled from the ${result.window.days}-day window to ${result.period.days} days (×${result.period.factor})`)
    if (!gates.passed) {
      this.note(`gate failed: ${gates.violations.length} violation(s) of --fail-on ${gates.fail_on.join(',')} (exit ${EXIT.GATE_FAILED})`)
      process.exitCode = EXIT.GATE_FAILED
    }
  }
}
