// Who writes a decision-log chain: the instance id (one chain per daemon instance, the same across
// restarts) and the Ed25519 key its checkpoints are signed with. Both live in the state directory,
// 0600 (`decision-log-instance`, `decision-log-signing-key.pem`); the key may come from a PEM file
// named in the config or from $CYCLES_LOG_SIGNING_KEY instead. Without a state directory (a daemon
// given an open store) the instance and key last for this run only.
//
// The instance is held with a lock file (`decision-log.lock`, the holder's pid): two daemons sharing
// a state directory (possible with --redis, where the store does not lock it) must not write one
// chain. The second gets an instance of its own for that run, and says so.
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {type SigningKey, SigningKeyError, generateSigningKey, signingKeyFromPem, signingKeyPem} from './signing.js'

export const SIGNING_KEY_ENV = 'CYCLES_LOG_SIGNING_KEY'
const INSTANCE_FILE = 'decision-log-instance'
const KEY_FILE = 'decision-log-signing-key.pem'
const LOCK_FILE = 'decision-log.lock'

export type KeySource = 'config' | 'env' | 'state' | 'generated' | 'ephemeral'

export interface LogIdentity {
  instanceId: string
  key: SigningKey
  keySource: KeySource
  /** Where the key is kept, when it is a file. */
  keyFile?: string
  /** Set when the state directory's instance was held by another live daemon: this run's own instance. */
  instanceInUseBy?: number
  /** Give the instance up (at shutdown). */
  release(): void
}

export interface LogIdentityOptions {
  stateDir?: string
  /** PEM text of the private key ($CYCLES_LOG_SIGNING_KEY). */
  keyPem?: string
  /** Config `decision_log.signing_key_file`. */
  keyFile?: string
}

export function loadLogIdentity(options: LogIdentityOptions): LogIdentity {
  const dir = options.stateDir
  if (dir) fs.mkdirSync(dir, {recursive: true, mode: 0o700})
  const holder = dir ? lockInstance(path.join(dir, LOCK_FILE)) : {release: () => {}}
  const instanceId = dir && holder.heldBy === undefined ? persistedInstanceId(path.join(dir, INSTANCE_FILE)) : newInstanceId()
  const base = {instanceId, release: holder.release, ...(holder.heldBy === undefined ? {} : {instanceInUseBy: holder.heldBy})}
  try {
    return {...base, ...loadKey(options, dir)}
  } catch (error) {
    holder.release()
    throw error
  }
}

function loadKey(options: LogIdentityOptions, dir: string | undefined): Pick<LogIdentity, 'key' | 'keySource' | 'keyFile'> {
  if (options.keyFile) {
    let pem: string
    try {
      pem = fs.readFileSync(options.keyFile, 'utf8')
    } catch (error) {
      throw new SigningKeyError(`decision_log.signing_key_file ${options.keyFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    return {key: signingKeyFromPem(pem, `decision_log.signing_key_file ${options.keyFile}`), keySource: 'config', keyFile: options.keyFile}
  }
  if (options.keyPem) return {key: signingKeyFromPem(options.keyPem, `$${SIGNING_KEY_ENV}`), keySource: 'env'}
  if (!dir) return {key: generateSigningKey(), keySource: 'ephemeral'}
  const keyFile = path.join(dir, KEY_FILE)
  if (fs.existsSync(keyFile)) return {key: signingKeyFromPem(fs.readFileSync(keyFile, 'utf8'), keyFile), keySource: 'state', keyFile}
  const key = generateSigningKey()
  writePrivate(keyFile, signingKeyPem(key))
  return {key, keySource: 'generated', keyFile}
}

/** Take the lock file, or say which live process holds it (a dead holder's lock is taken over). */
function lockInstance(file: string): {heldBy?: number; release: () => void} {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600)
      fs.writeSync(fd, `${process.pid}\n`)
      fs.closeSync(fd)
      return {release: () => fs.rmSync(file, {force: true})}
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const pid = Number(fs.readFileSync(file, 'utf8').trim())
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) return {heldBy: pid, release: () => {}}
    fs.rmSync(file, {force: true}) // left by a daemon that died (kill -9)
  }
  return {heldBy: -1, release: () => {}}
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function newInstanceId(): string {
  return randomBytes(3).toString('hex')
}

function persistedInstanceId(file: string): string {
  try {
    const id = fs.readFileSync(file, 'utf8').trim()
    if (/^[0-9a-z]{1,32}$/.test(id)) return id
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const id = newInstanceId()
  writePrivate(file, `${id}\n`)
  return id
}

/** Create a file only this user can read, durably (written to a temporary name, then renamed). */
function writePrivate(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`
  const fd = fs.openSync(tmp, 'w', 0o600)
  try {
    fs.writeSync(fd, text)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
}
