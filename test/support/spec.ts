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
/** ../shared next to the project root; from a nested copy (Stryker's sandbox under .stryker-tmp/) the nearest ancestor's. */
function findSpecDir(): string {
  const wanted = (dir: string) => path.resolve(dir, '../shared/spec/cycles-protocol')
  for (let dir = PROJECT_ROOT; dir !== path.dirname(dir); dir = path.dirname(dir)) if (fs.existsSync(wanted(dir))) return wanted(dir)
  return wanted(PROJECT_ROOT)
}
export const SPEC_DIR = findSpecDir()

export type SpecName = 'runtime' | 'admin'
const FILES: Record<SpecName, string> = {
  runtime: 'cycles-protocol-v0.yaml',
  admin: 'cycles-governance-admin-v0.1.25.yaml',
}

const cache = new Map<SpecName, {ajv: Ajv2020; id: string; doc: Record<string, unknown>}>()

function load(name: SpecName) {
  const hit = cache.get(name)
  if (hit) return hit
  const file = path.join(SPEC_DIR, FILES[name])
  if (!fs.existsSync(file)) {
    throw new Error(`official spec file missing: ${file} (the shared/ folder must sit next to the project root)`)
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

/** Validate `value` against components.schemas[schemaName]; returns error text or undefined. */
export function specErrors(name: SpecName, schemaName: string, value: unknown): string | undefined {
  const {ajv, id} = load(name)
  const validate = ajv.getSchema(`${id}#/components/schemas/${schemaName}`)
  if (!validate) throw new Error(`schema ${schemaName} not found in the ${name} spec`)
  if (validate(value)) return undefined
  return ajv.errorsText(validate.errors, {separator: '; '})
}

export function specDocument(name: SpecName): Record<string, unknown> {
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
