// Shared behaviour of every command: --json, typed errors with stable exit codes, data on stdout
// and diagnostics on stderr.
import {Command, Flags} from '@oclif/core'
import {closest, distance} from 'fastest-levenshtein'

import {CliError, EXIT} from './errors.js'

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({description: 'Print machine-readable JSON on stdout.', default: false}),
  }

  protected jsonMode = false

  public override async init(): Promise<void> {
    await super.init()
    this.jsonMode = this.argv.includes('--json')
  }

  /** Print one JSON document on stdout. */
  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  }

  /** Diagnostics go to stderr so stdout stays data. */
  protected note(message: string): void {
    process.stderr.write(`${message}\n`)
  }

  /** For "Nonexistent flag: --tenent": the command's closest flag, when it is a plausible typo. */
  private nearestFlag(message: string): string | undefined {
    const typed = /Nonexistent flags?: (--?[\w-]+)/.exec(message)?.[1]?.replace(/^-+/, '')
    const flags = Object.keys((this.constructor as typeof Command).flags ?? {})
    if (!typed || flags.length === 0) return undefined
    const best = closest(typed, flags)
    return distance(typed, best) <= Math.max(2, Math.floor(typed.length / 3)) ? `--${best}` : undefined
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    let cliError: CliError
    if (error instanceof CliError) {
      cliError = error
      // A flag's own parse threw it: oclif wrapped the message ("Parsing --since \n\t… See more help").
      const wrapped = /^Parsing --[\w-]+ \s*\n\t([\s\S]*?)\nSee more help with --help$/.exec(cliError.message)
      if (wrapped) cliError.message = wrapped[1]
    } else if ((error as {code?: string}).code === 'ERR_INVALID_URL') {
      // A URL that reached a client unchecked is still the user's input, not a crash.
      cliError = new CliError('USAGE', `not a valid URL: ${(error as {input?: string}).input ?? error.message}`, {exit: EXIT.USAGE})
    } else if (error.oclif?.exit !== undefined && /flag|argument|Unexpected|Missing|Expected/i.test(error.message)) {
      const didYouMean = this.nearestFlag(error.message)
      cliError = new CliError('USAGE', error.message, {
        exit: EXIT.USAGE,
        suggestions: [...(didYouMean ? [`did you mean ${didYouMean}?`] : []), `see: cycles ${this.id?.replaceAll(':', ' ') ?? ''} --help`],
      })
    } else if (error.oclif?.exit === 0) return
    else cliError = new CliError('INTERNAL', error.message || String(error), {exit: EXIT.ERROR})

    if (this.jsonMode) this.printJson(cliError.toJSON())
    // Declining a prompt is the user's answer, not a failure: one plain line, exit 2.
    else if (cliError.code === 'ABORTED') process.stderr.write(`${cliError.message}\n`)
    else {
      process.stderr.write(`Error [${cliError.code}]: ${cliError.message}\n`)
      for (const s of cliError.suggestions) process.stderr.write(`  → ${s}\n`)
    }
    process.exitCode = cliError.exit
    // oclif reads `oclif.exit` to pick the exit code when the command throws.
    return this.exit(cliError.exit)
  }
}
