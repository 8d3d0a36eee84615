// The decision log's part of the daemon's status: writability, counts, retention and its hash chain.
import type {DecisionLogWriter} from '../decision-log/writer.js'

export function decisionLogStatus(decisions: DecisionLogWriter) {
  const health = decisions.health()
  const failure = health.failure
  return {
    writable: health.writable,
    ...(failure ? {error: failure.errno, message: failure.message, since: new Date(failure.sinceMs).toISOString()} : {}),
    records_written: health.records_written,
    records_dropped: health.records_dropped,
    files_deleted_by_retention: health.files_deleted,
    ...chainStatus(decisions),
  }
}

/** The hash chain: instance, head, records and the checkpoints' public key (what `audit verify --public-key` takes). */
function chainStatus(decisions: DecisionLogWriter) {
  const chain = decisions.chainStatus()
  if (!chain) return {chained: false}
  return {
    chained: true,
    instance: chain.instance,
    chain_records: chain.records,
    chain_head: chain.head,
    checkpoint_public_key: chain.public_key,
    ...(chain.last_checkpoint ? {last_checkpoint: {n: chain.last_checkpoint.n, ts: chain.last_checkpoint.ts, records: chain.last_checkpoint.records}} : {}),
  }
}

