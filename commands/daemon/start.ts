import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {CliError, EXIT} from '../../src/cli/errors.js'
import type {StartupReconcile} from '../../src/config/startup.js'
import {DEFAULT_ADMIN_URL} from '../../src/cli/runbook-command.js'
import {adminPlaneNote, chainNote, drainOnSignals, startDaemon} from '../../src/daemon/start.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {describeQuarantine} from '../../src/store/embedded/quarantine.js'

export default class DaemonStart extends BaseCommand {
  static override description = 'Start the Cycles-protocol daemon (runtime plane) on the embedded store, or on Redis with --redis'

  static override examples = [
    '<%= config.bin %> daemon start --config fixtures/cycles.yaml',
    '<%= config.bin %> daemon start --port 0 --log-dir /var/log/cycles',
    '<%= config.bin %> daemon start --redis redis://127.0.0.1:6379 --port 0',
  ]

  static override flags = {
    config: Flags.string({description: 'Config file (YAML or JSON)', env: 'CYCLES_CONFIG', default: './cycles.yaml'}),
    host: Flags.string({description: 'Interface to listen on', env: 'CYCLES_HOST', default: '127.0.0.1'}),
    port: Flags.integer({description: 'Runtime plane port (0 picks a free port)', env: 'CYCLES_PORT', default: 7878, min: 0, max: 65535}),
    'log-dir': Flags.string({description: 'Decision log directory', env: 'CYCLES_LOG_DIR', default: '.cycles/decisions'}),
    'state-dir': Flags.string({description: 'Embedded store directory', env: 'CYCLES_STATE_DIR', default: '.cycles/state'}),
    redis: Flags.string({description: 'Redis URL: keep state in Redis, shared by every daemon instance using it (instead of --state-dir)', env: 'CYCLES_REDIS_URL'}),
    'admin-port': Flags.integer({description: 'Admin plane port (0 picks a free port); served only with an admin key', env: 'CYCLES_ADMIN_PORT', default: 7979, min: 0, max: 65535}),
    recover: Flags.boolean({
      description: 'Start on a damaged --state-dir: set the damaged lines aside in a quarantine directory there, apply the rest, and report what was lost',
      default: false,
    }),
    'log-retention': Flags.string({description: 'Delete closed decision-log segments older than an age and/or beyond a total size, e.g. 7d, 20GiB or 7d,20GiB (default: keep all)', env: 'CYCLES_LOG_RETENTION'}),
    'max-queue-ms': Flags.integer({description: 'Shed (429) requests that waited longer than this before evaluation; 0 = off', env: 'CYCLES_MAX_QUEUE_MS', default: 1000, min: 0}),
    'config-wins': Flags.boolean({
      description: 'Apply the config file over the stored state before serving (tier modes and percents, allocations, overdraft limits, freezes; audited). Without it run-time changes survive a restart and every difference is printed',
      default: false,
    }),
    'max-rss': Flags.string({description: 'Shed (429) new requests while resident memory is above this size, e.g. 2GiB (default: off)', env: 'CYCLES_MAX_RSS'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(DaemonStart)
    if (flags.recover && flags.redis) {
      throw new CliError('USAGE', '--recover repairs the embedded store\'s --state-dir; it cannot be used with --redis (or CYCLES_REDIS_URL)', {exit: EXIT.USAGE})
    }
    const log = (line: string) => this.note(line)
    let reconciled: StartupReconcile | undefined
    const daemon = await startDaemon({
      configPath: flags.config,
      host: flags.host,
      port: flags.port,
      logDir: flags['log-dir'],
      stateDir: flags['state-dir'],
      redisUrl: flags.redis,
      log,
      adminPort: flags['admin-port'],
      logRetention: flags['log-retention'],
      maxQueueMs: flags['max-queue-ms'],
      maxRss: flags['max-rss'],
      // The admin key is read from the environment only (never a flag: it would show in `ps`).
      adminKey: process.env.CYCLES_ADMIN_API_KEY || undefined,
      recover: flags.recover,
      configWins: flags['config-wins'],
      onConfigReconciled: (r) => {
        reconciled = r
      },
    })
    const recovery = daemon.store instanceof EmbeddedStore ? daemon.store.recovery : undefined
    if (this.jsonMode) {
      this.printJson({url: daemon.url, ...(daemon.adminUrl ? {admin_url: daemon.adminUrl} : {}), pid: process.pid, store: daemon.store.kind, tiers: daemon.control.tiers, ...(daemon.logIdentity ? {decision_log_instance: daemon.logIdentity.instanceId, checkpoint_public_key: daemon.logIdentity.key.publicText} : {}), ...(reconciled ? {config_differences: reconciled.differences, config_applied: reconciled.applied} : {}), ...(flags.recover && recovery ? {recovery} : {})})
    } else {
      if (recovery?.quarantine) for (const line of describeQuarantine(recovery.quarantine)) log(line)
      else if (flags.recover) log('recovery: no damaged lines found; nothing was set aside')
      process.stdout.write(`cycles daemon listening on ${daemon.url}\n`)
      if (daemon.adminUrl) process.stdout.write(`cycles admin plane listening on ${daemon.adminUrl}\n`)
      for (const line of adminPlaneNote(daemon, DEFAULT_ADMIN_URL)) log(line)
      const tiers = daemon.control.tiers
      log(`store: ${daemon.store.kind} (${flags.redis ? flags.redis.replace(/\/\/([^@/]*)@/, '//***@') : flags['state-dir']}); decision log: ${flags['log-dir']}`)
      log(chainNote(daemon))
      log(`tiers: low=${tiers.low} medium=${tiers.medium} high=${tiers.high}${daemon.control.killswitch.engaged ? ' (kill switch ENGAGED: all shadow)' : ''}`)
    }
    await drainOnSignals(daemon, log)
    log('stopped cleanly')
  }
}
