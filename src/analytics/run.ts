// What the `cycles shadow ...` commands call: open the database, do the work, close it, render.
import {CliError, EXIT} from '../cli/errors.js'
import {type Format, writeOutput} from '../output/write.js'
import {DEFAULT_DB, openShadowDb} from './db.js'
import {type Gate, type Violation, evaluateGates, parseGates} from './gates.js'
import {type IngestOptions, type IngestResult, ingest} from './ingest.js'
import {renderLoopsJson, renderLoopsText, renderReportJUnit, renderReportJson, renderReportMarkdown, renderReportText} from './render.js'
import {type Report, type ReportOptions, buildReport} from './report.js'

export const dbPathFrom = (flag: string | undefined) => flag || process.env.CYCLES_DB || DEFAULT_DB

export async function runIngest(
  dbPath: string,
  inputs: string[],
  options: IngestOptions = {},
): Promise<IngestResult> {
  if (inputs.length === 0) {
    throw new CliError('USAGE', 'no input: pass decision log files, folders or globs', {exit: EXIT.USAGE, suggestions: ['cycles shadow ingest .cycles/decisions']})
  }
  const db = await openShadowDb(dbPath, {create: true})
  try {
    return await ingest(db, inputs, options)
  } finally {
    db.close()
  }
}

export interface ReportRun {
  report: Report
  gates: Gate[]
  violations: Violation[]
  /** The rendered document (already written when `output` was given). */
  text: string
}

export async function runReport(
  dbPath: string,
  options: ReportOptions & {format: Format; output?: string; failOn?: string; limit?: number; color?: boolean; loopsOnly?: boolean},
): Promise<ReportRun> {
  let gates: Gate[]
  try {
    gates = parseGates(options.failOn)
  } catch (error) {
    throw new CliError('USAGE', (error as Error).message, {exit: EXIT.USAGE})
  }
  // Read-only: several reports (and `shadow loops`) may read one database at once.
  const db = await openShadowDb(dbPath, {create: false, readOnly: true})
  let report: Report
  try {
    report = await buildReport(db, options)
  } catch (error) {
    if (/^--(since|until)/.test((error as Error).message)) throw new CliError('USAGE', (error as Error).message, {exit: EXIT.USAGE})
    throw error
  } finally {
    db.close()
  }
  const violations = evaluateGates(report, gates)
  const limit = options.limit ?? 50
  let text: string
  if (options.loopsOnly) {
    text = options.format === 'json' ? renderLoopsJson(report, violations) : renderLoopsText(report, {color: Boolean(options.color) && !options.output})
    writeOutput(text, options.output)
    return {report, gates, violations, text}
  }
  switch (options.format) {
    case 'json':
      text = renderReportJson(report, violations, gates)
      break
    case 'markdown':
      text = renderReportMarkdown(report, {limit, violations})
      break
    case 'junit':
      text = renderReportJUnit(report, gates)
      break
    default:
      text = renderReportText(report, {color: Boolean(options.color) && !options.output, limit, violations})
  }
  writeOutput(text, options.output)
  return {report, gates, violations, text}
}
