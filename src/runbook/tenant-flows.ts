// Tenant runbook flows: what a close touches (shown before acting), and the exact-match gate.
import type {AdminClient, TenantWire} from '../client/admin-client.js'
import type {RuntimeClient} from '../client/runtime-client.js'
import type {CliError} from '../cli/errors.js'
import {requireExactConfirm} from '../cli/confirm.js'
import {checkTenantId} from '../cli/scope-input.js'

export interface BlastRadius {
  active_budgets: number
  frozen_budgets: number
  active_api_keys: number
  /** Undefined when the runtime plane could not be asked. */
  active_reservations?: number
}

export async function closeBlastRadius(admin: AdminClient, runtime: (() => RuntimeClient) | undefined, tenant: string): Promise<BlastRadius> {
  const budgets = await admin.all((cursor) => admin.listBudgets({tenant_id: tenant, limit: 100, cursor}))
  const keys = await admin.all((cursor) => admin.listApiKeys({tenant_id: tenant, status: 'ACTIVE', limit: 100, cursor}))
  let reservations: number | undefined
  if (runtime) {
    try {
      let cursor: string | undefined
      reservations = 0
      do {
        const page = await runtime().listReservations({tenant, status: 'ACTIVE', limit: 100, cursor})
        reservations += page.reservations.length
        cursor = page.has_more ? page.next_cursor : undefined
      } while (cursor)
    } catch (error) {
      void (error as CliError)
      reservations = undefined
    }
  }
  return {
    active_budgets: budgets.filter((b) => b.status === 'ACTIVE').length,
    frozen_budgets: budgets.filter((b) => b.status === 'FROZEN').length,
    active_api_keys: keys.length,
    ...(reservations === undefined ? {} : {active_reservations: reservations}),
  }
}

export interface CloseOutcome {
  before: TenantWire
  blast_radius: BlastRadius
  after: TenantWire
}

/** `--confirm` is checked before any call: a wrong value changes nothing and calls nothing. */
export async function closeTenant(admin: () => AdminClient, runtime: (() => RuntimeClient) | undefined, id: string, confirm: string | undefined, note: (l: string) => void): Promise<CloseOutcome> {
  checkTenantId(id)
  requireExactConfirm(id, confirm, `closing tenant ${id}`)
  const client = admin()
  const before = await client.getTenant(id)
  const blast = await closeBlastRadius(client, runtime, id)
  note(
    `closing tenant ${id} (${before.name}, ${before.status}): ${blast.active_budgets + blast.frozen_budgets} budget(s) → CLOSED, ` +
      `${blast.active_api_keys} API key(s) → REVOKED, ${blast.active_reservations ?? 'unknown number of'} open reservation(s) → RELEASED. This cannot be undone.`,
  )
  const after = await client.updateTenant(id, {status: 'CLOSED'})
  return {before, blast_radius: blast, after}
}
