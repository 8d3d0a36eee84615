// At daemon start: compare the config file with the stored state and say every difference (a file
// edit alone changes nothing the store already holds); with --config-wins, apply the file first.
import type {Store} from '../store/types.js'
import {type AppliedChange, applyConfigDifferences, storeTarget} from './apply.js'
import {type ConfigDifference, type StoredState, describeDifference, diffConfig} from './diff.js'
import type {CyclesConfig} from './schema.js'
import {storedStateFromStore} from './state.js'

export interface StartupReconcile {
  differences: ConfigDifference[]
  applied: AppliedChange[]
  fresh: boolean
}

/** Store-only entries are summarised past this many per area; value differences are always listed. */
const EXTRA_LINES = 10

export async function reconcileAtStart(store: Store, config: CyclesConfig, opts: {file: string; configWins: boolean; now: () => number; log: (line: string) => void}): Promise<StartupReconcile> {
  const state: StoredState = await storedStateFromStore(store, opts.now())
  // A store without a control record was never seeded: everything comes from the file.
  const fresh = state.tiers === null && state.budgets.length === 0 && state.tenants.length === 0
  if (fresh) {
    opts.log(`config: new state, seeded from ${opts.file}`)
    return {differences: [], applied: [], fresh}
  }
  const differences = diffConfig(config, state)
  for (const line of startupLines(differences, opts.file, opts.configWins)) opts.log(line)
  let applied: AppliedChange[] = []
  if (opts.configWins) {
    applied = await applyConfigDifferences(differences, config, storeTarget(store, opts.now, 'daemon start --config-wins'), `daemon start --config-wins: ${opts.file}`)
    for (const a of applied) opts.log(`config: ${a.outcome === 'applied' ? 'applied' : 'FAILED'} ${a.subject}: ${a.change}${a.error ? ` (${a.error})` : ''}`)
  }
  return {differences, applied, fresh}
}

export function startupLines(differences: ConfigDifference[], file: string, configWins: boolean): string[] {
  if (differences.length === 0) return [`config: ${file} matches the stored state`]
  const applicable = differences.filter((d) => d.apply !== 'none').length
  const lines = [
    `config: ${differences.length} difference(s) between ${file} and the stored state; ${configWins ? `--config-wins applies ${applicable} of them` : 'the stored state is in effect (run-time changes survive restarts)'}:`,
  ]
  const extras = new Map<string, ConfigDifference[]>()
  for (const d of differences) {
    if (d.field === 'presence' && d.config === null) {
      extras.set(d.area, [...(extras.get(d.area) ?? []), d])
      continue
    }
    lines.push(`  ${describeDifference(d)}`)
  }
  for (const [area, list] of extras) {
    for (const d of list.slice(0, EXTRA_LINES)) lines.push(`  ${describeDifference(d)}`)
    if (list.length > EXTRA_LINES) lines.push(`  … and ${list.length - EXTRA_LINES} more ${area.replace('_', ' ')}(s) only in the store (cycles config diff lists them all)`)
  }
  if (!configWins && applicable > 0) lines.push('  to make the file take effect: cycles config apply --config FILE, or restart with daemon start --config-wins')
  return lines
}
