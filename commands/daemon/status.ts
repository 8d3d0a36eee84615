
import {BaseCommand} from '../../src/cli/base-command.js'
import {fetchDaemonStatus} from '../../src/daemon/status.js'
import {urlFlag} from '../../src/cli/flags.js'

export default class DaemonStatus extends BaseCommand {
  static override description = 'Show readiness and counters of a running daemon'

  static override examples = ['<%= config.bin %> daemon status', '<%= config.bin %> daemon status --url http://127.0.0.1:7878 --json']
  static override flags = {
    url: urlFlag({description: 'Daemon runtime URL', env: 'CYCLES_BASE_URL', default: 'http://127.0.0.1:7878'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(DaemonStatus)
    const result = await fetchDaemonStatus(flags.url!)
    if (this.jsonMode) return this.printJson({url: result.url, ready: result.ready, ...result.status})
    const s = result.status as {
      version?: string; store?: string; uptime_s?: number; requests?: number; would_denials?: number; shed?: number
      decisions?: Record<string, number>; by_endpoint?: Record<string, number>; tiers?: Record<string, string>; killswitch?: {engaged: boolean; reason?: string}
      shed_by_reason?: Record<string, number>
      storage?: {
        state?: {writable: boolean; message?: string}
        decision_log?: {writable: boolean; message?: string; records_dropped?: number; files_deleted_by_retention?: number; chained?: boolean; instance?: string; chain_records?: number; checkpoint_public_key?: string; last_checkpoint?: {ts: string; records: number}}
      }
    }
    const shedReasons = Object.entries(s.shed_by_reason ?? {}).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')
    const state = s.storage?.state
    const log = s.storage?.decision_log
    const lines = [
      `${result.url}: ${result.ready ? 'READY' : 'NOT READY'} (cycles ${s.version ?? '?'}, ${s.store ?? '?'} store, up ${s.uptime_s ?? 0}s)`,
      `requests:   ${s.requests ?? 0}${s.shed ? ` (shed ${s.shed}${shedReasons ? `: ${shedReasons}` : ''})` : ''}`,
      `decisions:  ${Object.entries(s.decisions ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      `would-deny: ${s.would_denials ?? 0}`,
      `endpoints:  ${Object.entries(s.by_endpoint ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || '-'}`,
      `tiers:      ${Object.entries(s.tiers ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')}${s.killswitch?.engaged ? `  KILL SWITCH ENGAGED (${s.killswitch.reason ?? 'no reason'})` : ''}`,
    ]
    if (state && !state.writable) lines.push(`state:      NOT WRITABLE: ${state.message ?? '?'} (changes get 503 until space is freed)`)
    if (log) {
      const dropped = log.records_dropped ? `, ${log.records_dropped} record(s) dropped` : ''
      const deleted = log.files_deleted_by_retention ? `, ${log.files_deleted_by_retention} file(s) deleted by retention` : ''
      lines.push(`decision log: ${log.writable ? 'writable' : `NOT WRITABLE: ${log.message ?? '?'}`}${dropped}${deleted}`)
      if (log.chained) {
        const checkpoint = log.last_checkpoint ? `last checkpoint ${log.last_checkpoint.ts} (${log.last_checkpoint.records} records)` : 'no checkpoint yet'
        lines.push(`chain:      instance ${log.instance}, ${log.chain_records ?? 0} records, ${checkpoint}`)
        lines.push(`public key: ${log.checkpoint_public_key} (cycles audit verify --public-key)`)
      }
    }
    process.stdout.write(lines.join('\n') + '\n')
    if (!result.ready) this.exit(7)
  }
}
