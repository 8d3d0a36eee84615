// Start a real daemon on a real socket (port 0) with throwaway directories, for end-to-end tests.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {parseConfig} from '../../src/config/load.js'
import {Daemon, type DaemonOptions} from '../../src/daemon/daemon.js'

export const ACME_KEY = 'cyc_test_acme_0123456789abcdef'
export const GLOBEX_KEY = 'cyc_test_globex_0123456789abcdef'

export function tempDir(prefix = 'cycles-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

export interface TestDaemon {
  daemon: Daemon
  url: string
  dir: string
  logDir: string
  stateDir: string
  stop(): Promise<void>
  /** Every decision record written so far (after a flush). */
  records(): Array<Record<string, unknown>>
}

export async function startTestDaemon(configYaml: string, options: Partial<DaemonOptions> = {}, dir = tempDir()): Promise<TestDaemon> {
  const logDir = path.join(dir, 'decisions')
  const stateDir = path.join(dir, 'state')
  const daemon = await Daemon.start({config: parseConfig(configYaml), port: 0, logDir, stateDir, sweepIntervalMs: 100, ...options})
  return {
    daemon,
    url: daemon.url,
    dir,
    logDir,
    stateDir,
    stop: () => daemon.stop(),
    records: () => readRecords(logDir),
  }
}

export function readRecords(logDir: string): Array<Record<string, unknown>> {
  if (!fs.existsSync(logDir)) return []
  const out: Array<Record<string, unknown>> = []
  for (const f of fs.readdirSync(logDir).sort()) {
    if (!f.endsWith('.jsonl')) continue
    for (const line of fs.readFileSync(path.join(logDir, f), 'utf8').split('\n')) {
      if (line.trim() !== '') out.push(JSON.parse(line))
    }
  }
  return out
}

export interface CallResult {
  status: number
  headers: Headers
  body: any
  text: string
}

/** One HTTP call with fetch; JSON body in and out. */
export async function call(url: string, method: string, pathName: string, body?: unknown, headers: Record<string, string> = {}): Promise<CallResult> {
  const res = await fetch(url + pathName, {
    method,
    headers: {...(body === undefined ? {} : {'Content-Type': 'application/json'}), ...headers},
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    parsed = undefined
  }
  return {status: res.status, headers: res.headers, body: parsed, text}
}

/** fixtures/cycles.yaml as shipped: `daemon start` with it needs CYCLES_ADMIN_API_KEY (admin_key_env). */
export const FIXTURE_FILE = fileURLToPath(new URL('../../fixtures/cycles.yaml', import.meta.url))
/** The fixture's tenants, keys, budgets and tiers without `admin_key_env`: a runtime-only daemon that starts anywhere. */
export const FIXTURE_CONFIG = fs.readFileSync(FIXTURE_FILE, 'utf8').replace(/^admin_key_env:.*\n/m, '')
