// Webhook runbook flows behind `cycles webhook …`: request bodies from flags, the secret shown once
// (as API keys are), rotation with a secret generated here (whsec_ + 64 hex, as the dashboard does),
// and checking a delivery's signature for people writing a receiver.
import {randomBytes} from 'node:crypto'

import type {AdminClient, WebhookCreated} from '../client/admin-client.js'
import {CliError, EXIT} from '../cli/errors.js'
import {newSigningSecret, signatureOf, signatureValid} from '../webhooks/secrets.js'

const usage = (message: string, suggestions: string[] = []) => new CliError('USAGE', message, {exit: EXIT.USAGE, suggestions})

export interface WebhookFlagValues {
  endpoint?: string
  events?: string
  categories?: string
  'scope-filter'?: string
  name?: string
  description?: string
  header?: string[]
  'max-retries'?: number
  'disable-after'?: number
}

const list = (text: string | undefined) => (text === undefined ? undefined : text.split(',').map((t) => t.trim()).filter(Boolean))

/** The create / update body the flags describe (only what was given). */
export function webhookBody(flags: WebhookFlagValues): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  if (flags.endpoint !== undefined) body.url = flags.endpoint
  if (flags.events !== undefined) body.event_types = list(flags.events)
  if (flags.categories !== undefined) body.event_categories = list(flags.categories)
  if (flags['scope-filter'] !== undefined) body.scope_filter = flags['scope-filter']
  if (flags.name !== undefined) body.name = flags.name
  if (flags.description !== undefined) body.description = flags.description
  if (flags.header?.length) {
    body.headers = Object.fromEntries(
      flags.header.map((h) => {
        const eq = h.indexOf('=')
        if (eq <= 0) throw usage(`--header expects Name=value, got '${h}'`)
        return [h.slice(0, eq).trim(), h.slice(eq + 1)]
      }),
    )
  }
  if (flags['max-retries'] !== undefined) body.retry_policy = {max_retries: flags['max-retries']}
  if (flags['disable-after'] !== undefined) body.disable_after_failures = flags['disable-after']
  return body
}

/** Print a subscription's new signing secret once: stdout (in --json too), the notice on stderr. */
export function showWebhookSecretOnce(created: WebhookCreated, json: boolean, out: (l: string) => void, note: (l: string) => void): void {
  if (json) out(JSON.stringify(created, null, 2))
  else {
    const s = created.subscription
    out(`subscription_id: ${s.subscription_id}`)
    out(`tenant:          ${s.tenant_id}`)
    out(`url:             ${s.url}`)
    out(`events:          ${[...s.event_types, ...(s.event_categories ?? []).map((c) => `${c}.*`)].join(', ')}`)
    out(`signing_secret:  ${created.signing_secret ?? '(not returned by this server)'}`)
  }
  note('This signing secret will not be shown again: give it to the receiver now (the daemon keeps it encrypted and never returns it).')
}

/**
 * Rotate: a new secret generated here, sent with PATCH (the server never echoes it back). Deliveries
 * already being retried are signed with the new secret from now on, so the receiver should accept
 * the old and the new one until they drain.
 */
export async function rotateSecret(admin: AdminClient, id: string, random: (n: number) => Buffer = randomBytes): Promise<WebhookCreated> {
  const secret = newSigningSecret(random)
  const subscription = await admin.updateWebhook(id, {signing_secret: secret})
  return {subscription, signing_secret: secret}
}

export interface VerifyResult {
  valid: boolean
  /** The signature this body would carry with that secret (only when invalid, to compare). */
  expected?: string
}

/** Check an X-Cycles-Signature against the raw body; exit code 8 (a check failed) when it does not match. */
export function verifySignature(body: Buffer, secret: string | undefined, signature: string | undefined): VerifyResult {
  if (!secret) throw usage('--secret is required (the subscription signing secret, whsec_…)')
  if (!signature) throw usage('--signature is required (the X-Cycles-Signature header, sha256=…)')
  if (!/^sha256=[0-9a-f]{64}$/i.test(signature.trim())) throw usage(`--signature must look like sha256=<64 hex>, got '${signature}'`)
  if (body.length === 0) throw usage('no body on stdin: pipe the raw request body, byte for byte (e.g. < body.json)')
  if (signatureValid(body, secret, signature.toLowerCase())) return {valid: true}
  return {valid: false, expected: signatureOf(body, secret)}
}

export function signatureMismatch(): CliError {
  return new CliError('SIGNATURE_INVALID', 'signature does not match this body and secret', {
    exit: EXIT.GATE_FAILED,
    suggestions: ['sign the raw bytes as received (no re-serialised JSON)', 'after a rotation, try the previous secret too'],
  })
}

/** A replay window from --since (or --from / --to), to now by default. */
export function replayWindow(flags: {since?: string; from?: string; to?: string}, nowMs = Date.now()): {from: string; to: string} {
  const from = flags.from ?? flags.since
  if (!from) throw usage('say which window to replay: --since 3h, or --from <date> [--to <date>]')
  const to = flags.to ?? new Date(nowMs).toISOString()
  if (Date.parse(to) < Date.parse(from)) throw usage(`--to (${to}) is before the start of the window (${from})`)
  return {from, to}
}
