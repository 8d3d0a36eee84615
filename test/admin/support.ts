// Shared bits of the admin-plane and runbook tests: a config with an admin key, admin calls.
import {ACME_KEY, FIXTURE_CONFIG, call} from '../support/daemon.js'

export const ADMIN_KEY = 'adm_test_0123456789abcdef0123'
export {ACME_KEY}

/** The fixture config plus an admin key and a nearly spent RISK_POINTS budget for an agent. */
export const ADMIN_CONFIG = `${FIXTURE_CONFIG}
admin_key: ${ADMIN_KEY}
`

export function admin(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return call(url, method, path, body, {'X-Admin-API-Key': ADMIN_KEY, ...headers})
}

export function dryRun(url: string, key: string, subject: Record<string, string>, unit: string, amount: number, kind = 'email.send') {
  return call(
    url,
    'POST',
    '/v1/reservations',
    {
      idempotency_key: `dry-${Math.random().toString(36).slice(2)}`,
      subject,
      action: {kind, name: 'test'},
      estimate: {unit, amount},
      dry_run: true,
    },
    {'X-Cycles-API-Key': key},
  )
}
