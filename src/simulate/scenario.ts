// Scenario files (fixtures/scenarios/*.yaml; README "Scenario files"): a fleet of tenants,
// workspaces and agents, their traffic (daily shape, estimate and actual distributions with heavy
// tails and drift), budgets in all four units sized against the traffic, and injected incidents.
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import YAML from 'yaml'
import {z} from 'zod'

import {CliError, EXIT} from '../cli/errors.js'
import {formatIssues} from '../config/issues.js'
import {UNITS} from '../protocol/types.js'

const id = z.string().regex(/^[a-zA-Z0-9_.-]+$/, 'expected letters, digits, _ . - only')
const range = z.tuple([z.number().int().min(0), z.number().int().min(0)]).refine(([a, b]) => a <= b, 'expected [min, max] with min ≤ max')

const agent = z.strictObject({
  name: id,
  workspace: id.default('prod'),
  workflow: id.optional(),
  unit: z.enum(UNITS),
  action: z.strictObject({kind: z.string().min(1), name: z.string().min(1)}),
  /** Only these tenants run the agent (default: all). */
  tenants: z.array(id).optional(),
  runs_per_day: z.number().min(0),
  steps: range.default([1, 5]),
  estimate: z.strictObject({median: z.number().positive(), sigma: z.number().min(0).default(0.3)}),
  /** actual = estimate × ratio; ratio log-normal, a share of heavy-tail outliers, a daily drift. */
  actual_ratio: z
    .strictObject({
      median: z.number().positive().default(0.85),
      sigma: z.number().min(0).default(0.2),
      tail_share: z.number().min(0).max(1).default(0),
      tail_factor: z.number().positive().default(4),
      drift_per_day: z.number().default(0),
    })
    .default({median: 0.85, sigma: 0.2, tail_share: 0, tail_factor: 4, drift_per_day: 0}),
  dry_run_share: z.number().min(0).max(1).default(0),
  decide_share: z.number().min(0).max(1).default(0),
  /** Share of runs that abandon a step (release instead of commit). */
  release_share: z.number().min(0).max(1).default(0.02),
  delegate: z.strictObject({share: z.number().min(0).max(1), children: range}).optional(),
})

const budget = z.strictObject({
  /** Scope template; `{tenant}` is replaced by each tenant id. */
  scope: z.string().min(1),
  unit: z.enum(UNITS),
  tenants: z.array(id).optional(),
  /** Fixed allocation, or … */
  allocated: z.number().int().min(0).optional(),
  /** … allocation = headroom × the traffic's total spend in the scope over the run (default `default_headroom`). */
  headroom: z.number().positive().optional(),
  overdraft_limit: z.number().int().min(0).optional(),
})

const at = {tenant: id, agent: id, day: z.number().min(0), hour: z.number().min(0).max(24).default(12)}

const incident = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('retry_loop'),
    ...at,
    count: z.number().int().min(2).default(47),
    seconds: z.number().positive().default(90),
    /** release: a failing call retried (each attempt released); commit: the same call succeeding without progress (each attempt commits its cost). */
    outcome: z.enum(['release', 'commit']).default('release'),
  }),
  z.strictObject({type: z.literal('fanout'), ...at, levels: z.number().int().min(1).max(8).default(3), children: z.number().int().min(1).max(50).default(3)}),
  z.strictObject({type: z.literal('tight_budget'), scope: z.string(), unit: z.enum(UNITS), headroom: z.number().positive().default(0.9)}),
  z.strictObject({type: z.literal('decorative_budget'), scope: z.string(), unit: z.enum(UNITS), headroom: z.number().positive().default(5)}),
])

export const scenarioSchema = z.strictObject({
  name: z.string().default('scenario'),
  seed: z.number().int().default(1),
  /** ISO start time; default: `days` before now. */
  start: z.string().optional(),
  days: z.number().positive().default(14),
  tenants: z.union([z.array(id).min(1), z.strictObject({count: z.number().int().min(1).max(10_000), prefix: id.default('tenant')})]),
  /** 24 relative weights, one per UTC hour (default: a business-hours curve). */
  daily_shape: z.array(z.number().min(0)).length(24).optional(),
  /** Weekend traffic relative to weekdays. */
  weekend_factor: z.number().min(0).default(0.4),
  default_headroom: z.number().positive().default(0.985),
  agents: z.array(agent).min(1),
  budgets: z.array(budget).default([]),
  incidents: z.array(incident).default([]),
  tiers: z.record(z.string(), z.unknown()).optional(),
  /** Secrets per tenant for --url mode (the demo's daemon config uses them too). */
  api_keys: z.record(z.string(), z.string()).optional(),
})

export type Scenario = z.infer<typeof scenarioSchema>
export type AgentSpec = Scenario['agents'][number]
export type Incident = Scenario['incidents'][number]

export const DEFAULT_DAILY_SHAPE = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 8, 9, 10, 10, 9, 7, 5, 4, 3, 2, 2, 1]

export function tenantIds(s: Scenario): string[] {
  const t = s.tenants
  if (Array.isArray(t)) return t
  const fleet = t as {count: number; prefix: string}
  const width = String(fleet.count).length
  return Array.from({length: fleet.count}, (_, i) => `${fleet.prefix}-${String(i + 1).padStart(Math.max(2, width), '0')}`)
}

export function parseScenario(text: string, file = '<scenario>'): Scenario {
  let raw: unknown
  try {
    raw = YAML.parse(text)
  } catch (error) {
    throw new CliError('SCENARIO_INVALID', `${file}: not valid YAML: ${(error as Error).message}`, {exit: EXIT.USAGE})
  }
  const result = scenarioSchema.safeParse(raw ?? {})
  if (!result.success) {
    throw new CliError('SCENARIO_INVALID', `${file}: invalid scenario: ${formatIssues(result.error.issues)}`, {
      exit: EXIT.USAGE,
      suggestions: ['see README "Scenario files"; fixtures/scenarios/demo-fleet.yaml is a complete example'],
    })
  }
  return result.data
}

/** A relative scenario path that is not under the working folder is looked up in the package (fixtures/ ships with it). */
export function resolveScenarioPath(file: string): string {
  if (fs.existsSync(file) || path.isAbsolute(file)) return file
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, file)
    if (fs.existsSync(candidate)) return candidate
    dir = path.dirname(dir)
  }
  return file
}

export function loadScenario(input: string): Scenario {
  const file = resolveScenarioPath(input)
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    throw new CliError('SCENARIO_NOT_FOUND', `cannot read scenario file ${file}`, {exit: EXIT.NOT_FOUND, suggestions: ['scenarios live in fixtures/scenarios/']})
  }
  return parseScenario(text, file)
}
