import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {drainOnSignals, startDaemon} from '../../src/daemon/start.js'

export default class DaemonStart extends BaseCommand {
  static override description = 'Start the Cycles-protocol daemon (runtime plane) on the embedded store'

  static override examples = [
    '<%= config.bin %> daemon start --config fixtures/cycles.yaml',
    '<%= config.bin %> daemon start --port 0 --log-dir /var/log/cycles',
  ]

  static override flags = {
    config: Flags.string({description: 'Config file (YAML or JSON)', env: 'CYCLES_CONFIG', default: './cycles.yaml'}),
    host: Flags.string({description: 'Interface to listen on', env: 'CYCLES_HOST', default: '127.0.0.1'}),
    port: Flags.integer({description: 'Runtime plane port (0 picks a free port)', env: 'CYCLES_PORT', default: 7878, min: 0, max: 65535}),
    'log-dir': Flags.string({description: 'Decision log directory', env: 'CYCLES_LOG_DIR', default: '.cycles/decisions'}),
    'state-dir': Flags.string({description: 'Embedded store directory', env: 'CYCLES_STATE_DIR', default: '.cycles/state'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(DaemonStart)
    const log = (line: string) => this.note(line)
    const daemon = await startDaemon({
      configPath: flags.config,
      host: flags.host,
      port: flags.port,
      logDir: flags['log-dir'],
      stateDir: flags['state-dir'],
      log,
    })
    if (this.jsonMode) this.printJson({url: daemon.url, pid: process.pid, store: daemon.store.kind, tiers: daemon.control.tiers})
    else {
      process.stdout.write(`cycles daemon listening on ${daemon.url}\n`)
      const tiers = daemon.control.tiers
      log(`store: ${daemon.store.kind} (${flags['state-dir']}); decision log: ${flags['log-dir']}`)
      log(`tiers: low=${tiers.low} medium=${tiers.medium} high=${tiers.high}${daemon.control.killswitch.engaged ? ' (kill switch ENGAGED: all shadow)' : ''}`)
    }
    await drainOnSignals(daemon, log)
    log('stopped cleanly')
  }
}
