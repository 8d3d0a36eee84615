import {Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {CliError, EXIT} from '../src/cli/errors.js'
import {runSimulate} from '../src/simulate/run.js'
import {urlFlag} from '../src/cli/flags.js'

export default class Simulate extends BaseCommand {
  static override description =
    'Generate realistic agent traffic from a scenario file: a schema-v1 decision log on a simulated clock (--out), or live calls to a running daemon (--url)'

  static override examples = [
    '<%= config.bin %> simulate --scenario fixtures/scenarios/demo-fleet.yaml --out .cycles/sim/decisions.jsonl',
    '<%= config.bin %> simulate --scenario fixtures/scenarios/demo-fleet.yaml --out sim.jsonl --days 28 --seed 7',
    '<%= config.bin %> simulate --scenario fixtures/scenarios/demo-fleet.yaml --url http://127.0.0.1:7878 --minutes 5 --speed 60',
  ]

  static override flags = {
    scenario: Flags.string({char: 's', description: 'Scenario file (YAML)', default: 'fixtures/scenarios/demo-fleet.yaml'}),
    out: Flags.string({description: 'Write a decision log here (offline, simulated clock)', exclusive: ['url']}),
    url: urlFlag({description: 'Drive the daemon at this URL over HTTP (env CYCLES_BASE_URL)', env: 'CYCLES_BASE_URL', exclusive: ['out']}),
    'api-key': Flags.string({description: 'API key for --url (default: the scenario\'s api_keys)', env: 'CYCLES_API_KEY'}),
    tenant: Flags.string({description: 'With --api-key: the tenant whose traffic is sent'}),
    seed: Flags.integer({description: 'Override the scenario seed (same seed, same output)'}),
    days: Flags.string({description: 'Override the scenario length in days (e.g. 28, 0.5)'}),
    minutes: Flags.integer({description: 'Scenario length in minutes (instead of days), e.g. for --url', min: 1}),
    start: Flags.string({description: 'Simulated start time (ISO-8601); default: the scenario\'s, else days before now'}),
    'rate-factor': Flags.string({description: 'Multiply every agent\'s run rate'}),
    speed: Flags.string({description: 'With --url: simulated seconds per real second (0 = as fast as possible)', default: '1'}),
    concurrency: Flags.integer({description: 'With --url: runs in flight', default: 16, min: 1}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Simulate)
    if (!flags.out && !flags.url) throw new CliError('USAGE', 'pass --out FILE (offline) or --url URL (live daemon)', {exit: EXIT.USAGE})
    const result = await runSimulate(flags)
    if (this.jsonMode) return this.printJson(result)
    process.stdout.write(`${result.summary}\n`)
  }
}
