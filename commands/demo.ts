import {Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {runQuickDemo} from '../src/demo/quick-demo.js'

export default class Demo extends BaseCommand {
  static override description = 'Run the Quickstart demo: start the daemon on the embedded store and show a dry-run decision'

  static override flags = {
    config: Flags.string({description: 'Config file', default: 'fixtures/cycles.yaml'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Demo)
    const result = await runQuickDemo(flags.config)
    if (this.jsonMode) return this.printJson(result)
    process.stdout.write(`daemon started on ${result.url} (embedded store, config ${flags.config})\n\n`)
    process.stdout.write(`POST /v1/reservations (dry_run)\n${JSON.stringify(result.request, null, 2)}\n\n`)
    process.stdout.write(`→ HTTP ${result.status}\n${JSON.stringify(result.response, null, 2)}\n`)
    if (result.logFile) process.stdout.write(`\ndecision logged to ${result.logFile}\n`)
  }
}
