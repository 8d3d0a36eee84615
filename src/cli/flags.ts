// The one place for flags that mean the same thing on several commands: one spelling, one grammar.
//   --yes      every command that changes something (a no-op where nothing asks)
//   --since    a duration back from now (90m, 24h, 7d) or a date (ISO-8601)
//   --output   a file written instead of stdout
//   --all / --cursor / --limit   every list command
//   enum flags case-insensitive; URL flags checked before any call.
// A bad value is a usage error (exit 2) raised while parsing, never a failed call.
import os from 'node:os'

import {Flags} from '@oclif/core'

import {durationMs} from '../runbook/duration.js'
import {CliError, EXIT} from './errors.js'

const usage = (message: string, suggestions: string[] = []) => new CliError('USAGE', message, {exit: EXIT.USAGE, suggestions})

/**
 * A --since value → an ISO instant: a duration counts back from `nowMs`, a date is taken as given.
 * Throws a usage error for anything else.
 */
export function sinceInstant(text: string, nowMs = Date.now(), flag = '--since'): string {
  const ms = durationMs(text)
  if (ms !== undefined) return new Date(nowMs - ms).toISOString()
  // Only things that look like a date: Date.parse accepts "1" or "May" too.
  if (/^\d{4}-\d{2}-\d{2}/.test(text.trim())) {
    const at = Date.parse(text.trim())
    if (!Number.isNaN(at)) return new Date(at).toISOString()
  }
  throw usage(`${flag} expects a duration (90m, 24h, 7d) or a date (2026-01-31 or 2026-01-31T10:00:00Z), got '${text}'`)
}

/** --since on every command: parsed to an ISO instant. */
export const sinceFlag = (description = 'Only since then') =>
  Flags.custom<string>({
    description: `${description}: a duration back from now (90m, 24h, 7d) or a date (ISO-8601)`,
    helpValue: '<duration|date>',
    parse: async (input) => sinceInstant(input),
  })()

/** --until / --from / --to: a date. */
export const instantFlag = (description: string) =>
  Flags.custom<string>({
    description: `${description} (ISO-8601 date or date-time)`,
    helpValue: '<date>',
    async parse(input, _ctx, opts) {
      const at = /^\d{4}-\d{2}-\d{2}/.test(input.trim()) ? Date.parse(input.trim()) : Number.NaN
      if (Number.isNaN(at)) throw usage(`--${opts.name} expects a date such as 2026-01-31 or 2026-01-31T10:00:00Z, got '${input}'`)
      return new Date(at).toISOString()
    },
  })()

/**
 * An enum flag whose values match case-insensitively and come back in their canonical spelling
 * (oclif's own `options` compare case-sensitively, before any parse).
 */
export function enumFlag(spec: {options: readonly string[]; description?: string; default?: string; char?: 'o'}) {
  const {options, ...rest} = spec
  const build = Flags.custom<string>({
    helpValue: options.join('|'),
    async parse(input, _ctx, opts) {
      const hit = options.find((o) => o.toLowerCase() === input.trim().toLowerCase())
      if (hit === undefined) throw usage(`--${opts.name} expects one of ${options.join(', ')}, got '${input}'`)
      return hit
    },
  })
  return rest.default === undefined ? build(rest as {description?: string}) : build({...rest, default: rest.default})
}

/** Case-insensitive check for enum positional arguments (oclif's `options` on args is case-sensitive). */
export function enumValue<const T extends string>(options: readonly T[], input: string, what: string): T {
  const hit = options.find((o) => o.toLowerCase() === input.trim().toLowerCase())
  if (hit === undefined) throw usage(`${what} must be one of ${options.join(', ')}, got '${input}'`)
  return hit
}

/** A base URL: http(s) only, checked before any call. */
export function checkUrl(input: string, flag: string): string {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    throw usage(`${flag} expects a URL such as http://127.0.0.1:7979, got '${input}'`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`${flag} expects an http:// or https:// URL, got '${input}'`)
  return input
}

export const urlFlag = (extra: {description: string; env?: string; default?: string; helpGroup?: string; exclusive?: string[]}) =>
  Flags.custom<string>({
    ...extra,
    async parse(input, _ctx, opts) {
      return checkUrl(input, `--${opts.name}`)
    },
  })()

/** Longest --actor kept (the admin plane cuts longer ones to this too). */
export const MAX_ACTOR_LENGTH = 128

/**
 * --actor on every runbook command: who makes the change, sent with every admin call and kept in
 * the audit row. No static default (it differs per machine): RunbookCommand falls back to
 * defaultActor().
 */
export const actorFlag = () =>
  Flags.custom<string>({
    description: 'Who makes the change, kept in the audit log (default: user@host)',
    env: 'CYCLES_ACTOR',
    helpGroup: 'BACKEND',
    async parse(input) {
      const actor = input.trim()
      if (actor === '' || actor.length > MAX_ACTOR_LENGTH) throw usage(`--actor expects a name of 1 to ${MAX_ACTOR_LENGTH} characters, got '${input}'`)
      return actor
    },
  })()

/** The actor when neither --actor nor CYCLES_ACTOR says: the local user and host. */
export function defaultActor(): string {
  let user: string
  try {
    user = os.userInfo().username
  } catch {
    user = process.env.USER ?? 'unknown'
  }
  return `${user}@${os.hostname()}`
}

/**
 * --reason on commands that change something and have no reason of their own in the API call: sent
 * as a header (client/admin-client.ts auditHeaders) and kept in the audit row.
 */
export const reasonFlag = (description = 'Why (kept in the audit log)') => Flags.string({description})

/** --yes: answer "yes" to every question the command would ask; accepted where nothing asks. */
export const yesFlag = (description = 'Do not ask for confirmation (accepted by every command that changes something)') =>
  Flags.boolean({char: 'y', description, default: false})

/** --output: a file written instead of stdout. */
export const outputFlag = (description = 'Write to this file instead of stdout') => Flags.string({char: 'o', description})

/** --limit, --cursor, --all on every list command. */
export const listFlags = {
  limit: Flags.integer({description: 'Page size (1–100)', default: 50, min: 1, max: 100}),
  cursor: Flags.string({description: 'Continue from a next_cursor'}),
  all: Flags.boolean({description: 'Follow next_cursor to the end', default: false}),
}

/**
 * A fraction 0..1 (e.g. --utilization-min 0.9): refuses 90 and says what is meant, before any call.
 */
export function fraction(input: string, flag: string): number {
  const value = Number(input.trim())
  if (input.trim() === '' || !Number.isFinite(value)) throw usage(`${flag} expects a fraction between 0 and 1, e.g. 0.9, got '${input}'`)
  if (value < 0 || value > 1) {
    const hint = value > 1 && value <= 100 ? [`for ${value} % pass ${flag} ${Number((value / 100).toFixed(6))}`] : []
    throw usage(`${flag} is a fraction between 0 and 1 (0.9 = 90 %), got ${input}`, hint)
  }
  return value
}
