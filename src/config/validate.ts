// `cycles config validate`: the file checked against the schema without a daemon — every problem
// with the path of its field — plus warnings for values that are valid but will not do what they say.
import fs from 'node:fs'
import YAML from 'yaml'

import {TIERS} from '../protocol/types.js'
import {type CyclesConfig, configSchema} from './schema.js'

export interface ConfigProblem {
  path: string
  message: string
}

export interface ConfigValidation {
  file: string
  valid: boolean
  issues: ConfigProblem[]
  warnings: ConfigProblem[]
  summary?: {tenants: number; api_keys: number; budgets: number; tiers: Record<string, string>}
}

const pathOf = (path: readonly PropertyKey[]) => (path.length > 0 ? path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(top level)')

export function validateConfigText(text: string, file: string): ConfigValidation {
  let raw: unknown
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text, {prettyErrors: true})
  } catch (error) {
    return {file, valid: false, issues: [{path: '(file)', message: `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`}], warnings: []}
  }
  const result = configSchema.safeParse(raw ?? {})
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({path: pathOf(i.path), message: i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message}))
    return {file, valid: false, issues, warnings: []}
  }
  const config = result.data
  return {
    file,
    valid: true,
    issues: [],
    warnings: configWarnings(config),
    summary: {
      tenants: config.tenants.length,
      api_keys: config.api_keys.length,
      budgets: config.budgets.length,
      tiers: Object.fromEntries(TIERS.map((t) => [t, config.tiers[t].mode === 'enforce' && config.tiers[t].enforce_percent < 100 ? `enforce ${config.tiers[t].enforce_percent} %` : config.tiers[t].mode])),
    },
  }
}

export function validateConfigFile(file: string): ConfigValidation {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    return {file, valid: false, issues: [{path: '(file)', message: `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`}], warnings: []}
  }
  return validateConfigText(text, file)
}

/** Valid, but probably not what was meant. */
export function configWarnings(config: CyclesConfig): ConfigProblem[] {
  const out: ConfigProblem[] = []
  for (const t of TIERS) {
    const tier = config.tiers[t]
    if (tier.mode === 'shadow' && tier.enforce_percent < 100) out.push({path: `tiers.${t}.enforce_percent`, message: `${tier.enforce_percent} has no effect while the tier is in shadow mode`})
    if (tier.mode === 'enforce' && tier.enforce_percent === 0) out.push({path: `tiers.${t}.enforce_percent`, message: 'enforce at 0 % enforces no run; use mode: shadow'})
  }
  const tenants = new Set(config.tenants.map((t) => t.id))
  config.budgets.forEach((b, i) => {
    const tenant = /^tenant:([^/]+)/.exec(b.scope)?.[1]
    if (tenant && !tenants.has(tenant)) out.push({path: `budgets[${i}].scope`, message: `tenant '${tenant}' is not under tenants:; its traffic is refused until it exists`})
  })
  if (config.admin_key) out.push({path: 'admin_key', message: 'an admin key in the file is readable by anyone who can read the file; prefer CYCLES_ADMIN_API_KEY'})
  return out
}
