// Damage found in the state directory, and the typed error that stops recovery because of it.
// Recovery never guesses past damage: anything but a torn last line of the last journal segment
// stops the start with the file, the line and what is wrong, and leaves every file as it was.
import path from 'node:path'

/** What a damaged line held (by its place in the file). */
export type DamagedRecord = 'transaction' | 'snapshot head' | 'reservation' | 'idempotency record' | 'snapshot end' | 'missing lines'

export interface Damage {
  file: string
  /** 1-based line number; for lines missing at the end of a file, the first missing one. */
  line: number
  problem: string
  held: DamagedRecord
  /** The damaged line's bytes (a copy); absent for missing lines. */
  raw?: Buffer
  /** For missing lines: how many records of each kind are gone. */
  missing?: {reservations: number; idempotency: number}
}

export const STATE_CORRUPT = 'STATE_CORRUPT'

export class StateCorruptError extends Error {
  readonly code = STATE_CORRUPT
  /** The first damage, and where it is (the fields tests and callers read). */
  readonly file: string
  readonly line: number
  readonly problem: string
  /** What the operator can do, in order of preference. */
  readonly remedies: string[]
  /** The message without the remedies. */
  readonly summary: string

  constructor(
    readonly dir: string,
    readonly damage: readonly Damage[],
    /** False when --recover cannot help either (the snapshot's head, or the snapshot itself, is gone). */
    readonly recoverable: boolean,
  ) {
    const [first] = damage
    const more = damage.length > 1 ? ` (and ${damage.length - 1} more: ${damage.slice(1, 6).map((d) => `${path.basename(d.file)} line ${d.line}`).join(', ')}${damage.length > 6 ? ', …' : ''})` : ''
    const summary = `state directory ${dir} is damaged: ${path.basename(first.file)} line ${first.line}: ${first.problem}${more}; nothing was changed, every file is kept`
    const remedies = recoverable
      ? [
          'run `cycles daemon start --recover` with the same --state-dir: it sets the damaged lines aside in a quarantine directory, starts with everything else and reports what was lost',
          'or restore the state directory from a backup',
        ]
      : ['restore the state directory from a backup (`--recover` cannot rebuild this: it holds every ledger, tenant and key)']
    super(`${summary}. To proceed: ${remedies.join('; ')}.`)
    this.name = 'StateCorruptError'
    this.file = first.file
    this.line = first.line
    this.problem = first.problem
    this.summary = summary
    this.remedies = remedies
  }
}
