// Which requests need the state journal written before they are answered, and the answer when the
// state disk cannot be written (the embedded store's journal failure).
import {type WriteFailure} from '../io/group-commit-writer.js'
import {ProtocolError} from '../protocol/errors.js'
import {EmbeddedStore} from '../store/embedded/embedded-store.js'
import type {Store} from '../store/types.js'
import type {HttpRequest} from './http/json-server.js'

/** The state journal's failure, when the store is the embedded one and its disk cannot be written. */
export function stateWriteFailure(store: Store): WriteFailure | undefined {
  return store instanceof EmbeddedStore ? store.journalFailure : undefined
}

/**
 * Requests whose answer tells the client a change happened: live reserve, commit, release, extend,
 * events. Dry-runs and decides change only the shadow ledger and idempotency records, which a
 * restart may lose without anyone having been told otherwise.
 */
export function needsDurableWrite(req: HttpRequest): boolean {
  if (req.method !== 'POST') return false
  if (req.path === '/v1/reservations') return (req.body as {dry_run?: unknown} | undefined)?.dry_run !== true
  return req.path === '/v1/events' || (req.path.startsWith('/v1/reservations/') && /\/(commit|release|extend)$/.test(req.path))
}

export function stateUnwritable(failure: WriteFailure): ProtocolError {
  const why = failure.code === 'DISK_FULL' ? 'the state disk is full' : `the state journal cannot be written (${failure.errno})`
  return new ProtocolError('INTERNAL_ERROR', `Not persisted: ${why}; retry with the same idempotency_key once space is freed`, undefined, 503)
}

