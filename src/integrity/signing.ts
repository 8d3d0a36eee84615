// Ed25519 keys of the decision-log checkpoints (node:crypto only). A public key is written as
// `ed25519:<base64url of the 32 raw bytes>` (the JWK `x`): short enough to print at start, paste into
// `cycles audit verify --public-key` and keep in a runbook.
import crypto, {type KeyObject} from 'node:crypto'
import fs from 'node:fs'

export const PUBLIC_KEY_PREFIX = 'ed25519:'

export interface SigningKey {
  privateKey: KeyObject
  publicKey: KeyObject
  /** `ed25519:<x>` */
  publicText: string
}

export class SigningKeyError extends Error {
  readonly code = 'SIGNING_KEY_INVALID'
  constructor(message: string) {
    super(message)
    this.name = 'SigningKeyError'
  }
}

export function generateSigningKey(): SigningKey {
  const {privateKey, publicKey} = crypto.generateKeyPairSync('ed25519')
  return {privateKey, publicKey, publicText: publicKeyText(publicKey)}
}

export function publicKeyText(key: KeyObject): string {
  return PUBLIC_KEY_PREFIX + (key.export({format: 'jwk'}) as {x: string}).x
}

/** A private key given as PKCS#8 PEM text (what `daemon start` stores and what the environment may hold). */
export function signingKeyFromPem(pem: string, where: string): SigningKey {
  let privateKey: KeyObject
  try {
    privateKey = crypto.createPrivateKey(pem)
  } catch (error) {
    throw new SigningKeyError(`${where}: not a private key in PEM form (${(error as Error).message})`)
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new SigningKeyError(`${where}: an ${privateKey.asymmetricKeyType} key; checkpoints are signed with Ed25519`)
  const publicKey = crypto.createPublicKey(privateKey)
  return {privateKey, publicKey, publicText: publicKeyText(publicKey)}
}

export function signingKeyPem(key: SigningKey): string {
  return key.privateKey.export({format: 'pem', type: 'pkcs8'}) as string
}

/**
 * A public key as the user gives it: `ed25519:<x>`, the bare `<x>`, PEM text, or the path of a PEM
 * file (public or private: a private key's public half is taken).
 */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim()
  const x = trimmed.startsWith(PUBLIC_KEY_PREFIX) ? trimmed.slice(PUBLIC_KEY_PREFIX.length) : trimmed
  if (/^[A-Za-z0-9_-]{43}$/.test(x)) return crypto.createPublicKey({key: {kty: 'OKP', crv: 'Ed25519', x}, format: 'jwk'})
  let pem = trimmed
  if (!trimmed.startsWith('-----BEGIN')) {
    try {
      pem = fs.readFileSync(trimmed, 'utf8')
    } catch {
      throw new SigningKeyError(`not an Ed25519 public key (ed25519:<43 base64url characters>, PEM text or a PEM file): ${trimmed.slice(0, 60)}`)
    }
  }
  try {
    const key = crypto.createPublicKey(pem)
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType} key`)
    return key
  } catch (error) {
    throw new SigningKeyError(`not an Ed25519 public key: ${(error as Error).message}`)
  }
}

export function signText(text: string, key: KeyObject): string {
  return crypto.sign(null, Buffer.from(text), key).toString('base64url')
}

export function verifyText(text: string, signature: string, key: KeyObject): boolean {
  try {
    return crypto.verify(null, Buffer.from(text), key, Buffer.from(signature, 'base64url'))
  } catch {
    return false
  }
}
