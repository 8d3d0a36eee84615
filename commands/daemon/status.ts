import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {fetchDaemonStatus} from '../../src/daemon/status.js'

export default class DaemonStatus extends BaseCommand {
  static override description = 'Show readiness and counters of a running daemon'

  static override flags = {
    url: Flags.string({description: 'Daemon runtime URL', env: 'CYCLES_BASE_URL', default: 'http://127.0.0.1:7878'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(DaemonStatus)
    const result = await fetchDaemonStatus(flags.url)
    if (this.jsonMode) return this.printJson({url: result.url, ready: result.ready, ...result.status})
    const s = result.status as {
      version?: string; store?: string; uptime_s?: number; requests?: number; would_denials?: number; shed?: number
      decisions?: Record<string, number>; by_endpoint?: Record<string, number>; tiers?: Record<string, string>; killswitch?: {engaged: boolean; reason?: string}
    }
    const lines = [
      `${result.url}: ${result.ready ? 'READY' : 'NOT READY'} (cycles ${s.version ?? '?'}, ${s.store ?? '?'} store, up ${s.uptime_s ?? 0}s)`,
      `requests:   ${s.requests ?? 0}${s.shed ? ` (shed ${s.shed})` : ''}`,
      `decisions:  ${Object.entries(s.decisions ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      `would-deny: ${s.would_denials ?? 0}`,
      `endpoints:  ${Object.entries(s.by_endpoint ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || '-'}`,
      `tiers:      ${Object.entries(s.tiers ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')}${s.killswitch?.engaged ? `  KILL SWITCH ENGAGED (${s.killswitch.reason ?? 'no reason'})` : ''}`,
    ]
    process.stdout.write(lines.join('\n') + '\n')
    if (!result.ready) this.exit(7)
  }
}
