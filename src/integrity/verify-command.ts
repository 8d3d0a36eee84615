// `cycles audit verify --log-dir` and `shadow ingest --verify`: the verifier with its usage errors as CLI errors.
import type {KeyObject} from 'node:crypto'
import fs from 'node:fs'

import {resolveInputs} from '../analytics/files.js'
import {CliError, EXIT} from '../cli/errors.js'
import {SigningKeyError, parsePublicKey} from './signing.js'
import {breakLine, verifyReportLines} from './verify-report-text.js'
import {type VerifyReport, verifyLogDir, verifyLogFiles} from './verify-log.js'

export function verifyDecisionLog(dir: string, publicKeys: string[]): VerifyReport {
  let stat: fs.Stats | undefined
  try {
    stat = fs.statSync(dir)
  } catch {
    stat = undefined
  }
  if (!stat?.isDirectory()) throw new CliError('INPUT_NOT_FOUND', `no such directory: ${dir}`, {exit: EXIT.NOT_FOUND, suggestions: ['pass the daemon\'s --log-dir (default .cycles/decisions)']})
  const report = withKeys(() => verifyLogDir(dir, {publicKeys}))
  if (report.chains.length === 0 && report.unchained_files.length === 0) {
    throw new CliError('INPUT_NOT_FOUND', `no decision-log segments (decisions-*.jsonl) in ${dir}`, {exit: EXIT.NOT_FOUND, suggestions: ['pass the daemon\'s --log-dir (default .cycles/decisions)']})
  }
  return report
}

/** The chains of the segment files among `files` (others are ignored). */
export function verifyDecisionFiles(files: string[], publicKeys: string[] = []): VerifyReport {
  return withKeys(() => verifyLogFiles(files, {publicKeys}))
}

/** `--public-key` values as keys (a bad one is a usage error). */
export function publicKeysOption(texts: readonly string[]): KeyObject[] {
  return withKeys(() => texts.map((t) => parsePublicKey(t)))
}

function withKeys<T>(verify: () => T): T {
  try {
    return verify()
  } catch (error) {
    if (error instanceof SigningKeyError) throw new CliError('USAGE', `--public-key: ${error.message}`, {exit: EXIT.USAGE, suggestions: ['pass the key `cycles daemon status` or `daemon start` prints: ed25519:<43 characters>']})
    throw error
  }
}

/**
 * `shadow ingest --verify`: verify the chains of the inputs' segments before anything is loaded.
 * Throws LOG_TAMPERED (exit 13, the report in `details.verify`) at the first break; returns the
 * report's lines for stderr otherwise.
 */
export function refuseBrokenChains(inputs: string[]): string[] {
  const report = verifyDecisionFiles(resolveInputs(inputs).map((f) => f.path))
  if (report.break) {
    throw new CliError('LOG_TAMPERED', `${breakLine(report.break)}; nothing was ingested`, {
      exit: EXIT.TAMPERED,
      suggestions: ['see the whole report: cycles audit verify --log-dir <the log directory>', 'ingest without --verify only if you accept records that may have been changed'],
      details: {verify: report},
    })
  }
  return verifyReportLines(report).map((line) => `verify: ${line.trim()}`)
}
