// API key operations (src/admin/keys.ts) against an in-memory store with a pinned clock and pinned
// random bytes, so secrets, key ids, list order, cursors and audit rows are exact values.
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {AdminCore, type AdminCtx} from '../../src/admin/context.js'
import {ApiKeyOps} from '../../src/admin/keys.js'
import {ProtocolError} from '../../src/protocol/errors.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import type {Tx} from '../../src/store/types.js'

const T0 = Date.UTC(2026, 0, 1)
const ctx: AdminCtx = {request_id: 'req', trace_id: 't'.repeat(32)}
const DAY = 86_400_000

let store: EmbeddedStore
let now: number
let applied: Tx[]
let nextRandom: (n: number) => Buffer
let ops: ApiKeyOps
let counter: number

/** Key ids key_0000000000000001, key_…02, … in creation order; secrets from the byte sequence 0, 1, 2, … */
function countingBytes(n: number): Buffer {
  if (n === 8) return Buffer.from((++counter).toString(16).padStart(16, '0'), 'hex')
  return Buffer.from(Array.from({length: n}, (_, i) => i % 62))
}

beforeEach(async () => {
  store = await EmbeddedStore.open({now: () => now})
  now = T0
  counter = 0
  applied = []
  nextRandom = countingBytes
  const apply = store.apply.bind(store)
  store.apply = async (tx: Tx) => {
    applied.push(tx)
    return apply(tx)
  }
  ops = new ApiKeyOps(new AdminCore({store, now: () => now, newId: () => 'id', randomBytes: (n) => nextRandom(n)}))
  await store.apply({tenants: [{tenant_id: 'acme', status: 'ACTIVE', created_at_ms: T0}]})
})

afterEach(async () => {
  await store.close()
})

async function create(body: Record<string, unknown>): Promise<string> {
  const result = await ops.create(ctx, {tenant_id: 'acme', name: 'k', ...body})
  now += 1000
  return (result.body as {key_id: string}).key_id
}

async function list(params: Record<string, string>): Promise<{keys: Array<{key_id: string; status: string}>; next_cursor?: string; has_more: boolean}> {
  const result = await ops.list(new URLSearchParams(params))
  return result.body as never
}

async function protocolError(promise: Promise<unknown>): Promise<ProtocolError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(ProtocolError)
  return error as ProtocolError
}

const ids = (page: {keys: Array<{key_id: string}>}) => page.keys.map((k) => k.key_id)

describe('create', () => {
  it('stores the description and metadata it was given', async () => {
    const id = await create({description: 'ci runner', metadata: {team: 'eng'}})
    const stored = await store.getApiKey(id)
    expect(stored?.description).toBe('ci runner')
    expect(stored?.metadata).toStrictEqual({team: 'eng'})
  })

  it('draws the secret by rejection sampling: bytes 248-255 are skipped', async () => {
    nextRandom = (n) => (n === 8 ? Buffer.alloc(8, 1) : Buffer.from([255, 248, ...Array.from({length: n - 2}, (_, i) => i)]))
    const result = await ops.create(ctx, {tenant_id: 'acme', name: 'k'})
    expect((result.body as {key_secret: string}).key_secret).toBe('cyc_live_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef')
  })
})

