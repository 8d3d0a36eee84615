import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {EXIT} from '../../src/cli/errors.js'
import {REPORT_DEFAULTS} from '../../src/analytics/report.js'
import {dbPathFrom, runReport} from '../../src/analytics/run.js'
import {useColor} from '../../src/output/table.js'

export default class ShadowLoops extends BaseCommand {
  static override description = 'Runaway signals only: retry-loop signatures per run and delegation fan-out trees'

  static override examples = [
    '<%= config.bin %> shadow loops',
    '<%= config.bin %> shadow loops --loop-threshold 30 --loop-window 60 --fail',
    '<%= config.bin %> shadow loops --json',
  ]

  static override flags = {
    db: Flags.string({description: 'Analysis database file [default: .cycles/shadow.duckdb]', env: 'CYCLES_DB'}),
    since: Flags.string({description: 'Only records at or after this time (ISO-8601 or date)'}),
    until: Flags.string({description: 'Only records before this time'}),
    tenant: Flags.string({description: 'Only this tenant'}),
    'loop-window': Flags.integer({description: 'Loop detector window, seconds', default: REPORT_DEFAULTS.loopWindowSeconds, min: 1}),
    'loop-threshold': Flags.integer({description: 'Reservations by one run within the window that make a loop', default: REPORT_DEFAULTS.loopThreshold, min: 2}),
    'repeat-threshold': Flags.integer({description: 'Consecutive identical reservations by one run that make a loop', default: REPORT_DEFAULTS.repeatThreshold, min: 2}),
    'fanout-children': Flags.integer({description: 'Flag a delegation tree whose root has at least this many children', default: REPORT_DEFAULTS.fanoutChildren, min: 1}),
    'fanout-depth': Flags.integer({description: 'Flag a delegation tree at least this deep', default: REPORT_DEFAULTS.fanoutDepth, min: 1}),
    'fanout-amplification': Flags.integer({description: 'Flag a delegation tree whose widest level has at least this many runs', default: REPORT_DEFAULTS.fanoutAmplification, min: 1}),
    fail: Flags.boolean({description: `Exit ${EXIT.GATE_FAILED} when any loop or flagged fan-out is found`, default: false}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ShadowLoops)
    const result = await runReport(dbPathFrom(flags.db), {
      since: flags.since,
      until: flags.until,
      tenant: flags.tenant,
      loopWindowSeconds: flags['loop-window'],
      loopThreshold: flags['loop-threshold'],
      repeatThreshold: flags['repeat-threshold'],
      fanoutChildren: flags['fanout-children'],
      fanoutDepth: flags['fanout-depth'],
      fanoutAmplification: flags['fanout-amplification'],
      format: this.jsonMode ? 'json' : 'table',
      failOn: flags.fail ? 'loops,fanout' : undefined,
      color: useColor(),
      loopsOnly: true,
    })
    if (result.violations.length > 0) {
      this.note(`${result.violations.length} runaway signal(s) found (exit ${EXIT.GATE_FAILED})`)
      process.exitCode = EXIT.GATE_FAILED
    }
  }
}
