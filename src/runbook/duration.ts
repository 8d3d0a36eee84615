// "--since 1h" style durations.
import {CliError, EXIT} from '../cli/errors.js'
import {durationMs} from '../cli/flags.js'


export function parseDuration(text: string): number {
  const ms = durationMs(text)
  if (ms === undefined) throw new CliError('USAGE', `expected a duration such as 30m, 1h, 2d; got '${text}'`, {exit: EXIT.USAGE})
  return ms
}

export function parseInstant(text: string, flag: string): string {
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) throw new CliError('USAGE', `${flag} expects a date-time such as 2026-01-31T10:00:00Z; got '${text}'`, {exit: EXIT.USAGE})
  return new Date(ms).toISOString()
}
