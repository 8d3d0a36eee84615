// A command the tests need from a Debian package (redis-server, chromium): found on PATH, or installed
// with apt-get (as root, or with passwordless sudo) when missing, so the README's test command passes
// on a fresh machine. Parallel test workers are serialised by a lock file. A command that cannot be
// had throws with what to install; a test never skips for it.
import {execFileSync, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export function onPath(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], {encoding: 'utf8'})
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined
}

const found = new Map<string, string>()

/** Path of `command`, installing Debian's `pkg` (apt-get, as root or with sudo -n) if it is missing. */
export function ensureDebianCommand(command: string, pkg: string, timeoutMs = 300_000): string {
  const known = found.get(command)
  if (known) return known
  const already = onPath(command)
  if (already) {
    found.set(command, already)
    return already
  }
  const lock = path.join(os.tmpdir(), `cycles-${pkg}-install.lock`)
  const deadline = Date.now() + timeoutMs
  let fd: number | undefined
  while (fd === undefined) {
    try {
      fd = fs.openSync(lock, 'wx')
    } catch {
      const meanwhile = onPath(command)
      if (meanwhile) {
        found.set(command, meanwhile)
        return meanwhile
      }
      if (Date.now() > deadline) break
      execFileSync('sleep', ['1'])
    }
  }
  try {
    const asRoot = process.getuid?.() === 0
    const sudo = asRoot ? [] : onPath('sudo') ? ['sudo', '-n'] : undefined
    if (sudo && onPath('apt-get')) {
      const env = {...process.env, DEBIAN_FRONTEND: 'noninteractive'}
      const apt = (...args: string[]) => spawnSync(sudo[0] ?? 'apt-get', sudo.length > 0 ? [...sudo.slice(1), 'apt-get', ...args] : args, {env, stdio: 'ignore', timeout: timeoutMs - 60_000})
      if (apt('install', '-y', '-qq', pkg).status !== 0) {
        apt('update', '-qq')
        apt('install', '-y', '-qq', pkg)
      }
    }
  } finally {
    if (fd !== undefined) {
      fs.closeSync(fd)
      fs.rmSync(lock, {force: true})
    }
  }
  const after = onPath(command)
  if (!after) {
    throw new Error(
      `${command} is not installed and could not be installed automatically (needs apt-get as root or passwordless sudo). ` +
        `Install it with \`apt-get install -y ${pkg}\` (Debian/Ubuntu) or put ${command} on PATH, then run the tests again.`,
    )
  }
  found.set(command, after)
  return after
}
