// The store contract: one suite, run against every Store implementation (store-contract.test.ts
// calls it for the embedded store and for the Redis store on a real redis-server).
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {ApiKey, Book, Ledger, Reservation, Tenant} from '../../src/protocol/types.js'
import type {AuditEntry, OverageCharge, Store, TierControl, Tx} from '../../src/store/types.js'
import {ledgerKey} from '../../src/store/types.js'
import {describeDocContract} from './doc-contract.js'
import {describePostStateContract} from './post-state-contract.js'

/** A fresh store; `now` is the clock of doc expiry (doc-contract.ts). */
export type StoreFactory = (options?: {now?: () => number}) => Promise<Store>

const T = 'tenant:acme'
const W = 'tenant:acme/workspace:prod'
const A = 'tenant:acme/workspace:prod/agent:bot'

export function ledger(scope: string, allocated: number, extra: Partial<Ledger> = {}): Ledger {
  return {
    scope,
    unit: 'USD_MICROCENTS',
    allocated,
    remaining: allocated,
    reserved: 0,
    spent: 0,
    debt: 0,
    overdraft_limit: 0,
    is_over_limit: false,
    status: 'ACTIVE',
    created_at_ms: 1000,
    updated_at_ms: 1000,
    ...extra,
  }
}

export function reservation(id: string, extra: Partial<Reservation> = {}): Reservation {
  return {
    reservation_id: id,
    tenant: 'acme',
    status: 'ACTIVE',
    subject: {tenant: 'acme', workspace: 'prod', agent: 'bot'},
    action: {kind: 'llm.completion', name: 'gpt'},
    reserved: {unit: 'USD_MICROCENTS', amount: 100},
    scope_path: A,
    affected_scopes: [T, W, A],
    real_scopes: [T, W, A],
    shadow_scopes: [T, W, A],
    mode: 'enforce',
    tier: 'medium',
    idempotency_key: `k-${id}`,
    overage_policy: 'ALLOW_IF_AVAILABLE',
    created_at_ms: 10_000,
    expires_at_ms: 70_000,
    ttl_ms: 60_000,
    grace_period_ms: 5000,
    extension_count: 0,
    max_extensions: 10,
    would_decision: 'ALLOW',
    ...extra,
  }
}

/** The embedded store hands back its stored objects, which also carry `book`; compare ledger fields only. */
function plain(l: Ledger | undefined): Ledger | undefined {
  if (!l) return l
  const {book: _book, ...rest} = l as Ledger & {book?: Book}
  return rest
}

const both = (l: Ledger): Array<Ledger & {book: Book}> => [
  {...l, book: 'real'},
  {...l, book: 'shadow'},
]

