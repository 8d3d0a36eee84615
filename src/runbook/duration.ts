// "--since 1h" style durations.
import {CliError, EXIT} from '../cli/errors.js'

const UNIT_MS: Record<string, number> = {s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000}

export function parseDuration(text: string): number {
  const m = /^(\d+)\s*(s|m|h|d|w)$/.exec(text.trim())
  if (!m) throw new CliError('USAGE', `expected a duration such as 30m, 1h, 2d; got '${text}'`, {exit: EXIT.USAGE})
  return Number(m[1]) * UNIT_MS[m[2]]
}

export function parseInstant(text: string, flag: string): string {
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) throw new CliError('USAGE', `${flag} expects a date-time such as 2026-01-31T10:00:00Z; got '${text}'`, {exit: EXIT.USAGE})
  return new Date(ms).toISOString()
}
