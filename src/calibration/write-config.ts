// `--write-config FILE`: the daemon config with each calibrated budget's `allocated` (and, when
// asked, `overdraft_limit`) replaced and everything else kept — comments, order, formatting — via
// the yaml package's Document API, so `cycles daemon start --config FILE` runs the calibrated limits.
import fs from 'node:fs'
import path from 'node:path'
import YAML, {isMap, isSeq} from 'yaml'

import {CliError, EXIT} from '../cli/errors.js'
import {parseConfig} from '../config/load.js'
import {parseScope} from '../protocol/scope.js'

export interface ConfigChange {
  scope: string
  unit: string
  allocated: number
  overdraft_limit?: number
}

/** The config text with the changes applied; throws when a change names a budget the file lacks. */
export function applyToConfigText(text: string, changes: ConfigChange[], file = '<config>'): {text: string; changed: number} {
  const doc = YAML.parseDocument(text)
  if (doc.errors.length > 0) throw new CliError('CONFIG_INVALID', `${file}: not valid YAML: ${doc.errors[0].message}`, {exit: EXIT.CONFIG})
  const budgets = doc.get('budgets')
  if (!isSeq(budgets)) throw new CliError('CONFIG_INVALID', `${file}: no budgets list to calibrate`, {exit: EXIT.CONFIG})
  const wanted = new Map(changes.map((c) => [`${c.scope}\u0000${c.unit}`, c]))
  let changed = 0
  for (const item of budgets.items) {
    if (!isMap(item)) continue
    const rawScope = item.get('scope')
    const unit = item.get('unit')
    if (typeof rawScope !== 'string' || typeof unit !== 'string') continue
    let scope: string
    try {
      scope = parseScope(rawScope)
    } catch {
      continue
    }
    const change = wanted.get(`${scope}\u0000${unit}`)
    if (!change) continue
    item.set('allocated', change.allocated)
    if (change.overdraft_limit !== undefined) item.set('overdraft_limit', change.overdraft_limit)
    wanted.delete(`${scope}\u0000${unit}`)
    changed++
  }
  if (wanted.size > 0) {
    const missing = [...wanted.values()].map((c) => `${c.scope} (${c.unit})`)
    throw new CliError('CONFIG_MISMATCH', `${file}: no budget entry for ${missing.join(', ')}`, {exit: EXIT.CONFIG, suggestions: ['calibrate with --config pointing at the config the daemon ran with']})
  }
  const out = doc.toString()
  parseConfig(out, file) // the result must still be a valid config
  return {text: out, changed}
}

export function writeConfigFile(source: string, target: string, changes: ConfigChange[]): number {
  const text = fs.readFileSync(source, 'utf8')
  if (source.endsWith('.json')) throw new CliError('USAGE', '--write-config needs a YAML config (comments and order are kept); convert the JSON config to YAML first', {exit: EXIT.USAGE})
  const result = applyToConfigText(text, changes, source)
  fs.mkdirSync(path.dirname(path.resolve(target)), {recursive: true})
  fs.writeFileSync(target, result.text)
  return result.changed
}
