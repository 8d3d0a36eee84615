// Validators built from the official OpenAPI files in ../shared/spec/cycles-protocol/ (never copied
// into this repo). A missing spec file fails the test that needs it, naming the path.
import {Ajv2020} from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import YAML from 'yaml'

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = ((addFormatsModule as unknown as {default?: unknown}).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => void

const here = path.dirname(fileURLToPath(import.meta.url))
/** Project root, whether running from test/ (vitest) or dist/test/ (bench). */
export const PROJECT_ROOT = [path.resolve(here, '../..'), path.resolve(here, '../../..')].find((p) => fs.existsSync(path.join(p, 'package.json')))!
/**
 * Where the official spec files are, and whether their checks must run:
 * - `CYCLES_SPEC_DIR` set: that folder, required (a missing file fails the test that needs it; `.ci/run` sets it);
 * - otherwise `../shared/spec/cycles-protocol` next to the project root (or, from Stryker's sandbox under
 *   `.stryker-tmp/`, the nearest ancestor's) when it exists;
 * - otherwise none: spec checks do not run, and vitest's global setup says so at the start of the run.
 */
function resolveSpecDir(): {dir: string | undefined; required: boolean} {
  const fromEnv = process.env.CYCLES_SPEC_DIR
  if (fromEnv) return {dir: path.resolve(fromEnv), required: true}
  const wanted = (dir: string) => path.resolve(dir, '../shared/spec/cycles-protocol')
  for (let dir = PROJECT_ROOT; dir !== path.dirname(dir); dir = path.dirname(dir)) if (fs.existsSync(wanted(dir))) return {dir: wanted(dir), required: false}
  return {dir: undefined, required: false}
}
const RESOLVED = resolveSpecDir()
export const SPEC_DIR = RESOLVED.dir
/** True when the checks against the official spec files run in this test process. */
export const SPEC_CHECKS = RESOLVED.dir !== undefined
export const SPEC_REQUIRED = RESOLVED.required
/** One line for the start of a test run: which spec checks run, and how to turn them on. */
export function specChecksBanner(): string {
  if (SPEC_REQUIRED) return `official spec checks: ON (CYCLES_SPEC_DIR=${SPEC_DIR})`
  if (SPEC_CHECKS) return `official spec checks: ON (${SPEC_DIR})`
  return 'official spec checks: OFF — ../shared/spec/cycles-protocol not found; set CYCLES_SPEC_DIR to the folder holding the official Cycles spec files to run them (.ci/run does)'
}

export type SpecName = 'runtime' | 'admin'
const FILES: Record<SpecName, string> = {
  runtime: 'cycles-protocol-v0.yaml',
  admin: 'cycles-governance-admin-v0.1.25.yaml',
}

const cache = new Map<SpecName, {ajv: Ajv2020; id: string; doc: Record<string, unknown>}>()

function load(name: SpecName) {
  const hit = cache.get(name)
  if (hit) return hit
  const file = path.join(SPEC_DIR!, FILES[name])
  if (!fs.existsSync(file)) {
    throw new Error(`official spec file missing: ${file} (CYCLES_SPEC_DIR must name the folder holding the official Cycles spec files)`)
  }
  const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>
  const ajv = new Ajv2020({strict: false, allErrors: true, validateFormats: true})
  addFormats(ajv)
  for (const f of ['int64', 'int32', 'double', 'float']) ajv.addFormat(f, true)
  const id = `https://cycles.local/${name}.json`
  ajv.addSchema({...doc, $id: id})
  const entry = {ajv, id, doc}
  cache.set(name, entry)
  return entry
}

/**
 * Validate `value` against components.schemas[schemaName]; returns error text or undefined. Without
 * the spec files (SPEC_CHECKS false, announced at the start of the run) there is nothing to check
 * against, so it returns undefined; tests whose subject is the spec itself run only with SPEC_CHECKS.
 */
export function specErrors(name: SpecName, schemaName: string, value: unknown): string | undefined {
  if (!SPEC_CHECKS) return undefined
  const {ajv, id} = load(name)
  const validate = ajv.getSchema(`${id}#/components/schemas/${schemaName}`)
  if (!validate) throw new Error(`schema ${schemaName} not found in the ${name} spec`)
  if (validate(value)) return undefined
  return ajv.errorsText(validate.errors, {separator: '; '})
}

export function specDocument(name: SpecName): Record<string, unknown> {
  if (!SPEC_CHECKS) throw new Error(specChecksBanner())
  return load(name).doc
}

/**
 * The SDK's strict checks (cycles-protocol.md §6): no null anywhere, every number a safe integer.
 * Unknown keys are caught by the spec's additionalProperties:false.
 */
export function sdkStrictErrors(value: unknown, where = 'body'): string[] {
  const out: string[] = []
  const walk = (v: unknown, p: string) => {
    if (v === null) out.push(`${p} is null`)
    else if (typeof v === 'number' && !Number.isSafeInteger(v)) out.push(`${p} is not a safe integer (${v})`)
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${p}[${i}]`))
    else if (typeof v === 'object') for (const [k, x] of Object.entries(v as object)) walk(x, `${p}.${k}`)
  }
  walk(value, where)
  return out
}
