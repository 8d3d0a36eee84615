// Safety rails for disruptive actions: ask on a TTY, accept --yes in scripts, refuse otherwise;
// irreversible actions need --confirm <id> to match exactly.
import readline from 'node:readline'

import {CliError, EXIT} from './errors.js'

export interface ConfirmIO {
  isTTY: boolean
  input: NodeJS.ReadableStream
  output: NodeJS.WritableStream
}

const defaultIO = (): ConfirmIO => ({isTTY: Boolean(process.stdin.isTTY), input: process.stdin, output: process.stderr})

/**
 * Confirm `action` (e.g. "freeze tenant:acme/agent:bot RISK_POINTS"). Resolves when confirmed;
 * throws CONFIRMATION_REQUIRED (exit 2) in a non-TTY without --yes, ABORTED (exit 2, printed as a plain
 * line, not an error) on "no".
 */
export async function confirmAction(action: string, options: {yes?: boolean}, io: ConfirmIO = defaultIO()): Promise<void> {
  if (options.yes) return
  if (!io.isTTY) {
    throw new CliError('CONFIRMATION_REQUIRED', `refusing to ${action} without confirmation: not an interactive terminal`, {
      exit: EXIT.USAGE,
      suggestions: ['re-run with --yes to confirm non-interactively'],
    })
  }
  const rl = readline.createInterface({input: io.input, output: io.output, terminal: false})
  try {
    const answer = await new Promise<string>((resolve) => {
      io.output.write(`${action[0].toUpperCase()}${action.slice(1)}? [y/N] `)
      rl.once('line', resolve)
      rl.once('close', () => resolve(''))
    })
    if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('ABORTED', 'aborted: nothing was changed', {exit: EXIT.USAGE})
  } finally {
    rl.close()
  }
}

/** Irreversible actions: --confirm must repeat the id exactly. */
export function requireExactConfirm(id: string, confirm: string | undefined, what: string): void {
  if (confirm === undefined) {
    throw new CliError('CONFIRMATION_REQUIRED', `${what} is irreversible: pass --confirm ${id} to proceed`, {exit: EXIT.USAGE})
  }
  if (confirm !== id) {
    throw new CliError('CONFIRMATION_MISMATCH', `--confirm '${confirm}' does not match '${id}': nothing was changed`, {exit: EXIT.USAGE, suggestions: [`pass --confirm ${id}`]})
  }
}
