// Run the built CLI (`node bin/run.js …`) as a real child process, non-interactively (stdin is not
// a TTY). Needs `npm run build` first (npm test does it).
import {execFile} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {PROJECT_ROOT} from '../support/spec.js'

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  json: any
}

/** The project root whose bin/ and dist/ run (override with CYCLES_CLI_ROOT, e.g. a private build). */
const ROOT = process.env.CYCLES_CLI_ROOT ?? PROJECT_ROOT
const BIN = path.join(ROOT, 'bin', 'run.js')

export function assertBuilt(): void {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'commands', 'overview.js'))) {
    throw new Error('dist/ is missing the runbook commands: run `npm run build` first (npm test does)')
  }
}

export function cli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {cwd: ROOT, env: {PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', ...env}, timeout: 30_000},
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as {code?: unknown}).code === 'number' ? ((error as {code: number}).code) : 1) : 0
        let json: unknown
        try {
          json = JSON.parse(stdout)
        } catch {
          json = undefined
        }
        resolve({code, stdout, stderr, json})
      },
    )
  })
}
