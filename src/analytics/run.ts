// What the `cycles shadow ...` commands call: open the database, do the work, close it, render.
import {CliError, EXIT} from '../cli/errors.js'
import {type Format, writeOutput} from '../output/write.js'
import {DEFAULT_DB, openShadowDb} from './db.js'
import {type Gate, type Violation, evaluateGates, parseGates} from './gates.js'
import {type IngestOptions, type IngestResult, ingest} from './ingest.js'
import {renderLoopsJson, renderLoopsText, renderReportJUnit, renderReportJson, renderReportMarkdown, renderReportText} from './render.js'
import {CompareError, compareReports, earlierUntil, fromShadowReport, loadSavedReport} from './compare.js'
import {renderReportHtml} from './html/shadow.js'
import {checkLabel, checkLabelsKnown, labelFiles, provenanceOf} from './provenance.js'
import {type Report, type ReportOptions, buildReport} from './report.js'
import {shadowSeries} from './series.js'

export const dbPathFrom = (flag: string | undefined) => flag || process.env.CYCLES_DB || DEFAULT_DB

export async function runIngest(
  dbPath: string,
  inputs: string[],
  options: IngestOptions & {label?: string} = {},
): Promise<IngestResult & {label?: string}> {
  if (inputs.length === 0) {
    throw new CliError('USAGE', 'no input: pass decision log files, folders or globs', {exit: EXIT.USAGE, suggestions: ['cycles shadow ingest .cycles/decisions']})
  }
  if (options.label !== undefined) {
    try {
      checkLabel(options.label)
    } catch (error) {
      throw new CliError('USAGE', (error as Error).message, {exit: EXIT.USAGE})
    }
  }
  const db = await openShadowDb(dbPath, {create: true})
  try {
    const result = await ingest(db, inputs, options)
    if (options.label === undefined) return result
    // every file this run read (skipped ones too: re-labelling an unchanged file is allowed)
    await labelFiles(db, result.per_file.filter((f) => !f.failed).map((f) => f.path), options.label)
    return {...result, label: options.label}
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
  options: ReportOptions & {format: Format | 'html'; output?: string; failOn?: string; limit?: number; color?: boolean; loopsOnly?: boolean; compare?: string; compareWindow?: {text: string; ms: number}},
): Promise<ReportRun> {
  let gates: Gate[]
  try {
    gates = parseGates(options.failOn)
  } catch (error) {
    throw new CliError('USAGE', (error as Error).message, {exit: EXIT.USAGE})
  }
  // Read-only: several reports (and `shadow loops`) may read one database at once.
  let previous
  try {
    previous = options.compare ? loadSavedReport(options.compare, 'shadow-report') : undefined
  } catch (error) {
    throw new CliError('USAGE', (error as Error).message, {exit: EXIT.USAGE})
  }
  const db = await openShadowDb(dbPath, {create: false, readOnly: true})
  let report: Report
  try {
    await checkLabelsKnown(db, options.labels)
    report = await buildReport(db, options)
    if (!options.loopsOnly && options.format !== 'junit') {
      // trends and sources read the view buildReport left (its filtered records), before anything replaces it
      report.series = await shadowSeries(db, report)
      report.provenance = await provenanceOf(db, 'f', options.labels)
    }
    if (previous) report.changes = compareReports(fromShadowReport(report), previous, {kind: 'file', source: options.compare!})
    else if (options.compareWindow) {
      const until = earlierUntil(report.window.last_ts, options.compareWindow.ms, options.until)
      const earlier = await buildReport(db, {...options, until: until ?? undefined})
      report.changes = compareReports(fromShadowReport(report), fromShadowReport(earlier), {kind: 'window', source: options.compareWindow.text})
    }
  } catch (error) {
    if (/^--(since|until|label)/.test((error as Error).message) || error instanceof CompareError) throw new CliError('USAGE', (error as Error).message, {exit: EXIT.USAGE})
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
    case 'html':
      text = await renderReportHtml(report, violations)
      break
    default:
      text = renderReportText(report, {color: Boolean(options.color) && !options.output, limit, violations})
  }
  writeOutput(text, options.output)
  return {report, gates, violations, text}
}
