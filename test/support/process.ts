// Run the built CLI as a real child process (end-to-end tests). `npm test` builds first.
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {PROJECT_ROOT} from './spec.js'

export const BIN = path.join(PROJECT_ROOT, 'bin', 'run.js')

export function assertBuilt(): void {
  if (!fs.existsSync(path.join(PROJECT_ROOT, 'dist', 'commands'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it) before the end-to-end tests')
  }
}

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

/** Run `cycles ...args` to completion (non-TTY stdin). */
export function runCli(args: string[], options: {env?: Record<string, string>; cwd?: string; input?: string; timeoutMs?: number} = {}): CliResult {
  assertBuilt()
  const res = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: {...process.env, NO_COLOR: '1', ...options.env},
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
  })
  return {status: res.status, stdout: res.stdout, stderr: res.stderr}
}

export interface SpawnedDaemon {
  child: ChildProcess
  url: string
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

/** Start `cycles daemon start ...args` and resolve once it prints its URL. */
export async function spawnDaemon(args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<SpawnedDaemon> {
  assertBuilt()
  const child = spawn(process.execPath, [BIN, 'daemon', 'start', '--port', '0', ...args], {
    cwd: PROJECT_ROOT,
    env: {...process.env, NO_COLOR: '1', ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c) => (out += c))
  child.stderr!.on('data', (c) => (err += c))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`)), timeoutMs)
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    }
    child.stdout!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`daemon exited with ${code} before listening\nstdout: ${out}\nstderr: ${err}`))
    })
  })
  return {child, url, stdout: () => out, stderr: () => err, exited}
}
