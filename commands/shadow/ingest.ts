import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {EXIT} from '../../src/cli/errors.js'
import {dbPathFrom, runIngest} from '../../src/analytics/run.js'
import {refuseBrokenChains} from '../../src/integrity/verify-command.js'
import {progressReporter} from '../../src/output/progress.js'

export default class ShadowIngest extends BaseCommand {
  static override description = 'Load decision logs (files, folders, globs, .gz) into the shadow-analysis database; idempotent by record id'

  static override examples = [
    '<%= config.bin %> shadow ingest .cycles/decisions',
    '<%= config.bin %> shadow ingest "logs/**/*.jsonl.gz" --db ci/shadow.duckdb --json',
    '<%= config.bin %> shadow ingest eu-logs/ --label prod-eu',
  ]

  static override strict = false

  static override args = {
    paths: Args.string({description: 'Decision log files, folders or quoted globs', required: true}),
  }

  static override flags = {
    db: Flags.string({description: 'Analysis database file [default: .cycles/shadow.duckdb]', env: 'CYCLES_DB'}),
    'show-malformed': Flags.integer({description: 'How many quarantined lines to show', default: 5, min: 0}),
    label: Flags.string({description: 'Record this label for the files (a source name, e.g. prod-eu); reports list it and --label selects by it'}),
    progress: Flags.boolean({description: 'Progress bar on a TTY for large inputs', default: true, allowNo: true}),
    verify: Flags.boolean({description: `Verify the logs' hash chains and signed checkpoints first; refuse to ingest anything (exit ${EXIT.TAMPERED}) when one is broken`, default: false}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(ShadowIngest)
    if (flags.verify) for (const line of refuseBrokenChains(argv as string[])) this.note(line)
    const progress = flags.progress && !this.jsonMode ? progressReporter('ingest') : undefined
    let result
    try {
      result = await runIngest(dbPathFrom(flags.db), argv as string[], {showMalformed: flags['show-malformed'], onProgress: progress?.update, label: flags.label})
    } finally {
      progress?.stop()
    }
    // a file that could not be ingested at all (the others were) fails the run after the summary
    if (result.failed_files > 0) process.exitCode = EXIT.ERROR
    if (this.jsonMode) return this.printJson(result)
    const {files, skipped_files, ingested, duplicates, malformed, total_records, seconds, records_per_second} = result
    process.stdout.write(
      `${files} file(s)${skipped_files ? ` (${skipped_files} unchanged, skipped)` : ''}: ${ingested.toLocaleString('en-US')} record(s) ingested, ` +
        `${duplicates.toLocaleString('en-US')} duplicate(s), ${malformed.toLocaleString('en-US')} malformed (quarantined) ` +
        `in ${seconds.toFixed(1)} s (${records_per_second.toLocaleString('en-US')} rec/s); ${total_records.toLocaleString('en-US')} record(s) in ${dbPathFrom(flags.db)}${flags.label ? ` (label ${flags.label})` : ''}\n`,
    )
    for (const q of result.malformed_sample) this.note(`  quarantined ${q.file}:${q.line}: ${q.reason}`)
    if (malformed > result.malformed_sample.length) this.note(`  … ${malformed - result.malformed_sample.length} more in the quarantine table`)
    for (const p of result.problems) this.note(`  ${p.file}: ${p.problem}`)
    if (result.pending_bytes > 0) {
      const files = result.per_file.filter((f) => f.pending_bytes > 0).length
      this.note(`  ${result.pending_bytes.toLocaleString('en-US')} byte(s) after the last complete line of ${files} file(s) still being written: left for the next ingest`)
    }
    if (result.failed_files > 0) {
      this.note(`Error: ${result.failed_files} file(s) could not be ingested (named above); the others were. Fix or move them and run the ingest again.`)
    }
  }
}
