// Flags shared by `cycles shadow report` and `cycles shadow loops`: where the data is, which slice,
// and the runaway detectors' thresholds (defaults from shadow-analytics.md).
import {Flags} from '@oclif/core'

import {instantFlag, sinceFlag} from '../cli/flags.js'
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
