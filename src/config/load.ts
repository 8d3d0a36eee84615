// Load and validate the config file (YAML or JSON). Every problem names the file, the path of the
// bad field and what is expected, before anything listens.
import fs from 'node:fs'
import YAML from 'yaml'

import {CliError, EXIT} from '../cli/errors.js'
import {type CyclesConfig, configSchema} from './schema.js'

export function loadConfig(file: string): CyclesConfig {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new CliError('CONFIG_NOT_FOUND', `cannot read config file ${file}: ${code ?? String(error)}`, {
      exit: EXIT.CONFIG,
      suggestions: ['pass --config PATH (or set CYCLES_CONFIG); fixtures/cycles.yaml is an example'],
    })
  }
  return parseConfig(text, file)
}

export function parseConfig(text: string, file = '<config>'): CyclesConfig {
  let raw: unknown
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text, {prettyErrors: true})
  } catch (error) {
    throw new CliError('CONFIG_INVALID', `${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`, {
      exit: EXIT.CONFIG,
    })
  }
  const result = configSchema.safeParse(raw ?? {})
  if (result.success) return result.data
  const lines = result.error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(top level)'
    const message = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : issue.message
    return `  ${where}: ${message}`
  })
  throw new CliError('CONFIG_INVALID', `${file}: invalid config\n${lines.join('\n')}`, {exit: EXIT.CONFIG})
}
