// Flags shared by `cycles shadow report` and `cycles shadow loops`: where the data is, which slice,
// and the runaway detectors' thresholds (defaults from shadow-analytics.md).
import {Flags} from '@oclif/core'

import {CliError, EXIT} from '../cli/errors.js'
import {instantFlag, sinceFlag} from '../cli/flags.js'
import {FORMATS} from '../output/write.js'
import {durationMs} from '../runbook/duration.js'
import {checkLabel} from './provenance.js'
import {REPORT_DEFAULTS} from './report.js'

export const sliceFlags = {
  db: Flags.string({description: 'Analysis database file [default: .cycles/shadow.duckdb]', env: 'CYCLES_DB'}),
  since: sinceFlag('Only records at or after then'),
  until: instantFlag('Only records before this time'),
  tenant: Flags.string({description: 'Only this tenant'}),
}

export const runawayFlags = {
  'loop-window': Flags.integer({description: 'Loop detector window, seconds', default: REPORT_DEFAULTS.loopWindowSeconds, min: 1}),
  'loop-threshold': Flags.integer({description: 'Reservations by one run within the window that make a loop', default: REPORT_DEFAULTS.loopThreshold, min: 2}),
  'repeat-threshold': Flags.integer({description: 'Consecutive identical reservations by one run that make a loop', default: REPORT_DEFAULTS.repeatThreshold, min: 2}),
  'fanout-children': Flags.integer({description: 'Flag a delegation tree whose root has at least this many children', default: REPORT_DEFAULTS.fanoutChildren, min: 1}),
  'fanout-depth': Flags.integer({description: 'Flag a delegation tree at least this deep', default: REPORT_DEFAULTS.fanoutDepth, min: 1}),
  'fanout-amplification': Flags.integer({description: 'Flag a delegation tree whose widest level has at least this many runs', default: REPORT_DEFAULTS.fanoutAmplification, min: 1}),
}

/** The report options those flags stand for. */
export function runawayOptions(flags: {[K in keyof typeof runawayFlags]: number}) {
  return {
    loopWindowSeconds: flags['loop-window'],
    loopThreshold: flags['loop-threshold'],
    repeatThreshold: flags['repeat-threshold'],
    fanoutChildren: flags['fanout-children'],
    fanoutDepth: flags['fanout-depth'],
    fanoutAmplification: flags['fanout-amplification'],
  }
}

/** Provenance and comparison flags shared by `cycles shadow report` and `cycles calibrate`. */
export const trendFlags = {
  label: Flags.string({description: 'Only records of files ingested with this label (cycles shadow ingest --label); repeat or comma-separate for several', multiple: true}),
  compare: Flags.string({description: 'Show what changed since this saved report (a --format json file of the same command)', exclusive: ['compare-window'], helpValue: '<file>'}),
  'compare-window': Flags.string({description: 'Show what changed in the last window (e.g. 7d): compared with the report over the data up to the last record minus it', exclusive: ['compare'], helpValue: '<duration>'}),
}

/** --label values (repeated or comma-separated), each checked; undefined when none. */
export function labelsFrom(values: string[] | undefined): string[] | undefined {
  const labels = (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)
  if (labels.length === 0) return undefined
  try {
    return [...new Set(labels.map(checkLabel))]
  } catch (error) {
    throw new CliError('USAGE', (error as Error).message, {exit: EXIT.USAGE})
  }
}

/** --compare-window as text and milliseconds. */
export function compareWindowFrom(text: string | undefined): {text: string; ms: number} | undefined {
  if (text === undefined) return undefined
  const ms = durationMs(text)
  if (ms === undefined || ms <= 0) throw new CliError('USAGE', `--compare-window expects a duration such as 24h or 7d, got '${text}'`, {exit: EXIT.USAGE})
  return {text, ms}
}

/** The report formats: the shared ones and the HTML page. */
export const REPORT_FORMATS = [...FORMATS, 'html'] as const
export type ReportFormat = (typeof REPORT_FORMATS)[number]
