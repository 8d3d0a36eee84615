// `cycles daemon status`: readiness and counters of a running daemon.
import {CliError, EXIT} from '../cli/errors.js'

export interface DaemonStatus {
  url: string
  ready: boolean
  status: Record<string, unknown>
}

export async function fetchDaemonStatus(url: string, timeoutMs = 3000): Promise<DaemonStatus> {
  const base = url.replace(/\/+$/, '')
  try {
    const [readiness, status] = await Promise.all([
      fetch(`${base}/actuator/health/readiness`, {signal: AbortSignal.timeout(timeoutMs)}),
      fetch(`${base}/actuator/cycles/status`, {signal: AbortSignal.timeout(timeoutMs)}),
    ])
    if (status.status === 404) {
      throw new CliError('NOT_A_CYCLES_DAEMON', `${base} answered but has no /actuator/cycles/status; is it a cycles daemon?`, {exit: EXIT.NOT_FOUND})
    }
    return {url: base, ready: readiness.status === 200, status: (await status.json()) as Record<string, unknown>}
  } catch (error) {
    if (error instanceof CliError) throw error
    throw new CliError('UNREACHABLE', `cannot reach a daemon at ${base}: ${(error as Error).cause ? String((error as Error & {cause: Error}).cause.message) : (error as Error).message}`, {
      exit: EXIT.UNREACHABLE,
      suggestions: ['start one with: cycles daemon start --config cycles.yaml', 'or pass --url http://HOST:PORT'],
    })
  }
}
