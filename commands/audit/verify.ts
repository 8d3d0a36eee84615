import {Flags} from '@oclif/core'

import {EXIT} from '../../src/cli/errors.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {verifyAdminAuditChain} from '../../src/integrity/admin-audit-verify.js'
import {publicKeysOption, verifyDecisionLog} from '../../src/integrity/verify-command.js'
import {auditChainLines, verifyReportLines} from '../../src/integrity/verify-report-text.js'

export default class AuditVerify extends RunbookCommand {
  static override description = `Verify the hash chains: a decision-log directory (every record's chain and every signed checkpoint) with --log-dir, else the admin plane's audit chain. Reports the first break (file, line, record id, what is wrong); exit ${EXIT.TAMPERED} when one is found`

  static override examples = [
    '<%= config.bin %> audit verify --log-dir .cycles/decisions',
    '<%= config.bin %> audit verify --log-dir /var/log/cycles --public-key ed25519:… --json',
    '<%= config.bin %> audit verify --admin-url http://127.0.0.1:7979 --public-key ed25519:…',
  ]

  static override flags = {
    'log-dir': Flags.string({description: 'Decision log directory to verify (segments and their checkpoint files)'}),
    'public-key': Flags.string({description: 'Ed25519 public key the checkpoints (--log-dir) or the audit chain\'s signed head (--admin-url) must be signed with (ed25519:… as `daemon start` prints it, or a PEM file); repeat for several', multiple: true}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parseRunbook(AuditVerify)
    if (flags['log-dir']) {
      const report = verifyDecisionLog(flags['log-dir'], flags['public-key'] ?? [])
      if (this.jsonMode) this.printJson(report)
      else for (const line of verifyReportLines(report)) (report.intact ? this.out(line) : this.note(line))
      if (!report.intact) process.exitCode = EXIT.TAMPERED
      return
    }
    const url = this.backend['admin-url']
    const report = await verifyAdminAuditChain(this.admin(), publicKeysOption(flags['public-key'] ?? []))
    if (this.jsonMode) this.printJson({admin_url: url, ...report})
    else for (const line of auditChainLines(url, report)) (report.intact ? this.out(line) : this.note(line))
    if (!report.intact) process.exitCode = EXIT.TAMPERED
  }
}
