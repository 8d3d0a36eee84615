// API keys: create (secret returned once, stored only as its sha256), list, patch, revoke.
// The runtime plane looks keys up by hash on every request, so a revocation is effective at once.
import {sha256Hex} from '../protocol/canonical-json.js'
import {publicKeyPrefix} from './auth.js'
import {ProtocolError} from '../protocol/errors.js'
import {API_KEY_STATUSES, type ApiKey} from '../protocol/types.js'
import {type AdminCore, type AdminCtx, type AdminResult, paginate, sortBy} from './context.js'
import {DEFAULT_PERMISSIONS, apiKeyCreate, apiKeyUpdate, parseBody, queryEnum, queryLimit, querySearch} from './requests.js'
import {apiKeyWire, effectiveKeyStatus, iso} from './wire.js'
import {apiKeyData} from '../events/build.js'

/** Expiry given to keys created without one (the spec recommends 90 days). */
export const DEFAULT_KEY_TTL_MS = 90 * 24 * 3_600_000
const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export class ApiKeyOps {
  constructor(private readonly core: AdminCore) {}

  async create(ctx: AdminCtx, raw: unknown): Promise<AdminResult> {
    const req = parseBody(apiKeyCreate, raw)
    const tenant = await this.core.tenantOrThrow(req.tenant_id)
    if (tenant.status === 'CLOSED') throw new ProtocolError('TENANT_CLOSED', `Tenant ${tenant.tenant_id} is closed`)
    const now = this.core.now()
    const expires = req.expires_at ? Date.parse(req.expires_at) : now + DEFAULT_KEY_TTL_MS
    if (expires <= now) throw new ProtocolError('INVALID_REQUEST', 'Validation failed: expires_at: must be in the future')
    const secret = this.newSecret()
    const key: ApiKey = {
      key_id: `key_${this.core.random(8).toString('hex')}`,
      tenant_id: tenant.tenant_id,
      key_hash: sha256Hex(secret),
      key_prefix: publicKeyPrefix(secret),
      name: req.name,
      ...(req.description !== undefined ? {description: req.description} : {}),
      status: 'ACTIVE',
      permissions: req.permissions ?? [...DEFAULT_PERMISSIONS],
      ...(req.scope_filter ? {scope_filter: req.scope_filter} : {}),
      created_at_ms: now,
      expires_at_ms: expires,
      ...(req.metadata ? {metadata: req.metadata as Record<string, string>} : {}),
    }
    const result = await this.core.store.apply({
      apiKeys: [key],
      // Never the secret or its hash: the audit row names the key and what it may do.
      audit: [this.core.audit(ctx, {tenant_id: key.tenant_id, operation: 'createApiKey', resource_type: 'api_key', resource_id: key.key_id, status: 201, metadata: {name: key.name, key_prefix: key.key_prefix, permissions: key.permissions}})],
    })
    if (!result.ok) throw new ProtocolError('INTERNAL_ERROR', `Store rejected the change (${result.failed})`)
    await this.core.store.flushed()
    this.core.emit(ctx, 'api_key.created', {tenant_id: key.tenant_id, data: apiKeyData(key, undefined)})
    return {
      status: 201,
      body: {
        key_id: key.key_id,
        key_secret: secret,
        key_prefix: key.key_prefix,
        tenant_id: key.tenant_id,
        permissions: key.permissions,
        created_at: iso(now),
        expires_at: iso(expires),
      },
    }
  }

  async list(query: URLSearchParams): Promise<AdminResult> {
    const tenant = query.get('tenant_id') || undefined
    const status = queryEnum(query, 'status', API_KEY_STATUSES)
    const search = querySearch(query)
    const sortKey = queryEnum(query, 'sort_by', ['key_id', 'name', 'tenant_id', 'status', 'created_at', 'expires_at'] as const) ?? 'created_at'
    const dir = queryEnum(query, 'sort_dir', ['asc', 'desc'] as const) ?? 'desc'
    const limit = queryLimit(query)
    const now = this.core.now()
    let keys = (await this.core.store.listApiKeys(tenant)).filter(
      (k) => (!status || effectiveKeyStatus(k, now) === status) && (!search || k.key_id.toLowerCase().includes(search) || (k.name ?? '').toLowerCase().includes(search)),
    )
    const key = (k: ApiKey): string | number => {
      switch (sortKey) {
        case 'created_at':
          return k.created_at_ms
        case 'expires_at':
          return k.expires_at_ms ?? Number.MAX_SAFE_INTEGER
        case 'status':
          return effectiveKeyStatus(k, now)
        default:
          return k[sortKey] ?? ''
      }
    }
    keys = sortBy(sortBy(keys, (k) => k.key_id, 'asc'), key, dir)
    const {page, next_cursor, has_more} = paginate(keys, {r: 'keys', tenant, status, search, sortKey, dir}, query.get('cursor'), limit)
    return {status: 200, body: {keys: page.map((k) => apiKeyWire(k, now)), ...(next_cursor ? {next_cursor} : {}), has_more}}
  }

  async update(ctx: AdminCtx, keyId: string, raw: unknown): Promise<AdminResult> {
    const req = parseBody(apiKeyUpdate, raw)
    const key = await this.mutable(keyId)
    const next: ApiKey = {...key, ...(req as Partial<ApiKey>)}
    const result = await this.core.store.apply({
      apiKeys: [next],
      audit: [this.core.audit(ctx, {tenant_id: key.tenant_id, operation: 'updateApiKey', resource_type: 'api_key', resource_id: keyId, status: 200, metadata: {changed_fields: Object.keys(req)}})],
    })
    if (!result.ok) throw new ProtocolError('INTERNAL_ERROR', `Store rejected the change (${result.failed})`)
    await this.core.store.flushed()
    if ('permissions' in req || 'scope_filter' in req) this.core.emit(ctx, 'api_key.permissions_changed', {tenant_id: key.tenant_id, data: {...apiKeyData(next, key), changed_fields: Object.keys(req)}})
    return {status: 200, body: apiKeyWire(next, this.core.now())}
  }

  async revoke(ctx: AdminCtx, keyId: string, query: URLSearchParams): Promise<AdminResult> {
    const reason = query.get('reason') ?? undefined
    if (reason !== undefined && reason.length > 512) throw new ProtocolError('INVALID_REQUEST', 'Validation failed: reason: at most 512 characters')
    const key = await this.core.store.getApiKey(keyId)
    if (!key) throw new ProtocolError('NOT_FOUND', `API key not found: ${keyId}`)
    if (key.status === 'REVOKED') throw new ProtocolError('KEY_REVOKED', `API key ${keyId} is already revoked`)
    await this.core.guardTenantOpen(key.tenant_id)
    const now = this.core.now()
    const next: ApiKey = {...key, status: 'REVOKED', revoked_at_ms: now, ...(reason ? {revoked_reason: reason} : {})}
    const result = await this.core.store.apply({
      apiKeys: [next],
      audit: [this.core.audit(ctx, {tenant_id: key.tenant_id, operation: 'revokeApiKey', resource_type: 'api_key', resource_id: keyId, status: 200, metadata: {key_prefix: publicKeyPrefix(key.key_prefix), ...(reason ? {reason} : {})}})],
    })
    if (!result.ok) throw new ProtocolError('INTERNAL_ERROR', `Store rejected the change (${result.failed})`)
    await this.core.store.flushed()
    this.core.emit(ctx, 'api_key.revoked', {tenant_id: key.tenant_id, data: {...apiKeyData(next, key), ...(reason ? {reason} : {})}})
    return {status: 200, body: apiKeyWire(next, now)}
  }

  private async mutable(keyId: string): Promise<ApiKey> {
    const key = await this.core.store.getApiKey(keyId)
    if (!key) throw new ProtocolError('NOT_FOUND', `API key not found: ${keyId}`)
    await this.core.guardTenantOpen(key.tenant_id)
    const status = effectiveKeyStatus(key, this.core.now())
    if (status === 'REVOKED') throw new ProtocolError('KEY_REVOKED', `API key ${keyId} is revoked`)
    if (status === 'EXPIRED') throw new ProtocolError('KEY_EXPIRED', `API key ${keyId} has expired`)
    return key
  }

  /** `cyc_live_` + 32 characters from a 62-letter alphabet (rejection sampling, no modulo bias). */
  private newSecret(): string {
    let out = ''
    while (out.length < 32) {
      for (const b of this.core.random(48)) {
        if (b < 248 && out.length < 32) out += SECRET_ALPHABET[b % 62]
      }
    }
    return `cyc_live_${out}`
  }
}
