// The write-time guards the evaluator relies on under races (is_over_limit, status, overdraft_limit,
// debt, remaining), checked in both directions on both stores: a ledger that still passes is written;
// one that moved since the evaluation is refused and left exactly as it was.
import {randomUUID} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {admissionConditions, evaluateReserve} from '../../src/evaluator/evaluate.js'
import type {Ledger} from '../../src/protocol/types.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {RedisStore} from '../../src/store/redis/redis-store.js'
import type {Condition, Store} from '../../src/store/types.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'

const SCOPE = 'tenant:acme'

function ledger(over: Partial<Ledger> = {}): Ledger {
  const l: Ledger = {scope: SCOPE, unit: 'CREDITS', allocated: 1000, remaining: 0, reserved: 0, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE', created_at_ms: 1, updated_at_ms: 1, ...over}
  l.remaining = l.allocated - l.spent - l.reserved - l.debt
  return l
}

const cond = (field: Condition['field'], op: Condition['op'], value: Condition['value']): Condition => ({book: 'real', scope: SCOPE, unit: 'CREDITS', field, op, value})

/** [name, ledger, condition, should the write go through] */
const CASES: Array<[string, Partial<Ledger>, Condition, boolean]> = [
  ['is_over_limit = false on an over-limit ledger', {is_over_limit: true}, cond('is_over_limit', 'eq', false), false],
  ['is_over_limit = false on a ledger within its limit', {}, cond('is_over_limit', 'eq', false), true],
  ['status = ACTIVE on a frozen ledger', {status: 'FROZEN'}, cond('status', 'eq', 'ACTIVE'), false],
  ['status = ACTIVE on a closed ledger', {status: 'CLOSED'}, cond('status', 'eq', 'ACTIVE'), false],
  ['status = ACTIVE on an active ledger', {}, cond('status', 'eq', 'ACTIVE'), true],
  ['overdraft_limit = 0 after an overdraft was granted', {overdraft_limit: 50}, cond('overdraft_limit', 'eq', 0), false],
  ['overdraft_limit = 0 without overdraft', {}, cond('overdraft_limit', 'eq', 0), true],
  ['overdraft_limit ≥ 1 after the overdraft was removed', {}, cond('overdraft_limit', 'gte', 1), false],
  ['overdraft_limit ≥ 1 exactly at 1', {overdraft_limit: 1}, cond('overdraft_limit', 'gte', 1), true],
  ['debt ≤ 0 with debt outstanding', {debt: 5}, cond('debt', 'lte', 0), false],
  ['debt ≤ 0 without debt', {}, cond('debt', 'lte', 0), true],
  ['remaining ≥ 100 with 99 left', {spent: 901}, cond('remaining', 'gte', 100), false],
  ['remaining ≥ 100 with exactly 100 left', {spent: 900}, cond('remaining', 'gte', 100), true],
  ['remaining = 20 after it moved to 19', {spent: 981}, cond('remaining', 'eq', 20), false],
  ['remaining = 20 unchanged', {spent: 980}, cond('remaining', 'eq', 20), true],
]

function describeGuards(name: string, open: () => Promise<Store>) {
  describe(`${name} store: write-time guards`, () => {
    let store: Store
    beforeAll(async () => {
      store = await open()
    })
    afterAll(async () => store?.close())

    /** A fresh ledger under its own scope (so cases never share state). */
    async function seed(over: Partial<Ledger>): Promise<Ledger> {
      const l = {...ledger(over), scope: `${SCOPE}/workspace:w${randomUUID().slice(0, 8)}`}
      const created = await store.apply({createLedgers: [{...l, book: 'real'}]})
      expect(created.ok).toBe(true)
      return l
    }
    const read = async (l: Ledger) => (await store.getLedgers('real', [l.scope], 'CREDITS'))[0]!

    it.each(CASES)('%s', async (_name, over, condition, passes) => {
      const l = await seed(over)
      const before = await read(l)
      const result = await store.apply({conditions: [{...condition, scope: l.scope}], deltas: [{book: 'real', scope: l.scope, unit: 'CREDITS', add: {reserved: 7}}]})
      if (passes) {
        expect(result.ok).toBe(true)
        expect((await read(l)).reserved).toBe(before.reserved + 7)
      } else {
        expect(result).toMatchObject({ok: false, failed: 'condition'})
        expect(await read(l)).toEqual(before)
      }
    })

    it('a condition on a ledger that does not exist refuses the write', async () => {
      const l = await seed({})
      const result = await store.apply({conditions: [cond('status', 'eq', 'ACTIVE')].map((c) => ({...c, scope: `${l.scope}/agent:ghost`})), deltas: [{book: 'real', scope: l.scope, unit: 'CREDITS', add: {reserved: 1}}]})
      expect(result).toMatchObject({ok: false, failed: 'condition'})
      expect((await read(l)).reserved).toBe(0)
    })

    it('a reserve evaluated before the ledger went over limit is refused by its own admission conditions', async () => {
      const l = await seed({})
      const evaluation = evaluateReserve({tenant: undefined, affected_scopes: [l.scope], unit: 'CREDITS', estimate: 100, ledgers: [await read(l)]})
      expect(evaluation.decision).toBe('ALLOW')
      const conditions = admissionConditions(evaluation)
      // Meanwhile a commit elsewhere pushed the ledger over its limit (remaining unchanged).
      expect((await store.apply({deltas: [{book: 'real', scope: l.scope, unit: 'CREDITS', set: {is_over_limit: true}}]})).ok).toBe(true)
      const hold = {book: 'real' as const, scope: l.scope, unit: 'CREDITS' as const, add: {reserved: 100}}
      expect(await store.apply({conditions, deltas: [hold]})).toMatchObject({ok: false, failed: 'condition'})
      expect((await read(l)).reserved).toBe(0)
    })

    it('a reserve evaluated on an overdraft ledger is refused once the overdraft is withdrawn with debt outstanding', async () => {
      const l = await seed({overdraft_limit: 100, debt: 10})
      const evaluation = evaluateReserve({tenant: undefined, affected_scopes: [l.scope], unit: 'CREDITS', estimate: 50, ledgers: [await read(l)]})
      expect(evaluation.decision).toBe('ALLOW')
      const conditions = admissionConditions(evaluation)
      expect((await store.apply({deltas: [{book: 'real', scope: l.scope, unit: 'CREDITS', set: {overdraft_limit: 0}}]})).ok).toBe(true)
      expect(await store.apply({conditions, deltas: [{book: 'real', scope: l.scope, unit: 'CREDITS', add: {reserved: 50}}]})).toMatchObject({ok: false, failed: 'condition'})
      // Still holding, the same evaluation on an unchanged ledger goes through.
      const fresh = await seed({overdraft_limit: 100, debt: 10})
      const ok = evaluateReserve({tenant: undefined, affected_scopes: [fresh.scope], unit: 'CREDITS', estimate: 50, ledgers: [await read(fresh)]})
      expect((await store.apply({conditions: admissionConditions(ok), deltas: [{book: 'real', scope: fresh.scope, unit: 'CREDITS', add: {reserved: 50}}]})).ok).toBe(true)
    })
  })
}

let redis: RedisServer | undefined
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => destroyRedis(redis))

describeGuards('embedded', () => EmbeddedStore.open())
describeGuards('redis', async () => {
  if (!redis) throw new Error('redis-server did not start (see beforeAll)')
  return RedisStore.open({url: redis.url, prefix: `g${randomUUID().slice(0, 8)}:`})
})
