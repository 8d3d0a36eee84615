// A real redis-server for tests: installed from Debian's package when missing (the README's test
// command must pass on a fresh machine), started on a free port with a throwaway directory, stopped
// afterwards. A test that cannot get Redis fails with what is missing; it never skips.
import {type ChildProcess, spawn} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {ensureDebianCommand} from './apt.js'

export interface RedisServer {
  url: string
  port: number
  dir: string
  /** Stop the server (SIGTERM, then SIGKILL). */
  stop(): Promise<void>
  /** Start it again on the same port and directory (after stop()). */
  restart(): Promise<void>
  readonly running: boolean
}

/** Path of redis-server, installing Debian's package (apt-get, as root or with sudo -n) if missing. */
export function ensureRedisServer(): string {
  return ensureDebianCommand('redis-server', 'redis-server')
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const {port} = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}

async function waitForPort(port: number, timeoutMs: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${log()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.write('PING\r\n')
        s.once('data', (d) => {
          s.destroy()
          resolve(d.toString().startsWith('+PONG'))
        })
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms: ${log()}`)
}

/** Start a private redis-server. `persistent` turns on the append-only file (for restart tests). */
export async function startRedis(options: {persistent?: boolean} = {}): Promise<RedisServer> {
  const bin = ensureRedisServer()
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cycles-redis-'))
  let proc: ChildProcess | undefined
  let output = ''
  const launch = async () => {
    output = ''
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning']
    args.push('--appendonly', options.persistent ? 'yes' : 'no')
    if (options.persistent) args.push('--appendfsync', 'always')
    proc = spawn(bin, args, {stdio: ['ignore', 'pipe', 'pipe']})
    proc.stdout!.on('data', (d) => (output = (output + d.toString()).slice(-4000)))
    proc.stderr!.on('data', (d) => (output = (output + d.toString()).slice(-4000)))
    await waitForPort(port, 10_000, proc, () => output)
  }
  await launch()
  const stopProc = async () => {
    const p = proc
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill('SIGTERM')
    const timer = setTimeout(() => p.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get running() {
      return proc !== undefined && proc.exitCode === null && proc.signalCode === null
    },
    stop: stopProc,
    restart: async () => {
      await stopProc()
      await launch()
    },
  }
  const cleanup = () => {
    if (server.running) proc?.kill('SIGKILL')
  }
  process.once('exit', cleanup)
  return server
}

/** Stop the server and remove its directory. */
export async function destroyRedis(server: RedisServer | undefined): Promise<void> {
  if (!server) return
  await server.stop()
  fs.rmSync(server.dir, {recursive: true, force: true})
}
