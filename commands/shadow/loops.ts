import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {EXIT} from '../../src/cli/errors.js'
import {runawayFlags, runawayOptions, sliceFlags} from '../../src/analytics/flags.js'
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
    ...sliceFlags,
    ...runawayFlags,
    fail: Flags.boolean({description: `Exit ${EXIT.GATE_FAILED} when any loop or flagged fan-out is found`, default: false}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ShadowLoops)
    const result = await runReport(dbPathFrom(flags.db), {
      since: flags.since,
      until: flags.until,
      tenant: flags.tenant,
      ...runawayOptions(flags),
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
