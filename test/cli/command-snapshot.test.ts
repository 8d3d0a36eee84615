// Issue 12 §2: the CLI surface is a contract. Every command with its flags (type, short form, allowed
// values, default, required) and arguments, taken from the oclif manifest the build writes, is
// compared with the checked-in test/cli/command-snapshot.json. Renaming or dropping a command, a flag
// or an allowed value fails here; a deliberate change is recorded with `npx vitest run
// test/cli/command-snapshot.test.ts -u` and shows up in review. Descriptions and examples are left
// out: wording may change freely.
import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {assertBuilt} from '../admin/cli.js'
import {PROJECT_ROOT} from '../support/spec.js'

interface ManifestFlag {
  name: string
  type: 'boolean' | 'option'
  char?: string
  options?: string[]
  /** Shared enum flags (src/cli/flags.ts) check values case-insensitively themselves and list them here. */
  helpValue?: string
  default?: unknown
  required?: boolean
  multiple?: boolean
  allowNo?: boolean
  exclusive?: string[]
  dependsOn?: string[]
}

function surfaceOf(manifest: {commands: Record<string, {flags: Record<string, ManifestFlag>; args: Record<string, {name: string; required?: boolean; options?: string[]}>}>}) {
  const out: Record<string, unknown> = {}
  for (const id of Object.keys(manifest.commands).sort()) {
    const c = manifest.commands[id]
    const flags: Record<string, unknown> = {}
    for (const name of Object.keys(c.flags).sort()) {
      const f = c.flags[name]
      flags[name] = {
        type: f.type,
        ...(f.char ? {char: f.char} : {}),
        ...(f.options ? {options: f.options} : {}),
        ...(f.helpValue ? {helpValue: f.helpValue} : {}),
        ...(f.default !== undefined ? {default: f.default} : {}),
        ...(f.required ? {required: true} : {}),
        ...(f.multiple ? {multiple: true} : {}),
        ...(f.allowNo ? {allowNo: true} : {}),
        ...(f.exclusive?.length ? {exclusive: f.exclusive} : {}),
        ...(f.dependsOn?.length ? {dependsOn: f.dependsOn} : {}),
      }
    }
    const args = Object.values(c.args ?? {}).map((a) => ({name: a.name, ...(a.required ? {required: true} : {}), ...(a.options ? {options: a.options} : {})}))
    out[id.replaceAll(':', ' ')] = {flags, ...(args.length > 0 ? {args} : {})}
  }
  return out
}

describe('the CLI surface', () => {
  it('matches the checked-in command snapshot', async () => {
    assertBuilt()
    const manifest = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'oclif.manifest.json'), 'utf8'))
    await expect(`${JSON.stringify(surfaceOf(manifest), null, 2)}\n`).toMatchFileSnapshot('./command-snapshot.json')
  })
})
