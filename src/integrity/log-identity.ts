// Who writes a decision-log chain: the instance id (one chain per daemon instance, the same across
// restarts) and the Ed25519 key its checkpoints are signed with. Both live in the state directory,
// 0600 (`decision-log-instance`, `decision-log-signing-key.pem`); the key may come from a PEM file
// named in the config or from $CYCLES_LOG_SIGNING_KEY instead. Without a state directory (a daemon
// given an open store) the instance and key last for this run only.
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {type SigningKey, SigningKeyError, generateSigningKey, signingKeyFromPem, signingKeyPem} from './signing.js'

export const SIGNING_KEY_ENV = 'CYCLES_LOG_SIGNING_KEY'
const INSTANCE_FILE = 'decision-log-instance'
const KEY_FILE = 'decision-log-signing-key.pem'

export type KeySource = 'config' | 'env' | 'state' | 'generated' | 'ephemeral'

export interface LogIdentity {
  instanceId: string
  key: SigningKey
  keySource: KeySource
  /** Where the key is kept, when it is a file. */
  keyFile?: string
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
  const instanceId = dir ? persistedInstanceId(path.join(dir, INSTANCE_FILE)) : newInstanceId()
  if (options.keyFile) {
    let pem: string
    try {
      pem = fs.readFileSync(options.keyFile, 'utf8')
    } catch (error) {
      throw new SigningKeyError(`decision_log.signing_key_file ${options.keyFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    return {instanceId, key: signingKeyFromPem(pem, `decision_log.signing_key_file ${options.keyFile}`), keySource: 'config', keyFile: options.keyFile}
  }
  if (options.keyPem) return {instanceId, key: signingKeyFromPem(options.keyPem, `$${SIGNING_KEY_ENV}`), keySource: 'env'}
  if (!dir) return {instanceId, key: generateSigningKey(), keySource: 'ephemeral'}
  const keyFile = path.join(dir, KEY_FILE)
  if (fs.existsSync(keyFile)) return {instanceId, key: signingKeyFromPem(fs.readFileSync(keyFile, 'utf8'), keyFile), keySource: 'state', keyFile}
  const key = generateSigningKey()
  writePrivate(keyFile, signingKeyPem(key))
  return {instanceId, key, keySource: 'generated', keyFile}
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
