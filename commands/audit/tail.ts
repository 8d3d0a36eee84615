import {Flags} from '@oclif/core'

import {auditLine} from '../../src/cli/render.js'
import {sinceFlag} from '../../src/cli/flags.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {auditQuery} from '../../src/runbook/audit-query.js'
import {auditFilterFlags} from './list.js'

export default class AuditTail extends RunbookCommand {
  static override description = 'Follow new audit entries as they are written (polls; Ctrl-C to stop)'
  static override examples = ['<%= config.bin %> audit tail --tenant acme', '<%= config.bin %> audit tail --status-min 400 --json']
  static override flags = {
    ...auditFilterFlags,
    since: sinceFlag('Also show entries since then first'),
    interval: Flags.integer({description: 'Seconds between polls', default: 2, min: 1}),
    duration: Flags.integer({description: 'Stop after this many seconds (default: run until interrupted)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(AuditTail)
    const admin = this.admin()
    const started = Date.now()
    const base = auditQuery({...flags, since: undefined})
    let from = flags.since ? auditQuery({since: flags.since}).from! : new Date(started).toISOString()
    const seen = new Set<string>()
    let stop = false
    process.once('SIGINT', () => {
      stop = true
    })
    while (!stop) {
      const entries = await admin.all((cursor) => admin.listAudit({...base, from, limit: 100, cursor}), 10_000)
      const fresh = entries.filter((e) => !seen.has(e.log_id)).reverse() // oldest first
      for (const e of fresh) seen.add(e.log_id)
      if (fresh.length > 0) {
        if (this.jsonMode) for (const e of fresh) process.stdout.write(`${JSON.stringify(e)}\n`)
        else for (const e of fresh) this.out(auditLine(e))
        from = fresh.at(-1)!.timestamp
      }
      if (flags.duration !== undefined && Date.now() - started >= flags.duration * 1000) break
      await new Promise((r) => setTimeout(r, flags.interval * 1000))
    }
  }
}
