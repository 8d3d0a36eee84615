import {Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {demoText, runShadowDemo} from '../src/demo/shadow-demo.js'
import {useColor} from '../src/output/table.js'

export default class Demo extends BaseCommand {
  static override description =
    'The main job in one command: simulate two weeks of a fleet offline, drive a live burst through the daemon, ingest both logs, print the shadow report, calibrate the limits, plan the rollout, apply its first enforce step through its gate, and watch the guard roll back a planted regression'

  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --dir /tmp/cycles-demo']
  static override flags = {
    scenario: Flags.string({description: 'Scenario file', default: 'fixtures/scenarios/demo-fleet.yaml'}),
    dir: Flags.string({description: 'Working folder for logs and the database (default: a new temp folder)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Demo)
    const result = await runShadowDemo({scenario: flags.scenario, dir: flags.dir, log: this.jsonMode ? undefined : (line) => this.note(line)})
    if (this.jsonMode) {
      return this.printJson({
        dir: result.dir,
        db: result.db,
        seconds: result.seconds,
        step_seconds: result.step_seconds,
        offline: {...result.offline, sized_budgets: undefined},
        live: result.live,
        ingest: {...result.ingest, per_file: undefined},
        report: result.report,
        calibration: result.calibration,
        rollout: result.rollout,
      })
    }
    process.stdout.write(demoText(result, useColor()))
  }
}