describe('list', () => {
  it('filters by effective status and by case-insensitive search over key id and name', async () => {
    const a = await create({name: 'Build Bot'})
    const b = await create({name: 'deployer'})
    await ops.revoke(ctx, b, new URLSearchParams())
    expect(ids(await list({status: 'REVOKED'}))).toStrictEqual([b])
    expect(ids(await list({status: 'ACTIVE'}))).toStrictEqual([a])
    expect(ids(await list({search: 'BUILD'}))).toStrictEqual([a])
    expect(ids(await list({search: b.slice(-6).toUpperCase()}))).toStrictEqual([b])
    expect(ids(await list({search: 'KEY_0'}))).toStrictEqual([b, a])
    expect(ids(await list({status: 'ACTIVE', search: 'deploy'}))).toStrictEqual([])
  })

  it('sorts by creation time (newest first by default), expiry and effective status', async () => {
    const first = await create({expires_at: new Date(T0 + 3 * DAY).toISOString()})
    const second = await create({expires_at: new Date(T0 + 1 * DAY).toISOString()})
    const third = await create({expires_at: new Date(T0 + 2 * DAY).toISOString()})
    expect(ids(await list({}))).toStrictEqual([third, second, first])
    expect(ids(await list({sort_by: 'expires_at', sort_dir: 'asc'}))).toStrictEqual([second, third, first])
    await ops.revoke(ctx, first, new URLSearchParams())
    now = T0 + DAY + 1 // `second` has expired (stored status still ACTIVE)
    expect(ids(await list({sort_by: 'status', sort_dir: 'asc'}))).toStrictEqual([third, second, first])
  })

  it('pages with a cursor bound to the filters and sort', async () => {
    const a = await create({})
    const b = await create({})
    const page1 = await list({limit: '1', sort_dir: 'asc'})
    expect(page1.keys.map((k) => k.key_id)).toStrictEqual([a])
    expect(page1.has_more).toBe(true)
    expect(typeof page1.next_cursor).toBe('string')
    const page2 = await list({limit: '1', sort_dir: 'asc', cursor: page1.next_cursor!})
    expect(ids(page2)).toStrictEqual([b])
    expect(page2.has_more).toBe(false)
    const error = await protocolError(list({limit: '1', sort_dir: 'desc', cursor: page1.next_cursor!}))
    expect(error.message).toBe('Validation failed: cursor: does not match these filters or sort; restart without a cursor')
  })
})

describe('update', () => {
  it('audits the names of the changed fields', async () => {
    const id = await create({})
    applied = []
    await ops.update(ctx, id, {name: 'renamed', description: 'x'})
    expect(applied[0].audit?.[0].metadata).toStrictEqual({changed_fields: ['name', 'description']})
  })

  it('refuses an expired key', async () => {
    const id = await create({expires_at: new Date(T0 + DAY).toISOString()})
    now = T0 + DAY
    const error = await protocolError(ops.update(ctx, id, {name: 'late'}))
    expect(error.code).toBe('KEY_EXPIRED')
    expect(error.message).toBe(`API key ${id} has expired`)
  })
})

describe('revoke', () => {
  it('accepts a reason of 512 characters and refuses 513', async () => {
    const id = await create({})
    const error = await protocolError(ops.revoke(ctx, id, new URLSearchParams({reason: 'r'.repeat(513)})))
    expect(error.code).toBe('INVALID_REQUEST')
    expect(error.message).toBe('Validation failed: reason: at most 512 characters')
    const result = await ops.revoke(ctx, id, new URLSearchParams({reason: 'r'.repeat(512)}))
    expect((result.body as {status: string}).status).toBe('REVOKED')
  })

  it('audits the public key prefix and the reason', async () => {
    const id = await create({})
    applied = []
    await ops.revoke(ctx, id, new URLSearchParams({reason: 'leaked'}))
    expect(applied[0].audit?.[0].metadata).toStrictEqual({key_prefix: 'cyc_live_', reason: 'leaked'})
    const other = await create({})
    applied = []
    await ops.revoke(ctx, other, new URLSearchParams())
    expect(applied[0].audit?.[0].metadata).toStrictEqual({key_prefix: 'cyc_live_'})
  })
})

describe('edges the full mutation run found unpinned', () => {
  it('expires_at must be strictly in the future: now is refused, now + 1 s is accepted', async () => {
    const at = (ms: number) => new Date(ms).toISOString()
    const error = await protocolError(ops.create(ctx, {tenant_id: 'acme', name: 'k', expires_at: at(now)}))
    expect([error.code, error.message]).toEqual(['INVALID_REQUEST', 'Validation failed: expires_at: must be in the future'])
    const id = await create({expires_at: at(now + 1000)})
    expect((await store.getApiKey(id))?.expires_at_ms).toBe(T0 + 1000)
  })
  it('a key created without a description stores none (no undefined field)', async () => {
    const id = await create({})
    expect(Object.keys((await store.getApiKey(id))!)).not.toContain('description')
  })
  it('a revoked key cannot be updated: KEY_REVOKED, not a silent change', async () => {
    const id = await create({})
    await ops.revoke(ctx, id, new URLSearchParams())
    const error = await protocolError(ops.update(ctx, id, {name: 'again'}))
    expect(error.code).toBe('KEY_REVOKED')
    expect((await store.getApiKey(id))?.name).toBe('k')
  })
})
