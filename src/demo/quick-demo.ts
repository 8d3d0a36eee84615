// The Quickstart's main job until the full shadow demo lands: start the daemon on the embedded
// store with fixtures/cycles.yaml, send one dry-run reservation, print the decision, stop.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {loadConfig} from '../config/load.js'
import {Daemon} from '../daemon/daemon.js'

export interface QuickDemoResult {
  url: string
  request: unknown
  status: number
  response: unknown
  shadowHeader: string | null
  logFile?: string
}

export async function runQuickDemo(configPath: string, workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-demo-'))): Promise<QuickDemoResult> {
  const config = loadConfig(configPath)
  const daemon = await Daemon.start({config, port: 0, logDir: path.join(workDir, 'decisions'), stateDir: path.join(workDir, 'state')})
  try {
    const key = config.api_keys.find((k) => k.secret)?.secret
    const tenant = config.api_keys.find((k) => k.secret)?.tenant
    const request = {
      idempotency_key: `demo-${Date.now()}`,
      subject: {tenant, workspace: 'prod', agent: 'summarizer'},
      action: {kind: 'llm.completion', name: 'summarize-ticket'},
      estimate: {unit: 'USD_MICROCENTS', amount: 250_000},
      dry_run: true,
    }
    const res = await fetch(`${daemon.url}/v1/reservations`, {
      method: 'POST',
      headers: {'Content-Type': 'application/json', 'X-Cycles-API-Key': key ?? ''},
      body: JSON.stringify(request),
    })
    return {url: daemon.url, request, status: res.status, response: await res.json(), shadowHeader: res.headers.get('x-cycles-shadow-decision'), logFile: daemon.status().decision_log}
  } finally {
    await daemon.stop()
  }
}
