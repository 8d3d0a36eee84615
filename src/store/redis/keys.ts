// Redis key layout. Ledgers, tenants, reservations and idempotency records follow the reference
// server (cycles-protocol.md §5.1) so a daemon can run beside a reference deployment; the shadow
// book, indexes, audit and control keys are cycles' own and documented in the README.
import type {Book, Unit} from '../../protocol/types.js'

export class KeyLayout {
  constructor(readonly prefix = '') {
    this.ttlKey = `${prefix}reservation:ttl`
    this.allIndexKey = `${prefix}reservation:idx:created_at_ms`
  }

  /** Ledger key strings by book, unit and scope: the hot path asks for the same few keys all the time. */
  private readonly ledgerKeys = {real: new Map<string, Map<string, string>>(), shadow: new Map<string, Map<string, string>>()}
  private ledgerKeyCount = 0

  private readonly ttlKey: string
  private readonly allIndexKey: string
  private readonly tenantIndexKeys = new Map<string, string>()

  /** `budget:{scope_path}:{UNIT}` for the real book, `shadow:budget:{scope_path}:{UNIT}` for the shadow book. */
  ledger(book: Book, scope: string, unit: Unit): string {
    const byUnit = book === 'shadow' ? this.ledgerKeys.shadow : this.ledgerKeys.real
    let byScope = byUnit.get(unit)
    if (!byScope) {
      byScope = new Map()
      byUnit.set(unit, byScope)
    }
    let key = byScope.get(scope)
    if (key === undefined) {
      if (this.ledgerKeyCount >= 100_000) {
        this.ledgerKeys.real.clear()
        this.ledgerKeys.shadow.clear()
        this.ledgerKeyCount = 0
      }
      key = `${this.prefix}${book === 'shadow' ? 'shadow:' : ''}budget:${scope}:${unit}`
      byScope.set(scope, key)
      this.ledgerKeyCount++
    }
    return key
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

  /** Length of a reservation key before the id (the script takes the id from the key). */
  reservationIdAt(): number {
    return this.prefix.length + 'reservation:res_'.length
  }

  /** zset: member reservation id, score expires_at_ms + grace_period_ms (the expiry deadline). */
  reservationTtl(): string {
    return this.ttlKey
  }

  /** zset: member reservation id, score created_at_ms; per tenant, and one across tenants. */
  reservationIndex(tenant?: string): string {
    if (tenant === undefined) return this.allIndexKey
    let key = this.tenantIndexKeys.get(tenant)
    if (key === undefined) {
      if (this.tenantIndexKeys.size >= 10_000) this.tenantIndexKeys.clear()
      key = `${this.prefix}reservation:idx:${tenant}:created_at_ms`
      this.tenantIndexKeys.set(tenant, key)
    }
    return key
  }

  /** `idem:{tenant}:{endpoint}:{key}`: the runtime's idempotency keys already start with tenant and endpoint. */
  idempotency(key: string): string {
    return `${this.prefix}idem:${key}`
  }

  /** Rows of successful writes. */
  audit(): string {
    return `${this.prefix}cycles:audit`
  }

  /** Rows of failed requests: their own list, so they never trim the writes' rows. */
  auditFailures(): string {
    return `${this.prefix}cycles:audit:failed`
  }

  control(): string {
    return `${this.prefix}cycles:control`
  }

  controlChannel(): string {
    return `${this.prefix}cycles:control:changed`
  }

  /** Counter bumped by every write of tenants or API keys, in the same script call as the write. */
  authEpoch(): string {
    return `${this.prefix}cycles:auth:epoch`
  }

  /** Hash of one doc: `v` version, `x` expires_at_ms (when set), `.{field}` the JSON text of each top-level value field. */
  doc(collection: string, id: string): string {
    return `${this.prefix}doc:${escapeCollection(collection)}:${id}`
  }

  /** What every doc key starts with, before `{collection}:{id}` (that rest is the doc's member in docExpiry). */
  docKeyPrefix(): string {
    return `${this.prefix}doc:`
  }

  /** Length of docKeyPrefix(). */
  docMemberAt(): number {
    return this.prefix.length + 'doc:'.length
  }

  /** zset, every score 0: the ids of one collection, for listing in byte order (ZRANGEBYLEX). */
  docIndex(collection: string): string {
    return `${this.prefix}doc-index:${escapeCollection(collection)}`
  }

  /** Prefix of docIndex keys (the sweep script appends the escaped collection). */
  docIndexPrefix(): string {
    return `${this.prefix}doc-index:`
  }

  /** zset: member `{collection}:{id}` (as in the doc key), score expires_at_ms: what the sweep removes when due. */
  docExpiry(): string {
    return `${this.prefix}doc-expiry`
  }

  /** Pub/sub: `t:{tenant}` / `k:{key hash}` when a tenant or API key changes (cache invalidation). */
  invalidationChannel(): string {
    return `${this.prefix}cycles:invalidate`
  }
}

/** A collection name with `%` and `:` escaped, so the first `:` after it in a doc key ends it. */
export function escapeCollection(collection: string): string {
  return collection.includes('%') || collection.includes(':') ? collection.replace(/%/g, '%25').replace(/:/g, '%3A') : collection
}
