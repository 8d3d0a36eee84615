// Where rendered output goes: stdout, or a file (folders created) for CI artifacts.
import fs from 'node:fs'
import path from 'node:path'

export const FORMATS = ['table', 'json', 'markdown', 'junit'] as const
export type Format = (typeof FORMATS)[number]

export function writeOutput(text: string, file?: string): void {
  if (!file || file === '-') {
    process.stdout.write(text)
    return
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), {recursive: true})
  fs.writeFileSync(file, text)
}

export const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`
