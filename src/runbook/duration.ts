// Durations as written in flags and plan files ("90m", "24h", "7d"): one grammar for every command
// and the rollout plan.
import {CliError, EXIT} from '../cli/errors.js'

/** Units from largest to smallest (formatDuration picks the largest that divides). */
export const DURATION_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['w', 604_800_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
]

/** "90m" → 5400000; undefined when the text is not a duration. */
export function durationMs(text: string): number | undefined {
  const m = /^(\d+)\s*(s|m|h|d|w)$/i.exec(text.trim())
  return m ? Number(m[1]) * DURATION_UNITS.find(([u]) => u === m[2].toLowerCase())![1] : undefined
}

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
