// The report of `cycles audit verify --log-dir` (its `--json` shape: test/cli/json-schemas/audit-verify.schema.json).

/** What is wrong where the chain first breaks. */
export type BreakKind =
  /** A record's bytes do not match its hash: a field was changed. */
  | 'edited'
  /** The record does not link to the line before it: records were removed there (or the line before was rewritten and re-hashed). */
  | 'deleted'
  /** A line the chain does not link through: added between two records. */
  | 'inserted'
  /** Two neighbouring records in the wrong order. */
  | 'swapped'
  /** A line without chain fields in a chained log. */
  | 'unchained_line'
  /** The log ends before the head a signed checkpoint names. */
  | 'truncated'
  /** A checkpoint's head is in the log, but not at the record count it signs (or the log was re-chained). */
  | 'checkpoint_mismatch'
  /** A checkpoint's signature does not verify. */
  | 'checkpoint_forged'
  /** A checkpoint signed by a key that is not trusted. */
  | 'checkpoint_wrong_key'
  | 'checkpoint_edited'
  | 'checkpoint_deleted'
  /** Chained records without their instance's checkpoint file. */
  | 'checkpoints_missing'

export interface ChainBreak {
  kind: BreakKind
  instance: string
  /** File name (in the log directory). */
  file: string
  /** 1-based line number in that file. */
  line: number
  record_id?: string
  message: string
}

export interface TornLine {
  file: string
  line: number
  bytes: number
}

export interface ChainReport {
  instance: string
  files: number
  records: number
  first_file: string
  last_file: string
  /** False when the first record present links to one no longer here (older segments deleted, e.g. by retention). */
  starts_at_genesis: boolean
  head: string
  checkpoints: number
  last_checkpoint?: {n: number; ts: string; records: number; file: string; line: number}
  /** Records written after the last checkpoint (not yet covered by a signature: a crash or kill -9 leaves some). */
  records_after_last_checkpoint: number
  /** Lines cut short by a crash: at the end of a segment, never linked to. Not tampering. */
  torn_lines: TornLine[]
  /** Keys the checkpoints were signed with, as recorded in them. */
  public_keys: string[]
}

export interface VerifyReport {
  intact: boolean
  log_dir: string
  /** `given`: the checkpoints were checked against --public-key; `recorded`: against the key written in them. */
  keys_checked: 'given' | 'recorded'
  chains: ChainReport[]
  /** Schema-v1 segments (no chain fields, no checkpoints): not verifiable. */
  unchained_files: string[]
  records: number
  seconds: number
  records_per_second: number
  break?: ChainBreak
}
