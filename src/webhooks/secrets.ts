// Signing secrets and custom headers at rest: AES-256-GCM with a key from the environment
// (CYCLES_WEBHOOK_SECRET_KEY, 32 bytes as 64 hex characters or base64). Without the key the daemon
// keeps running but refuses to create a webhook or rotate its secret (503 naming the variable), and
// a delivery whose secret cannot be opened fails with that message: secrets never go to the store in
// clear. Every instance sharing a store needs the same key.
import {createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual} from 'node:crypto'

import {ProtocolError} from '../protocol/errors.js'

export const SECRET_KEY_ENV = 'CYCLES_WEBHOOK_SECRET_KEY'
const PREFIX = 'enc:v1:'

export class SecretKeyError extends Error {}

/** Parse the key: 64 hex characters, or base64 of exactly 32 bytes. */
export function parseSecretKey(text: string): Buffer {
  const t = text.trim()
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex')
  const b = Buffer.from(t, 'base64')
  if (b.length === 32 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return b
  throw new SecretKeyError(`${SECRET_KEY_ENV} must be 32 bytes: 64 hex characters (openssl rand -hex 32) or base64`)
}

/** The key from the environment, or undefined when the variable is unset (throws when it is malformed). */
export function secretKeyFromEnv(env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  const v = env[SECRET_KEY_ENV]
  return v === undefined || v === '' ? undefined : parseSecretKey(v)
}

export class SecretBox {
  constructor(private readonly key: Buffer | undefined) {}

  get ready(): boolean {
    return this.key !== undefined
  }

  seal(plain: string): string {
    const key = this.requireKey()
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
    return `${PREFIX}${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${body.toString('base64')}`
  }

  open(sealed: string): string {
    const key = this.requireKey()
    if (!sealed.startsWith(PREFIX)) throw new SecretKeyError('stored secret is not in the enc:v1 format')
    const [iv, tag, body] = sealed.slice(PREFIX.length).split(':')
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'))
      decipher.setAuthTag(Buffer.from(tag, 'base64'))
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8')
    } catch {
      throw new SecretKeyError(`stored secret cannot be decrypted with this ${SECRET_KEY_ENV} (was it changed?)`)
    }
  }

  /** For request handlers: 503 with what to set, instead of an internal error. */
  requireForWrites(): void {
    if (!this.key) {
      throw new ProtocolError('INTERNAL_ERROR', `Webhook secrets cannot be stored: set ${SECRET_KEY_ENV} (32 bytes: openssl rand -hex 32) on every daemon instance and restart`, undefined, 503)
    }
  }

  private requireKey(): Buffer {
    if (!this.key) throw new SecretKeyError(`${SECRET_KEY_ENV} is not set: webhook secrets cannot be sealed or opened`)
    return this.key
  }
}

/** `whsec_` + 64 hex characters (32 random bytes), as the dashboard generates them. */
export const newSigningSecret = (random: (n: number) => Buffer = randomBytes) => `whsec_${random(32).toString('hex')}`

// ---------------------------------------------------------------- signatures (§5.3)

/** `sha256=` + hex HMAC-SHA256 of the raw body bytes with the subscription's secret. */
export function signatureOf(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

/** Constant-time check of an X-Cycles-Signature header against the raw body. */
export function signatureValid(body: string | Buffer, secret: string, header: string | undefined): boolean {
  if (!header) return false
  const expected = Buffer.from(signatureOf(body, secret))
  const given = Buffer.from(header.trim())
  return given.length === expected.length && timingSafeEqual(given, expected)
}
