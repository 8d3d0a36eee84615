// Shared bits of the policy tests: admin calls, and validators built from the v0.1.26 companion spec
// files (read from the spec folder at test time, never copied into the repository).
import {Ajv2020} from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import fs from 'node:fs'
import path from 'node:path'
import YAML from 'yaml'

import {call} from '../support/daemon.js'
import {SPEC_CHECKS, SPEC_DIR} from '../support/spec.js'

export const ADMIN_KEY = 'adm_test_0123456789abcdef0123'
export const V26 = {'X-Cycles-Protocol-Version': '0.1.26'}

export function admin(url: string, method: string, pathName: string, body?: unknown, headers: Record<string, string> = {}) {
  return call(url, method, pathName, body, {'X-Admin-API-Key': ADMIN_KEY, ...headers})
}

const addFormats = ((addFormatsModule as unknown as {default?: unknown}).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => void

export type ExtensionSpec = 'protocol-ext' | 'action-kinds' | 'governance-ext'
const FILES: Record<ExtensionSpec, string> = {
  'protocol-ext': 'cycles-protocol-extensions-v0.1.26.yaml',
  'action-kinds': 'cycles-action-kinds-v0.1.26.yaml',
  'governance-ext': 'cycles-governance-extensions-v0.1.26.yaml',
}
const loaded = new Map<ExtensionSpec, {ajv: Ajv2020; id: string; doc: Record<string, any>}>()

export function extensionDoc(name: ExtensionSpec): Record<string, any> {
  return load(name).doc
}

function load(name: ExtensionSpec) {
  const hit = loaded.get(name)
  if (hit) return hit
  const file = path.join(SPEC_DIR!, FILES[name])
  if (!fs.existsSync(file)) throw new Error(`official spec file missing: ${file} (CYCLES_SPEC_DIR must name the folder holding the official Cycles spec files)`)
  const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, any>
  const ajv = new Ajv2020({strict: false, allErrors: true, validateFormats: true})
  addFormats(ajv)
  for (const f of ['int64', 'int32', 'double', 'float']) ajv.addFormat(f, true)
  const id = `https://cycles.local/${name}.json`
  ajv.addSchema({...doc, $id: id})
  const entry = {ajv, id, doc}
  loaded.set(name, entry)
  return entry
}

/** Errors of `value` against components.schemas[schema] of an extension spec; undefined when valid or without the spec files. */
export function extErrors(name: ExtensionSpec, schema: string, value: unknown): string | undefined {
  if (!SPEC_CHECKS) return undefined
  const {ajv, id} = load(name)
  const validate = ajv.getSchema(`${id}#/components/schemas/${schema}`)
  if (!validate) throw new Error(`schema ${schema} not found in ${FILES[name]}`)
  return validate(value) ? undefined : ajv.errorsText(validate.errors, {separator: '; '})
}

/** Errors against an ad-hoc schema (e.g. the admin Policy merged with the v0.1.26 PolicyExtension). */
export function schemaErrors(schema: Record<string, unknown>, value: unknown): string | undefined {
  const ajv = new Ajv2020({strict: false, allErrors: true, validateFormats: true})
  addFormats(ajv)
  for (const f of ['int64', 'int32', 'double', 'float']) ajv.addFormat(f, true)
  const validate = ajv.compile(schema)
  return validate(value) ? undefined : ajv.errorsText(validate.errors, {separator: '; '})
}
