// Redis key layout. Ledgers, tenants, reservations and idempotency records follow the reference
// server (cycles-protocol.md §5.1) so a daemon can run beside a reference deployment; the shadow
// book, indexes, audit and control keys are cycles' own and documented in the README.
import type {Book, Unit} from '../../protocol/types.js'

export class KeyLayout {
  constructor(readonly prefix = '') {}

  /** `budget:{scope_path}:{UNIT}` for the real book, `shadow:budget:{scope_path}:{UNIT}` for the shadow book. */
  ledger(book: Book, scope: string, unit: Unit): string {
    return `${this.prefix}${book === 'shadow' ? 'shadow:' : ''}budget:${scope}:${unit}`
  }

  /** Set of `{scope}|{UNIT}` members: every ledger this store created, per book (for listing). */
  ledgerIndex(book: Book): string {
    return `${this.prefix}${book === 'shadow' ? 'shadow:' : ''}budget:index`
  }

  tenant(id: string): string {
    return `${this.prefix}tenant:${id}`
  }

  tenantIndex(): string {
    return `${this.prefix}tenant:index`
  }

  apiKey(keyId: string): string {
    return `${this.prefix}apikey:${keyId}`
  }

  /** sha256 of the secret → key id. */
  apiKeyHashPrefix(): string {
    return `${this.prefix}apikey:hash:`
  }

  apiKeyIndex(): string {
    return `${this.prefix}apikey:index`
  }

  reservation(id: string): string {
    return `${this.prefix}reservation:res_${id}`
  }

  /** zset: member reservation id, score expires_at_ms + grace_period_ms (the expiry deadline). */
  reservationTtl(): string {
    return `${this.prefix}reservation:ttl`
  }

  /** zset: member reservation id, score created_at_ms; per tenant, and one across tenants. */
  reservationIndex(tenant?: string): string {
    return tenant === undefined ? `${this.prefix}reservation:idx:created_at_ms` : `${this.prefix}reservation:idx:${tenant}:created_at_ms`
  }

  /** `idem:{tenant}:{endpoint}:{key}`: the runtime's idempotency keys already start with tenant and endpoint. */
  idempotency(key: string): string {
    return `${this.prefix}idem:${key}`
  }

  audit(): string {
    return `${this.prefix}cycles:audit`
  }

  control(): string {
    return `${this.prefix}cycles:control`
  }

  controlChannel(): string {
    return `${this.prefix}cycles:control:changed`
  }

  /** Pub/sub: `t:{tenant}` / `k:{key hash}` when a tenant or API key changes (cache invalidation). */
  invalidationChannel(): string {
    return `${this.prefix}cycles:invalidate`
  }
}