export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`store contract: ${name}`, () => {
    let store: Store
    beforeEach(async () => {
      store = await factory()
    })
    afterEach(async () => {
      await store.close()
    })

    const seed = async () => {
      const r = await store.apply({createLedgers: [...both(ledger(T, 10_000)), ...both(ledger(W, 5000)), ...both(ledger(A, 1000, {caps: {max_tokens: 64}}))]})
      expect(r.ok).toBe(true)
    }
    const get = async (scope: string, book: Book = 'real') => plain((await store.getLedgers(book, [scope], 'USD_MICROCENTS'))[0])

    it('creates ledgers in both books, reads them back exactly, refuses a duplicate', async () => {
      await seed()
      expect((await store.getLedgers('real', [T, W, A, 'tenant:other'], 'USD_MICROCENTS')).map(plain)).toEqual([
        ledger(T, 10_000),
        ledger(W, 5000),
        ledger(A, 1000, {caps: {max_tokens: 64}}),
        undefined,
      ])
      expect((await store.getLedgers('shadow', [A], 'USD_MICROCENTS')).map(plain)).toEqual([ledger(A, 1000, {caps: {max_tokens: 64}})])
      expect(await store.getLedgers('real', [T], 'TOKENS')).toEqual([undefined])
      const dup = await store.apply({createLedgers: [{...ledger('tenant:new', 5), book: 'real'}, {...ledger(T, 1), book: 'real'}]})
      expect(dup).toMatchObject({ok: false, failed: 'exists'})
      // All or nothing: the first, new ledger was not created either.
      expect(await get('tenant:new')).toBeUndefined()
    })

    it('reports the units present at each scope', async () => {
      await seed()
      await store.apply({createLedgers: [{...ledger(T, 5, {unit: 'TOKENS'}), book: 'real'}]})
      const units = await store.unitsAt('real', [T, W, 'tenant:none'])
      expect(units.map((u) => ({scope: u.scope, units: [...u.units].sort()}))).toEqual([
        {scope: T, units: ['TOKENS', 'USD_MICROCENTS']},
        {scope: W, units: ['USD_MICROCENTS']},
        {scope: 'tenant:none', units: []},
      ])
      expect((await store.unitsAt('shadow', [T]))[0].units).toEqual(['USD_MICROCENTS'])
    })

    it('applies deltas with remaining derived, accumulates several deltas on one ledger, returns post-state', async () => {
      await seed()
      const r = await store.apply({
        deltas: [
          {book: 'real', scope: W, unit: 'USD_MICROCENTS', add: {reserved: 300}},
          {book: 'real', scope: W, unit: 'USD_MICROCENTS', add: {reserved: -100, spent: 100}},
          {book: 'shadow', scope: W, unit: 'USD_MICROCENTS', add: {debt: 7}},
        ],
        returnLedgers: true,
      })
      expect(r.ok).toBe(true)
      const after = await get(W)
      expect(after).toMatchObject({allocated: 5000, reserved: 200, spent: 100, debt: 0, remaining: 4700})
      expect(after!.updated_at_ms).toBeGreaterThan(1000)
      expect(await get(W, 'shadow')).toMatchObject({debt: 7, remaining: 4993})
      if (!r.ok) return
      expect(r.ledgers.get(ledgerKey('real', W, 'USD_MICROCENTS'))).toMatchObject({reserved: 200, spent: 100, remaining: 4700})
      expect(r.ledgers.get(ledgerKey('shadow', W, 'USD_MICROCENTS'))).toMatchObject({debt: 7})
      expect(r.ledgers.size).toBe(2)
    })

    it('sets flags, caps, policy and counters through `set`', async () => {
      await seed()
      const r = await store.apply({
        deltas: [
          {
            book: 'real',
            scope: A,
            unit: 'USD_MICROCENTS',
            set: {is_over_limit: true, status: 'FROZEN', overdraft_limit: 50, caps: {max_tokens: 8}, commit_overage_policy: 'REJECT', allocated: 2000},
            add: {spent: 10},
          },
        ],
      })
      expect(r.ok).toBe(true)
      expect(await get(A)).toMatchObject({
        is_over_limit: true,
        status: 'FROZEN',
        overdraft_limit: 50,
        caps: {max_tokens: 8},
        commit_overage_policy: 'REJECT',
        allocated: 2000,
        spent: 10,
        remaining: 1990,
      })
      await store.apply({deltas: [{book: 'real', scope: A, unit: 'USD_MICROCENTS', set: {is_over_limit: false, status: 'ACTIVE'}}]})
      expect(await get(A)).toMatchObject({is_over_limit: false, status: 'ACTIVE'})
    })

    it('checks every condition kind; a missing ledger fails; a failed transaction writes nothing', async () => {
      await seed()
      await store.apply({deltas: [{book: 'real', scope: W, unit: 'USD_MICROCENTS', add: {reserved: 1000}}]})
      const holds: Tx['conditions'] = [
        {scope: W, unit: 'USD_MICROCENTS', field: 'remaining', op: 'gte', value: 4000},
        {scope: W, unit: 'USD_MICROCENTS', field: 'remaining', op: 'lte', value: 4000},
        {scope: W, unit: 'USD_MICROCENTS', field: 'reserved', op: 'eq', value: 1000},
        {scope: W, unit: 'USD_MICROCENTS', field: 'status', op: 'eq', value: 'ACTIVE'},
        {scope: W, unit: 'USD_MICROCENTS', field: 'is_over_limit', op: 'eq', value: false},
        {scope: W, unit: 'USD_MICROCENTS', field: 'debt', op: 'lte', value: 0},
        {book: 'shadow', scope: W, unit: 'USD_MICROCENTS', field: 'remaining', op: 'eq', value: 5000},
      ]
      expect((await store.apply({conditions: holds})).ok).toBe(true)
      const failing: Array<Tx['conditions']> = [
        [{scope: W, unit: 'USD_MICROCENTS', field: 'remaining', op: 'gte', value: 4001}],
        [{scope: W, unit: 'USD_MICROCENTS', field: 'remaining', op: 'lte', value: 3999}],
        [{scope: W, unit: 'USD_MICROCENTS', field: 'status', op: 'eq', value: 'FROZEN'}],
        [{scope: W, unit: 'USD_MICROCENTS', field: 'is_over_limit', op: 'eq', value: true}],
        [{scope: W, unit: 'USD_MICROCENTS', field: 'status', op: 'gte', value: 1}],
        [{scope: W, unit: 'USD_MICROCENTS', field: 'reserved', op: 'eq', value: '1000'}],
        [{scope: 'tenant:missing', unit: 'USD_MICROCENTS', field: 'remaining', op: 'gte', value: 0}],
        [{scope: W, unit: 'TOKENS', field: 'remaining', op: 'gte', value: 0}],
      ]
      for (const conditions of failing) {
        const r = await store.apply({
          conditions: [...holds, ...conditions!],
          deltas: [{book: 'real', scope: W, unit: 'USD_MICROCENTS', add: {reserved: 1}}],
          reservation: {value: reservation('never'), expectStatus: 'absent'},
          idempotency: {key: 'acme:reserve:never', record: {hash: 'h', status: 200, body: '{}'}, ttl_ms: 60_000},
          tenants: [{tenant_id: 'never', status: 'ACTIVE'}],
          audit: [{log_id: 'never', timestamp_ms: 1, operation: 'x', status: 200}],
        })
        expect(r, JSON.stringify(conditions)).toMatchObject({ok: false, failed: 'condition'})
      }
      expect(await get(W)).toMatchObject({reserved: 1000, remaining: 4000})
      expect(await store.getReservation('never')).toBeUndefined()
      expect(await store.getIdempotency('acme:reserve:never')).toBeUndefined()
      expect(await store.getTenant('never')).toBeUndefined()
      expect((await store.listAudit({})).entries).toEqual([])
    })

    it('fails a delta on a missing ledger and on overflow, writing nothing', async () => {
      await seed()
      const missing = await store.apply({
        deltas: [
          {book: 'real', scope: T, unit: 'USD_MICROCENTS', add: {reserved: 5}},
          {book: 'real', scope: 'tenant:nobody', unit: 'USD_MICROCENTS', add: {reserved: 5}},
        ],
      })
      expect(missing).toMatchObject({ok: false, failed: 'missing'})
      const overflow = await store.apply({
        deltas: [
          {book: 'real', scope: T, unit: 'USD_MICROCENTS', add: {reserved: 5}},
          {book: 'real', scope: W, unit: 'USD_MICROCENTS', add: {allocated: Number.MAX_SAFE_INTEGER}},
        ],
      })
      expect(overflow).toMatchObject({ok: false, failed: 'overflow'})
      const negative = await store.apply({deltas: [{book: 'real', scope: W, unit: 'USD_MICROCENTS', add: {spent: Number.MAX_SAFE_INTEGER}, set: {allocated: -100}}]})
      expect(negative).toMatchObject({ok: false, failed: 'overflow'})
      expect(await get(T)).toEqual(ledger(T, 10_000))
      expect(await get(W)).toEqual(ledger(W, 5000))
      // The largest safe values are exact.
      const big = await store.apply({deltas: [{book: 'real', scope: W, unit: 'USD_MICROCENTS', add: {allocated: Number.MAX_SAFE_INTEGER - 5000}}]})
      expect(big.ok).toBe(true)
      expect(await get(W)).toMatchObject({allocated: Number.MAX_SAFE_INTEGER, remaining: Number.MAX_SAFE_INTEGER})
    })

    it('guards reservations by status and round-trips them exactly', async () => {
      const r1 = reservation('r1', {metadata: {run_id: 'x', n: 1}})
      expect((await store.apply({reservation: {value: r1, expectStatus: 'absent'}})).ok).toBe(true)
      expect(await store.getReservation('r1')).toEqual(r1)
      expect(await store.apply({reservation: {value: r1, expectStatus: 'absent'}})).toMatchObject({ok: false, failed: 'reservation', detail: 'ACTIVE'})
      const committed: Reservation = {
        ...r1,
        status: 'COMMITTED',
        finalized_at_ms: 20_000,
        committed: {unit: 'USD_MICROCENTS', amount: 80},
        committed_actual: 80,
        finalize: {endpoint: 'commit', key: 'c1', hash: 'h', status: 200, body: '{"status":"COMMITTED"}'},
      }
      expect((await store.apply({reservation: {value: committed, expectStatus: 'ACTIVE'}})).ok).toBe(true)
      expect(await store.apply({reservation: {value: {...r1, status: 'RELEASED'}, expectStatus: 'ACTIVE'}})).toMatchObject({
        ok: false,
        failed: 'reservation',
        detail: 'COMMITTED',
      })
      expect(await store.getReservation('r1')).toEqual(committed)
      expect(await store.apply({reservation: {value: reservation('r2'), expectStatus: 'ACTIVE'}})).toMatchObject({ok: false, failed: 'reservation', detail: 'absent'})
      // Without expectStatus it is a plain upsert.
      expect((await store.apply({reservation: {value: reservation('r3')}})).ok).toBe(true)
      expect((await store.apply({reservation: {value: reservation('r3', {extension_count: 1})}})).ok).toBe(true)
      expect((await store.getReservation('r3'))!.extension_count).toBe(1)
    })

    it('sets idempotency records once, until they expire', async () => {
      const record = {hash: 'abc', status: 200, body: '{"decision":"ALLOW"}', reservation_id: 'r1', expires_at_ms: 5}
      await seed()
      expect((await store.apply({idempotency: {key: 'acme:reserve:k1', record, ttl_ms: 150}})).ok).toBe(true)
      expect(await store.getIdempotency('acme:reserve:k1')).toEqual(record)
      const again = await store.apply({
        deltas: [{book: 'real', scope: T, unit: 'USD_MICROCENTS', add: {reserved: 5}}],
        idempotency: {key: 'acme:reserve:k1', record: {...record, hash: 'other'}, ttl_ms: 60_000},
      })
      expect(again).toMatchObject({ok: false, failed: 'idempotency'})
      expect(await get(T)).toEqual(ledger(T, 10_000))
      await new Promise((r) => setTimeout(r, 250))
      expect(await store.getIdempotency('acme:reserve:k1')).toBeUndefined()
      expect((await store.apply({idempotency: {key: 'acme:reserve:k1', record: {...record, hash: 'new'}, ttl_ms: 60_000}})).ok).toBe(true)
      expect((await store.getIdempotency('acme:reserve:k1'))!.hash).toBe('new')
    })

    it('upserts tenants and API keys; lookup by hash follows a key change', async () => {
      const acme: Tenant = {tenant_id: 'acme', name: 'Acme', status: 'ACTIVE', created_at_ms: 1}
      const globex: Tenant = {tenant_id: 'globex', status: 'ACTIVE', max_reservation_ttl_ms: 5000}
      const key: ApiKey = {key_id: 'key_1', tenant_id: 'acme', key_hash: 'h1', key_prefix: 'cyc_', status: 'ACTIVE', permissions: ['reservations:create'], created_at_ms: 1}
      const key2: ApiKey = {...key, key_id: 'key_2', tenant_id: 'globex', key_hash: 'h2', created_at_ms: 2}
      expect((await store.apply({tenants: [acme, globex], apiKeys: [key, key2]})).ok).toBe(true)
      expect(await store.getTenant('acme')).toEqual(acme)
      expect(await store.getTenant('nobody')).toBeUndefined()
      expect((await store.listTenants()).sort((a, b) => a.tenant_id.localeCompare(b.tenant_id))).toEqual([acme, globex])
      expect(await store.getApiKey('key_1')).toEqual(key)
      expect(await store.findApiKeyByHash('h1')).toEqual(key)
      expect(await store.findApiKeyByHash('nope')).toBeUndefined()
      expect(await store.findApiKeyWithTenant('h2')).toEqual({key: key2, tenant: globex})
      expect(await store.findApiKeyWithTenant('nope')).toEqual({})
      expect(await store.listApiKeys('globex')).toEqual([key2])
      expect((await store.listApiKeys()).map((k) => k.key_id).sort()).toEqual(['key_1', 'key_2'])
      // Revocation and a rotated hash are visible at once.
      const revoked: ApiKey = {...key, status: 'REVOKED', revoked_at_ms: 5}
      await store.apply({apiKeys: [revoked], tenants: [{...acme, status: 'SUSPENDED'}]})
      expect(await store.findApiKeyByHash('h1')).toEqual(revoked)
      expect((await store.getTenant('acme'))!.status).toBe('SUSPENDED')
      expect(await store.findApiKeyWithTenant('h1')).toEqual({key: revoked, tenant: {...acme, status: 'SUSPENDED'}})
      await store.apply({apiKeys: [{...revoked, key_hash: 'h1b'}]})
      expect(await store.findApiKeyByHash('h1')).toBeUndefined()
      expect((await store.findApiKeyByHash('h1b'))!.key_id).toBe('key_1')
    })

    it('lists ledgers per book with tenant, prefix, segment and unit filters, sorted', async () => {
      await seed()
      await store.apply({
        createLedgers: [
          {...ledger(T, 5, {unit: 'TOKENS'}), book: 'real'},
          {...ledger('tenant:globex', 5), book: 'real'},
          {...ledger('tenant:acme/workspace:dev', 5), book: 'shadow'},
        ],
      })
      const scopes = (ls: Ledger[]) => ls.map((l) => `${l.scope} ${l.unit}`)
      expect(scopes(await store.listLedgers('real'))).toEqual([
        `${T} TOKENS`,
        `${T} USD_MICROCENTS`,
        `${W} USD_MICROCENTS`,
        `${A} USD_MICROCENTS`,
        'tenant:globex USD_MICROCENTS',
      ])
      expect(scopes(await store.listLedgers('real', {tenant: 'acme', unit: 'USD_MICROCENTS'}))).toEqual([`${T} USD_MICROCENTS`, `${W} USD_MICROCENTS`, `${A} USD_MICROCENTS`])
      expect(scopes(await store.listLedgers('real', {scopePrefix: W}))).toEqual([`${W} USD_MICROCENTS`, `${A} USD_MICROCENTS`])
      expect(scopes(await store.listLedgers('real', {segments: ['agent:bot']}))).toEqual([`${A} USD_MICROCENTS`])
      expect(scopes(await store.listLedgers('shadow', {segments: ['workspace:dev']}))).toEqual(['tenant:acme/workspace:dev USD_MICROCENTS'])
      expect(plain((await store.listLedgers('real', {tenant: 'acme'}))[1])).toEqual(ledger(T, 10_000))
    })

    it('lists reservations newest first with filters, and pages through ties exactly once', async () => {
      const all: Reservation[] = []
      for (let i = 0; i < 23; i++) {
        all.push(
          reservation(`r${String(i).padStart(2, '0')}`, {
            created_at_ms: 1000 + Math.floor(i / 4), // groups of equal timestamps
            status: i % 3 === 0 ? 'COMMITTED' : 'ACTIVE',
            tenant: i % 5 === 0 ? 'globex' : 'acme',
            ...(i % 7 === 0 ? {scope_path: 'tenant:acme/workspace:dev', subject: {tenant: 'acme', workspace: 'dev'}} : {}),
          }),
        )
      }
      // Insert in a scrambled order.
      for (const r of [...all].sort((a, b) => (a.reservation_id.charCodeAt(2) * 7) % 11 - (b.reservation_id.charCodeAt(2) * 7) % 11)) {
        expect((await store.apply({reservation: {value: r}})).ok).toBe(true)
      }
      const expected = (f: (r: Reservation) => boolean) =>
        all.filter(f).sort((a, b) => b.created_at_ms - a.created_at_ms || a.reservation_id.localeCompare(b.reservation_id)).map((r) => r.reservation_id)
      const pageAll = async (filter: Parameters<Store['listReservations']>[0]) => {
        const ids: string[] = []
        let cursor: string | undefined
        for (let guard = 0; guard < 50; guard++) {
          const page = await store.listReservations({...filter, cursor})
          ids.push(...page.reservations.map((r) => r.reservation_id))
          cursor = page.next_cursor
          if (!cursor) break
        }
        return ids
      }
      expect(await pageAll({tenant: 'acme', limit: 3})).toEqual(expected((r) => r.tenant === 'acme'))
      expect(await pageAll({limit: 4})).toEqual(expected(() => true))
      expect(await pageAll({tenant: 'acme', status: 'ACTIVE', limit: 2})).toEqual(expected((r) => r.tenant === 'acme' && r.status === 'ACTIVE'))
      expect(await pageAll({tenant: 'acme', scopeSegments: ['workspace:dev']})).toEqual(expected((r) => r.tenant === 'acme' && r.scope_path.includes('workspace:dev')))
      expect(await pageAll({tenant: 'acme', idempotency_key: 'k-r01'})).toEqual(['r01'])
      const first = await store.listReservations({tenant: 'acme', limit: 50})
      expect(first.next_cursor).toBeUndefined()
      expect(first.reservations[0]).toEqual(all.find((r) => r.reservation_id === first.reservations[0].reservation_id))
    })

    it('finds reservations due for expiry: ACTIVE and past expires_at + grace', async () => {
      await store.apply({reservation: {value: reservation('due1', {expires_at_ms: 1000, grace_period_ms: 500})}})
      await store.apply({reservation: {value: reservation('due2', {expires_at_ms: 1200, grace_period_ms: 0})}})
      await store.apply({reservation: {value: reservation('grace', {expires_at_ms: 1800, grace_period_ms: 500})}})
      await store.apply({reservation: {value: reservation('done', {expires_at_ms: 1000, grace_period_ms: 0, status: 'RELEASED', finalized_at_ms: 1100})}})
      await store.apply({reservation: {value: reservation('later', {expires_at_ms: 5000})}})
      expect((await store.dueForExpiry(2000, 100)).map((r) => r.reservation_id).sort()).toEqual(['due1', 'due2'])
      expect(await store.dueForExpiry(2000, 1)).toHaveLength(1)
      // Extending moves the deadline; finishing takes it off the list.
      await store.apply({reservation: {value: reservation('due1', {expires_at_ms: 9000, grace_period_ms: 500, extension_count: 1}), expectStatus: 'ACTIVE'}})
      await store.apply({reservation: {value: reservation('due2', {expires_at_ms: 1200, grace_period_ms: 0, status: 'EXPIRED', finalized_at_ms: 2000}), expectStatus: 'ACTIVE'}})
      expect(await store.dueForExpiry(2000, 100)).toEqual([])
      expect((await store.dueForExpiry(2301, 100)).map((r) => r.reservation_id)).toEqual(['grace'])
    })

    it('appends audit entries and lists them newest first with filters and cursors', async () => {
      const entries: AuditEntry[] = []
      for (let i = 0; i < 12; i++) {
        entries.push({log_id: `a${i}`, timestamp_ms: 100 + i, tenant_id: i % 2 ? 'acme' : 'globex', operation: i % 3 ? 'fund' : 'killswitch.engage', status: i === 5 ? 409 : 200, metadata: {reason: `r${i}`}})
      }
      await store.apply({audit: entries.slice(0, 5)})
      await store.apply({audit: entries.slice(5)})
      const page1 = await store.listAudit({limit: 5})
      expect(page1.entries.map((e) => e.log_id)).toEqual(['a11', 'a10', 'a9', 'a8', 'a7'])
      const page2 = await store.listAudit({limit: 5, cursor: page1.next_cursor})
      expect(page2.entries.map((e) => e.log_id)).toEqual(['a6', 'a5', 'a4', 'a3', 'a2'])
      const page3 = await store.listAudit({limit: 5, cursor: page2.next_cursor})
      expect(page3.entries.map((e) => e.log_id)).toEqual(['a1', 'a0'])
      expect(page3.next_cursor).toBeUndefined()
      expect((await store.listAudit({tenant_id: 'acme', operation: 'fund'})).entries.map((e) => e.log_id)).toEqual(['a11', 'a7', 'a5', 'a1'])
      expect((await store.listAudit({status: 409})).entries).toEqual([entries[5]])
      expect((await store.listAudit({from_ms: 103, to_ms: 104})).entries.map((e) => e.log_id)).toEqual(['a4', 'a3'])
    })

    it('stores the control record', async () => {
      expect(await store.getControl()).toBeUndefined()
      const control: TierControl = {tiers: {low: 'enforce', medium: 'shadow', high: 'enforce'}, killswitch: {engaged: true, reason: 'incident', actor: 'ops', changed_at_ms: 5}, version: 3}
      expect((await store.apply({control})).ok).toBe(true)
      expect(await store.getControl()).toEqual(control)
    })

    it('never over-admits under concurrent guarded holds on one budget', async () => {
      await seed()
      // 60 concurrent attempts to hold 100 on a 1000 budget, each retried on a condition failure
      // the way the runtime does: exactly 10 succeed, remaining never goes below zero.
      const attempt = async (i: number): Promise<boolean> => {
        for (let tries = 0; tries < 100; tries++) {
          const [l] = await store.getLedgers('real', [A], 'USD_MICROCENTS')
          if (l!.remaining < 100) return false
          const r = await store.apply({
            conditions: [{scope: A, unit: 'USD_MICROCENTS', field: 'remaining', op: 'gte', value: 100}],
            deltas: [{book: 'real', scope: A, unit: 'USD_MICROCENTS', add: {reserved: 100}}],
            reservation: {value: reservation(`c${i}`), expectStatus: 'absent'},
          })
          if (r.ok) return true
        }
        return false
      }
      const results = await Promise.all(Array.from({length: 60}, (_, i) => attempt(i)))
      expect(results.filter(Boolean)).toHaveLength(10)
      expect(await get(A)).toMatchObject({reserved: 1000, remaining: 0})
    })

    it('applies transactions submitted together in order, each all-or-nothing on its own', async () => {
      await seed()
      const U = 'USD_MICROCENTS' as const
      const hold = (id: string, amount: number, extra: Partial<Tx> = {}): Tx => ({
        conditions: [{scope: A, unit: U, field: 'remaining', op: 'gte', value: amount}],
        deltas: [
          {book: 'real', scope: A, unit: U, add: {reserved: amount}},
          {book: 'real', scope: W, unit: U, add: {reserved: amount}},
        ],
        reservation: {value: reservation(id, {reserved: {unit: U, amount}}), expectStatus: 'absent'},
        idempotency: {key: `acme:reserve:${id}`, record: {hash: id, status: 200, body: `{"id":"${id}"}`}, ttl_ms: 60_000},
        ...extra,
      })
      const committed = {...reservation('g1', {reserved: {unit: U, amount: 600}}), status: 'COMMITTED' as const, finalized_at_ms: 20_000}
      // All submitted in one turn: the Redis store sends them in one group commit.
      const results = await Promise.all([
        store.apply(hold('g1', 600)),
        // Sees g1's hold: 400 left on A, so 600 fails and writes nothing (not its reservation, not its key).
        store.apply(hold('g2', 600)),
        // The same idempotency key as g1.
        store.apply({...hold('g3', 1), idempotency: {key: 'acme:reserve:g1', record: {hash: 'x', status: 200, body: '{}'}, ttl_ms: 60_000}}),
        store.apply(hold('g4', 400)),
        // A transition guarded on g1 being ACTIVE: sees g1's creation.
        store.apply({
          conditions: [{scope: A, unit: U, field: 'reserved', op: 'eq', value: 1000}],
          deltas: [
            {book: 'real', scope: A, unit: U, add: {reserved: -600, spent: 500}},
            {book: 'real', scope: W, unit: U, add: {reserved: -600, spent: 500}},
          ],
          reservation: {value: committed, expectStatus: 'ACTIVE'},
        }),
        // A second commit of g1 fails on the guard: g1 is COMMITTED by now.
        store.apply({deltas: [{book: 'real', scope: A, unit: U, add: {reserved: -600}}], reservation: {value: committed, expectStatus: 'ACTIVE'}}),
        // Missing ledger and overflow: nothing written, including the first delta's counters.
        store.apply({
          deltas: [
            {book: 'real', scope: A, unit: U, add: {debt: 1}},
            {book: 'real', scope: 'tenant:nobody', unit: U, add: {reserved: 5}},
          ],
          audit: [{log_id: 'g-missing', timestamp_ms: 1, operation: 'x', status: 200}],
        }),
        store.apply({
          deltas: [
            {book: 'real', scope: A, unit: U, add: {debt: 1}},
            {book: 'real', scope: W, unit: U, add: {allocated: Number.MAX_SAFE_INTEGER}},
          ],
        }),
        // A ledger created in the batch is there for the next transaction.
        store.apply({createLedgers: [{...ledger('tenant:g', 50), book: 'real'}]}),
        store.apply({
          conditions: [{scope: 'tenant:g', unit: U, field: 'remaining', op: 'eq', value: 50}],
          deltas: [{book: 'real', scope: 'tenant:g', unit: U, add: {spent: 20}}],
        }),
        // Post-state reflects every transaction before it.
        store.apply({deltas: [{book: 'shadow', scope: A, unit: U, add: {reserved: 1}}, {book: 'real', scope: W, unit: U, add: {debt: 3}}], returnLedgers: true}),
        // Both g1's idempotency key and g1's reservation exist: the idempotency failure is reported
        // (checks run in the order conditions, idempotency, reservation, ...).
        store.apply({...hold('g1', 1), conditions: []}),
        // A missing ledger with a fresh idempotency key: nothing written, the key stays free.
        store.apply({...hold('g5', 1), deltas: [{book: 'real', scope: 'tenant:nobody', unit: U, add: {reserved: 1}}]}),
      ])
      expect(results.map((r) => (r.ok ? 'ok' : r.failed))).toEqual([
        'ok',
        'condition',
        'idempotency',
        'ok',
        'ok',
        'reservation',
        'missing',
        'overflow',
        'ok',
        'ok',
        'ok',
        'idempotency',
        'missing',
      ])
      expect(await get(A)).toMatchObject({reserved: 400, spent: 500, debt: 0, remaining: 100})
      expect(await get(W)).toMatchObject({allocated: 5000, reserved: 400, spent: 500, debt: 3, remaining: 4097})
      expect(await get(A, 'shadow')).toMatchObject({reserved: 1, remaining: 999})
      expect(await get('tenant:g')).toMatchObject({spent: 20, remaining: 30})
      const last = results[10]
      expect(last.ok).toBe(true)
      if (last.ok) {
        expect(last.ledgers.get(ledgerKey('real', W, U))).toMatchObject({reserved: 400, spent: 500, debt: 3, remaining: 4097})
        expect(last.ledgers.get(ledgerKey('shadow', A, U))).toMatchObject({reserved: 1})
      }
      expect(await store.getReservation('g1')).toEqual(committed)
      expect(await store.getReservation('g2')).toBeUndefined()
      expect(await store.getReservation('g3')).toBeUndefined()
      expect((await store.getReservation('g4'))?.status).toBe('ACTIVE')
      expect(await store.getIdempotency('acme:reserve:g1')).toMatchObject({hash: 'g1'})
      expect(await store.getIdempotency('acme:reserve:g2')).toBeUndefined()
      expect(await store.getIdempotency('acme:reserve:g3')).toBeUndefined()
      expect(await store.getIdempotency('acme:reserve:g5')).toBeUndefined()
      expect(await store.getReservation('g5')).toBeUndefined()
      expect((await store.listAudit({})).entries).toEqual([])
    })

    describe('overage charges (settled at the write)', () => {
      const U = 'USD_MICROCENTS' as const
      const charge = (over: number, extra: Partial<OverageCharge> = {}): OverageCharge => ({
        book: 'real',
        unit: U,
        ledgers: [
          {scope: T, debt: false},
          {scope: A, debt: false},
        ],
        estimate: 100,
        over,
        onLimit: 'fail',
        ...extra,
      })
      /** T: 10,000 with 100 held; A: as given, with 100 held. */
      const seedHeld = async (a: Partial<Ledger>) => {
        const leaf = {...ledger(A, 1000), reserved: 100, ...a}
        leaf.remaining = leaf.allocated - leaf.spent - leaf.reserved - leaf.debt
        const r = await store.apply({createLedgers: [{...ledger(T, 10_000), reserved: 100, remaining: 9900, book: 'real'}, {...leaf, book: 'real'}]})
        expect(r.ok).toBe(true)
      }

      it('charges an overage exactly equal to remaining in full, without the over-limit flag', async () => {
        await seedHeld({spent: 800}) // A remaining 100
        const r = await store.apply({overage: [charge(100)]})
        expect(r).toMatchObject({ok: true, overage: [{extra: 100}]})
        expect(await get(A)).toMatchObject({reserved: 0, spent: 1000, remaining: 0, debt: 0, is_over_limit: false})
        expect(await get(T)).toMatchObject({reserved: 0, spent: 200, remaining: 9800, is_over_limit: false})
      })

      it('caps the extra at the smallest remaining and flags only the short ledger', async () => {
        await seedHeld({spent: 800})
        const r = await store.apply({overage: [charge(101)]})
        expect(r).toMatchObject({ok: true, overage: [{extra: 100}]})
        expect(await get(A)).toMatchObject({reserved: 0, spent: 1000, remaining: 0, is_over_limit: true})
        expect(await get(T)).toMatchObject({reserved: 0, spent: 200, remaining: 9800, is_over_limit: false})
      })

      it('refuses a different extra than the one expected, writing nothing', async () => {
        await seedHeld({spent: 800})
        const r = await store.apply({
          overage: [charge(150, {expectExtra: 150})],
          reservation: {value: reservation('x1'), expectStatus: 'absent'},
        })
        expect(r).toEqual({ok: false, failed: 'settlement', detail: '100'})
        expect(await get(A)).toMatchObject({reserved: 100, spent: 800, remaining: 100})
        expect(await store.getReservation('x1')).toBeUndefined()
        expect(await store.apply({overage: [charge(150, {expectExtra: 100})]})).toMatchObject({ok: true, overage: [{extra: 100}]})
      })

      it('turns the shortfall into debt landing exactly on the overdraft limit', async () => {
        await seedHeld({spent: 850, overdraft_limit: 70}) // A remaining 50
        const debtCharge = charge(120, {ledgers: [{scope: T, debt: false}, {scope: A, debt: true}]})
        const r = await store.apply({overage: [debtCharge]})
        expect(r).toMatchObject({ok: true, overage: [{extra: 120}]})
        expect(await get(A)).toMatchObject({reserved: 0, spent: 1000, debt: 70, remaining: -70, is_over_limit: false})
        expect(await get(T)).toMatchObject({reserved: 0, spent: 220, remaining: 9780})
      })

      it('one unit past the overdraft limit fails the write, or with onLimit release only releases the hold', async () => {
        await seedHeld({spent: 850, overdraft_limit: 70})
        const debtCharge = charge(121, {ledgers: [{scope: T, debt: false}, {scope: A, debt: true}]})
        expect(await store.apply({overage: [debtCharge]})).toEqual({ok: false, failed: 'overdraft', detail: A})
        expect(await get(A)).toMatchObject({reserved: 100, spent: 850, debt: 0})
        const released = await store.apply({overage: [{...debtCharge, onLimit: 'release'}]})
        expect(released).toMatchObject({ok: true, overage: [{extra: 121, limitScope: A}]})
        expect(await get(A)).toMatchObject({reserved: 0, spent: 850, debt: 0, remaining: 150})
        expect(await get(T)).toMatchObject({reserved: 0, spent: 0, remaining: 10_000})
      })

      it('settles on a ledger already in debt: capping charges no extra, a debt ledger adds to its debt', async () => {
        await seedHeld({spent: 950, debt: 30, overdraft_limit: 100}) // A remaining -80
        expect(await store.apply({overage: [charge(50)]})).toMatchObject({ok: true, overage: [{extra: 0}]})
        expect(await get(A)).toMatchObject({reserved: 0, spent: 1050, debt: 30, remaining: -80, is_over_limit: true})
        await store.apply({deltas: [{book: 'real', scope: A, unit: U, add: {reserved: 100}}, {book: 'real', scope: T, unit: U, add: {reserved: 100}}]})
        const debtCharge = charge(50, {ledgers: [{scope: T, debt: false}, {scope: A, debt: true}]})
        expect(await store.apply({overage: [debtCharge]})).toMatchObject({ok: true, overage: [{extra: 50}]})
        expect(await get(A)).toMatchObject({reserved: 0, spent: 1150, debt: 80, remaining: -230})
      })

      it('gives every concurrent overage commit the protocol settlement, with no failure from concurrency', async () => {
        const n = 40
        // A: 4,500 allocated, 40 holds of 100 → 500 left for 40 overages of 30 (1,200 asked).
        await store.apply({createLedgers: [{...ledger(A, 4500), reserved: n * 100, remaining: 500, book: 'real'}]})
        for (let i = 0; i < n; i++) expect((await store.apply({reservation: {value: reservation(`o${i}`), expectStatus: 'absent'}})).ok).toBe(true)
        const commit = (i: number, debt: boolean) =>
          store.apply({
            conditions: [{scope: A, unit: U, field: 'status', op: 'eq', value: 'ACTIVE'}],
            overage: [{book: 'real', unit: U, ledgers: [{scope: A, debt}], estimate: 100, over: 30, onLimit: 'fail'}],
            reservation: {value: reservation(`o${i}`, {status: 'COMMITTED'}), expectStatus: 'ACTIVE'},
          })
        const results = await Promise.all(Array.from({length: n}, (_, i) => commit(i, false)))
        expect(results.filter((r) => !r.ok)).toEqual([])
        // Independently: the extras drain the 500 left, whatever the order.
        const extras = results.map((r) => (r.ok ? r.overage![0].extra : -1))
        expect(extras.reduce((a, b) => a + b, 0)).toBe(500)
        expect(extras.filter((e) => e === 30)).toHaveLength(16)
        expect(await get(A)).toMatchObject({reserved: 0, spent: n * 100 + 500, remaining: 0, debt: 0, is_over_limit: true})
      })

      it('concurrent overage commits into debt stop exactly at the overdraft limit', async () => {
        const n = 40
        await store.apply({createLedgers: [{...ledger(A, 4500, {overdraft_limit: 600}), reserved: n * 100, remaining: 500, book: 'real'}]})
        const results = await Promise.all(
          Array.from({length: n}, () =>
            store.apply({overage: [{book: 'real', unit: U, ledgers: [{scope: A, debt: true}], estimate: 100, over: 30, onLimit: 'fail'}]}),
          ),
        )
        // 500 covers 16 overages and 20 of the 17th; its 10 and 19 more of 30 reach a debt of 580;
        // each later one would pass 600.
        expect(results.filter((r) => r.ok)).toHaveLength(36)
        expect(results.filter((r) => !r.ok)).toEqual(Array.from({length: 4}, () => ({ok: false, failed: 'overdraft', detail: A})))
        expect(await get(A)).toMatchObject({reserved: 400, spent: 3600 + 500, debt: 580, remaining: -580, is_over_limit: false})
      })
    })

    it('reports health', async () => {
      expect((await store.health()).ok).toBe(true)
    })
  })
  describeDocContract(name, factory)
  describePostStateContract(name, factory)
}
