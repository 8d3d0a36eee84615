// The one typed CLI error: a stable code, an exit code and suggestions. Commands throw it; the base
// command renders it (text on stderr, or {"error": {...}} with --json) and exits with its code.

/** Exit codes are part of the CLI contract (README "Exit codes"). */
export const EXIT = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  CONFIG: 3,
  AUTH: 4,
  NOT_FOUND: 5,
  CONFLICT: 6,
  UNREACHABLE: 7,
  GATE_FAILED: 8,
  DB_LOCKED: 9,
  STATE_LOCKED: 10,
  SERVER_ERROR: 11,
  STATE_CORRUPT: 12,
  /** `audit verify`: a chain or checkpoint check failed (records changed, removed, added or a checkpoint forged). */
  TAMPERED: 13,
} as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

export class CliError extends Error {
  readonly code: string
  readonly exit: number
  readonly suggestions: string[]
  readonly details?: Record<string, unknown>

  constructor(code: string, message: string, options: {exit?: number; suggestions?: string[]; details?: Record<string, unknown>} = {}) {
    super(message)
    this.name = 'CliError'
    this.code = code
    this.exit = options.exit ?? EXIT.ERROR
    this.suggestions = options.suggestions ?? []
    this.details = options.details
  }

  toJSON() {
    return {error: {code: this.code, message: this.message, exit_code: this.exit, suggestions: this.suggestions, ...(this.details ? {details: this.details} : {})}}
  }
}

/** Map an HTTP status from a Cycles server to an exit code. */
export function exitForHttpStatus(status: number): number {
  if (status === 400 || status === 422) return EXIT.USAGE
  if (status === 401 || status === 403) return EXIT.AUTH
  if (status === 404 || status === 410) return EXIT.NOT_FOUND
  if (status === 409) return EXIT.CONFLICT
  if (status >= 500) return EXIT.SERVER_ERROR
  return EXIT.ERROR
}
