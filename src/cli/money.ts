// Money and units on the command line: --amount (raw integer in the unit) or --usd (USD_MICROCENTS
// only; 1 USD = 100,000,000), exact decimal parsing, and raw + human rendering.
import {UNITS, type Unit} from '../protocol/types.js'
import {CliError, EXIT} from './errors.js'

export const MICROCENTS_PER_USD = 100_000_000n

export function parseUnit(value: string): Unit {
  const upper = value.trim().toUpperCase()
  if ((UNITS as readonly string[]).includes(upper)) return upper as Unit
  const hint = upper === 'USD' ? 'USD amounts are in USD_MICROCENTS (pass --usd 1.50 as a shorthand)' : `units are ${UNITS.join(', ')}`
  throw new CliError('USAGE', `unknown unit '${value}'`, {exit: EXIT.USAGE, suggestions: [hint]})
}

/** "1.50" → 150000000 (exact; at most 8 decimal places; must fit a safe integer). */
export function usdToMicrocents(usd: string): number {
  const m = /^\s*\$?(\d+)(?:\.(\d{1,8}))?\s*$/.exec(usd)
  if (!m) {
    throw new CliError('USAGE', `--usd expects a non-negative dollar amount such as 1.50 (at most 8 decimals), got '${usd}'`, {exit: EXIT.USAGE})
  }
  const value = BigInt(m[1]) * MICROCENTS_PER_USD + BigInt((m[2] ?? '').padEnd(8, '0'))
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new CliError('USAGE', `--usd ${usd} is too large`, {exit: EXIT.USAGE})
  return Number(value)
}

/** Resolve --amount / --usd for a unit into one integer amount. */
export function resolveAmount(unit: Unit, flags: {amount?: string; usd?: string}, required = true): number | undefined {
  if (flags.amount !== undefined && flags.usd !== undefined) throw new CliError('USAGE', 'give either --amount or --usd, not both', {exit: EXIT.USAGE})
  if (flags.usd !== undefined) {
    if (unit !== 'USD_MICROCENTS') {
      throw new CliError('USAGE', `--usd applies to USD_MICROCENTS budgets only; this one is ${unit}`, {exit: EXIT.USAGE, suggestions: ['pass --amount <integer> instead']})
    }
    return usdToMicrocents(flags.usd)
  }
  if (flags.amount !== undefined) {
    // Digits only (underscores allowed as separators): "1,000" is 1000 to some and 1.000 to others.
    if (flags.amount.includes(',') || flags.amount.includes('.')) {
      throw new CliError('USAGE', `--amount expects a whole number in ${unit} without separators or decimals, got '${flags.amount}'`, {
        exit: EXIT.USAGE,
        suggestions: [`write it as ${flags.amount.replaceAll(',', '').replace(/\..*$/, '')}${unit === 'USD_MICROCENTS' ? ' (or pass dollars with --usd 1.50)' : ''}`],
      })
    }
    const raw = flags.amount.replaceAll('_', '')
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
      throw new CliError('USAGE', `--amount expects a non-negative integer in ${unit}, got '${flags.amount}'`, {exit: EXIT.USAGE, suggestions: unit === 'USD_MICROCENTS' ? ['or pass --usd 1.50'] : []})
    }
    return Number(raw)
  }
  if (required) throw new CliError('USAGE', `an amount is required: --amount <integer ${unit}>${unit === 'USD_MICROCENTS' ? ' or --usd <dollars>' : ''}`, {exit: EXIT.USAGE})
  return undefined
}

const group = (n: number) => n.toLocaleString('en-US')

/** Human form only: "$1.50", "12,000 tokens", "5 risk points". */
export function humanAmount(amount: number, unit: string): string {
  switch (unit) {
    case 'USD_MICROCENTS': {
      const neg = amount < 0
      const abs = BigInt(Math.abs(amount))
      const dollars = abs / MICROCENTS_PER_USD
      const frac = (abs % MICROCENTS_PER_USD).toString().padStart(8, '0')
      // Cents always; more digits only when they are not zero.
      const trimmed = frac.replace(/0+$/, '')
      const shown = trimmed.length <= 2 ? frac.slice(0, 2) : trimmed
      return `${neg ? '-' : ''}$${group(Number(dollars))}.${shown}`
    }
    case 'TOKENS':
      return `${group(amount)} tokens`
    case 'CREDITS':
      return `${group(amount)} credits`
    case 'RISK_POINTS':
      return `${group(amount)} risk points`
    default:
      return `${group(amount)} ${unit}`
  }
}

/** Raw and human: "150000000 USD_MICROCENTS ($1.50)". */
export function formatAmount(amount: number, unit: string): string {
  return `${amount} ${unit} (${humanAmount(amount, unit)})`
}
