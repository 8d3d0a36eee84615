// Shared helpers for the multi-instance and failure tests: configs, daemons on Redis (in-process
// or as child processes of the built CLI), and a keep-alive HTTP client for concurrent load.
import {type ChildProcess, spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'

import {RedisStore} from '../../src/store/redis/redis-store.js'
import {type TestDaemon, startTestDaemon, tempDir} from '../support/daemon.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'

export const KEY = 'cyc_cluster_acme_0123456789abcdef'
export const ROOT = path.resolve(new URL('../..', import.meta.url).pathname)

export interface ClusterConfig {
  allocated?: number
  overdraft?: number
  low?: string
  medium?: string
  high?: string
  /** on_store_error of the high tier (default: unset, i.e. deny). */
  highOnStoreError?: 'allow' | 'deny'
}

/** A config with one tenant, one budget and tiers: low = search.*, medium = llm.*, high = everything else. */
export function clusterConfig(o: ClusterConfig = {}): string {
  return `
tenants:
  - id: acme
api_keys:
  - tenant: acme
    secret: ${KEY}
budgets:
  - scope: tenant:acme
    unit: USD_MICROCENTS
    allocated: ${o.allocated ?? 10_000}
    overdraft_limit: ${o.overdraft ?? 0}
tiers:
  low:    { mode: ${o.low ?? 'enforce'}, match: ["search.*"] }
  medium: { mode: ${o.medium ?? 'enforce'}, match: ["llm.*"] }
  high:   { mode: ${o.high ?? 'enforce'}, match: ["email.*", "payment.*"]${o.highOnStoreError ? `, on_store_error: ${o.highOnStoreError}` : ''} }
`
}

export async function redisDaemon(url: string, prefix: string, config: string, extra: Parameters<typeof startTestDaemon>[1] = {}): Promise<TestDaemon & {store: RedisStore}> {
  const store = await RedisStore.open({url, prefix})
  const d = await startTestDaemon(config, {store, ...extra})
  return Object.assign(d, {store})
}

export const newPrefix = () => `c${randomUUID().slice(0, 8)}:`

export type RedisDaemon = Awaited<ReturnType<typeof redisDaemon>>

/** A fresh redis-server and two daemons sharing it (one key prefix); stop() ends all three. */
export async function twoRedisDaemons(
  config: string,
  extra: Parameters<typeof startTestDaemon>[1] = {},
): Promise<{redis: RedisServer; a: RedisDaemon; b: RedisDaemon; stop(): Promise<void>}> {
  const redis = await startRedis()
  const prefix = newPrefix()
  const a = await redisDaemon(redis.url, prefix, config, extra)
  const b = await redisDaemon(redis.url, prefix, config, extra)
  return {
    redis,
    a,
    b,
    stop: async () => {
      await a.stop()
      await b.stop()
      await destroyRedis(redis)
    },
  }
}

export interface Reply {
  status: number
  body: any
  headers: http.IncomingHttpHeaders
}

/** One keep-alive agent per test, so many concurrent clients reuse sockets. */
export function client(maxSockets = 64) {
  const agent = new http.Agent({keepAlive: true, maxSockets})
  const request = (base: string, method: string, p: string, body?: unknown, timeoutMs = 15_000): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body)
      const req = http.request(
        base + p,
        {
          method,
          agent,
          timeout: timeoutMs,
          headers: {'X-Cycles-API-Key': KEY, ...(data ? {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data)} : {})},
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c) => chunks.push(c))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString()
            let parsed: unknown
            try {
              parsed = text ? JSON.parse(text) : undefined
            } catch {
              parsed = text
            }
            resolve({status: res.statusCode ?? 0, body: parsed, headers: res.headers})
          })
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error('client timeout')))
      req.on('error', reject)
      if (data) req.write(data)
      req.end()
    })
  return {request, close: () => agent.destroy()}
}

export function reserveBody(kind: string, amount: number, extra: Record<string, unknown> = {}) {
  return {
    idempotency_key: randomUUID(),
    subject: {tenant: 'acme'},
    action: {kind, name: 'x'},
    estimate: {unit: 'USD_MICROCENTS', amount},
    ...extra,
  }
}

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe().catch(() => undefined)
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** The built CLI is needed to run a daemon as a child process (npm test builds first). */
export function requireBuild(): void {
  if (!fs.existsSync(path.join(ROOT, 'dist/commands/daemon/start.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (`npm test` does it) — the kill -9 and overload tests start the built CLI')
  }
}

export interface ChildDaemon {
  proc: ChildProcess
  url: string
  logDir: string
  dir: string
  rssMb(): number
  kill(signal?: NodeJS.Signals): Promise<void>
}

/** `node bin/run.js daemon start --redis URL --port 0` as a child process. */
export async function spawnDaemon(redisUrl: string, config: string): Promise<ChildDaemon> {
  requireBuild()
  const dir = tempDir('cycles-child-')
  const configPath = path.join(dir, 'cycles.yaml')
  fs.writeFileSync(configPath, config)
  const logDir = path.join(dir, 'decisions')
  const env = {...process.env}
  delete env.CYCLES_ADMIN_API_KEY
  const proc = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/run.js'), 'daemon', 'start', '--config', configPath, '--redis', redisUrl, '--port', '0', '--log-dir', logDir, '--state-dir', path.join(dir, 'state'), '--admin-port', '0'],
    {cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe']},
  )
  let out = ''
  proc.stdout!.on('data', (d) => (out += d.toString()))
  proc.stderr!.on('data', (d) => (out += d.toString()))
  const url = await until('the child daemon to listen', 20_000, async () => {
    if (proc.exitCode !== null) throw new Error(`daemon exited ${proc.exitCode}: ${out}`)
    return /listening on (http:\/\/\S+)/.exec(out)?.[1]
  }).catch((error) => {
    proc.kill('SIGKILL')
    throw new Error(`${(error as Error).message}\n${out}`)
  })
  return {
    proc,
    url,
    logDir,
    dir,
    rssMb: () => {
      const status = fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8')
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
    },
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const exited = new Promise<void>((r) => proc.once('exit', () => r()))
      proc.kill(signal)
      await exited
    },
  }
}
