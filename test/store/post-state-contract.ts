// The ledger post-states a transaction asks for (Tx.returnLedgers: what the event watch reads off
// every live reserve and commit) against the store's own state, for every store (contract.ts calls
// it): after ledger creation, reserve, commit with overage into debt, release and fund — applied
// one at a time, and several on the same ledgers submitted together (one group commit on Redis) —
// each transaction's returned ledgers are exactly a fresh read made right after that transaction.
import {afterEach, describe, expect, it} from 'vitest'

import type {Book, Ledger, Reservation, Unit} from '../../src/protocol/types.js'
import type {Store, Tx, TxResult} from '../../src/store/types.js'
import {ledgerKey} from '../../src/store/types.js'

/** A store on the given clock (updated_at_ms comes from it, so two stores agree to the field). */
export type ClockedFactory = (options: {now: () => number}) => Promise<Store>

const U: Unit = 'USD_MICROCENTS'
const T = 'tenant:post'
const W = 'tenant:post/workspace:prod'
const A = 'tenant:post/workspace:prod/agent:bot'
const NOW = 1_750_000_000_000

function ledger(scope: string, allocated: number, extra: Partial<Ledger> = {}): Ledger {
  const l: Ledger = {scope, unit: U, allocated, remaining: 0, reserved: 0, spent: 0, debt: 0, overdraft_limit: 0, is_over_limit: false, status: 'ACTIVE', created_at_ms: 1000, updated_at_ms: 1000, ...extra}
  l.remaining = l.allocated - l.spent - l.reserved - l.debt
  return l
}

function reservation(id: string, amount: number, scopes: string[], status: Reservation['status'] = 'ACTIVE'): Reservation {
  return {
    reservation_id: id,
    tenant: 'post',
    status,
    subject: {tenant: 'post', workspace: 'prod', agent: 'bot'},
    action: {kind: 'llm.completion', name: 'gpt'},
    reserved: {unit: U, amount},
    scope_path: A,
    affected_scopes: [T, W, A],
    real_scopes: scopes,
    shadow_scopes: [A],
    mode: 'enforce',
    tier: 'medium',
    idempotency_key: `k-${id}`,
    overage_policy: 'ALLOW_WITH_OVERDRAFT',
    created_at_ms: NOW,
    expires_at_ms: NOW + 60_000,
    ttl_ms: 60_000,
    grace_period_ms: 5000,
    extension_count: 0,
    max_extensions: 10,
    would_decision: 'ALLOW',
  }
}

const seedTx = (): Tx => ({
  createLedgers: [
    {...ledger(T, 10_000), book: 'real'},
    {...ledger(W, 5000), book: 'real'},
    {...ledger(A, 1000, {caps: {max_tokens: 64}, overdraft_limit: 500, commit_overage_policy: 'ALLOW_WITH_OVERDRAFT'}), book: 'real'},
    {...ledger(A, 1000), book: 'shadow'},
  ],
  returnLedgers: true,
})

/** A live reserve: admission condition on the leaf of `scopes`, holds on them and on the shadow leaf. */
const reserveTx = (id: string, amount: number, scopes = [T, W, A]): Tx => ({
  conditions: [{scope: scopes.at(-1)!, unit: U, field: 'remaining', op: 'gte', value: amount}],
  deltas: [...scopes.map((scope) => ({book: 'real' as Book, scope, unit: U, add: {reserved: amount}})), {book: 'shadow', scope: A, unit: U, add: {reserved: amount}}],
  reservation: {value: reservation(id, amount, scopes), expectStatus: 'absent'},
  idempotency: {key: `post:reserve:${id}`, record: {hash: id, status: 200, body: '{}'}, ttl_ms: 60_000},
  returnLedgers: true,
})

/** A commit above the estimate: the real book settles by an overage charge, the leaf's shortfall as debt. */
const commitTx = (id: string, estimate: number, over: number): Tx => ({
  deltas: [{book: 'shadow', scope: A, unit: U, add: {reserved: -estimate, spent: estimate + over}}],
  overage: [{book: 'real', unit: U, ledgers: [{scope: T, debt: false}, {scope: W, debt: false}, {scope: A, debt: true}], estimate, over, onLimit: 'fail'}],
  reservation: {value: reservation(id, estimate, [T, W, A], 'COMMITTED'), expectStatus: 'ACTIVE'},
  returnLedgers: true,
})

const releaseTx = (id: string, amount: number, scopes = [T, W, A]): Tx => ({
  deltas: [...scopes.map((scope) => ({book: 'real' as Book, scope, unit: U, add: {reserved: -amount}})), {book: 'shadow', scope: A, unit: U, add: {reserved: -amount}}],
  reservation: {value: reservation(id, amount, scopes, 'RELEASED'), expectStatus: 'ACTIVE'},
  returnLedgers: true,
})

/** Funding the leaf, as the admin plane does: counters and flag fields (one of them removed) in one transaction. */
const fundTx = (amount: number): Tx => ({
  deltas: [
    {book: 'real', scope: A, unit: U, add: {allocated: amount}, set: {is_over_limit: false, overdraft_limit: 800, caps: undefined}},
    {book: 'shadow', scope: A, unit: U, add: {allocated: amount}},
    {book: 'real', scope: W, unit: U, set: {commit_overage_policy: 'REJECT'}},
  ],
  returnLedgers: true,
})

/** The ledgers a transaction touches, keyed as TxResult.ledgers is. */
function touched(tx: Tx): string[] {
  const keys = new Set<string>()
  for (const l of tx.createLedgers ?? []) keys.add(ledgerKey(l.book, l.scope, l.unit))
  for (const d of tx.deltas ?? []) keys.add(ledgerKey(d.book, d.scope, d.unit))
  for (const o of tx.overage ?? []) for (const l of o.ledgers) keys.add(ledgerKey(o.book, l.scope, o.unit))
  return [...keys].sort()
}

/** Ledger fields only (the embedded store's objects also carry `book`), keys sorted. */
function plain(l: Ledger | undefined): Record<string, unknown> | undefined {
  if (!l) return l
  const {book: _book, ...rest} = l as Ledger & {book?: Book}
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b)))
}

function returned(result: TxResult): Record<string, unknown> {
  if (!result.ok) throw new Error(`transaction failed: ${result.failed} ${result.detail ?? ''}`)
  return Object.fromEntries([...result.ledgers].map(([key, l]) => [key, plain(l)] as const).sort(([a], [b]) => a.localeCompare(b)))
}

/** A fresh read of each ledger `tx` touches. */
async function freshRead(store: Store, tx: Tx): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const key of touched(tx)) {
    const [book, scope, unit] = key.split('|') as [Book, string, Unit]
    out[key] = plain((await store.getLedgers(book, [scope], unit))[0])
  }
  return out
}

export function describePostStateContract(name: string, factory: ClockedFactory): void {
  describe(`ledger post-states (returnLedgers): ${name}`, () => {
    const opened: Store[] = []
    /** The stores' clock: moved before a batch, so a post-state with the previous updated_at_ms shows. */
    let clock = NOW
    const open = async () => {
      clock = NOW
      const store = await factory({now: () => clock})
      opened.push(store)
      return store
    }
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close()
    })

    /** Seed, then reserve, commit into debt, reserve and release on two scopes, fund — each checked against a fresh read. */
    const history = (): Tx[] => [seedTx(), reserveTx('p1', 300), commitTx('p1', 300, 900), reserveTx('p2', 100, [T, W]), releaseTx('p2', 100, [T, W]), fundTx(2000)]

    it('returns, one transaction at a time, exactly what a fresh read shows after it', async () => {
      const store = await open()
      const states: Array<Record<string, unknown>> = []
      for (const tx of history()) {
        const state = returned(await store.apply(tx))
        expect(Object.keys(state)).toEqual(touched(tx))
        expect(state).toEqual(await freshRead(store, tx))
        states.push(state)
      }
      // The history did what it is meant to exercise: a commit into debt, then funding with flag changes.
      expect(states[2][ledgerKey('real', A, U)]).toMatchObject({reserved: 0, spent: 1000, debt: 200, remaining: -200, updated_at_ms: NOW})
      expect(states[2][ledgerKey('real', W, U)]).toMatchObject({reserved: 0, spent: 1200, remaining: 3800})
      expect(states[4][ledgerKey('real', W, U)]).toMatchObject({reserved: 0, spent: 1200, remaining: 3800})
      expect(states[5][ledgerKey('real', A, U)]).toMatchObject({allocated: 3000, remaining: 1800, overdraft_limit: 800, commit_overage_policy: 'ALLOW_WITH_OVERDRAFT'})
      expect(states[5][ledgerKey('real', A, U)]).not.toHaveProperty('caps')
      expect(states[5][ledgerKey('real', W, U)]).toMatchObject({commit_overage_policy: 'REJECT', remaining: 3800})
    })

    it('returns one book\'s post-states only when asked for that book (the event watch asks for the real book)', async () => {
      const store = await open()
      const realOnly = (tx: Tx): Tx => ({...tx, returnLedgers: 'real'})
      for (const tx of history().map(realOnly)) {
        const state = returned(await store.apply(tx))
        const realKeys = touched(tx).filter((k) => k.startsWith('real|'))
        expect(Object.keys(state)).toEqual(realKeys)
        const fresh = await freshRead(store, tx)
        expect(state).toEqual(Object.fromEntries(realKeys.map((k) => [k, fresh[k]])))
      }
      // Several together, as the group commit sends them: each still its own real post-states.
      const batch = [reserveTx('r1', 10), reserveTx('r2', 20), releaseTx('r1', 10)].map(realOnly)
      const results = await Promise.all(batch.map((tx) => store.apply(tx)))
      expect(results.map((r) => Object.keys(returned(r)))).toEqual([[`real|${T}|${U}`, `real|${A}|${U}`, `real|${W}|${U}`].sort(), [`real|${T}|${U}`, `real|${A}|${U}`, `real|${W}|${U}`].sort(), [`real|${T}|${U}`, `real|${A}|${U}`, `real|${W}|${U}`].sort()])
      expect(returned(results[2])[ledgerKey('real', A, U)]).toMatchObject({reserved: 20})
      expect(returned(await store.apply({...fundTx(1), returnLedgers: 'shadow'}))).toEqual({[ledgerKey('shadow', A, U)]: expect.objectContaining({allocated: 3001})})
    })

    it('returns each transaction its own post-state when several on the same ledgers are submitted together', async () => {
      // The same history on two stores; then the batch goes to one together and to the other one
      // transaction at a time, read fresh after each: every batched transaction must return what
      // that read showed, not its pre-state nor the state after the whole batch.
      const together = await open()
      const alone = await open()
      for (const tx of history()) {
        expect((await together.apply(tx)).ok).toBe(true)
        expect((await alone.apply(tx)).ok).toBe(true)
      }
      clock = NOW + 1000
      const batch: Tx[] = [
        reserveTx('q1', 100),
        reserveTx('q2', 50),
        commitTx('q1', 100, 2000),
        reserveTx('q3', 10_000_000), // fails its condition: writes nothing, returns nothing
        releaseTx('q2', 50),
        fundTx(1000),
        reserveTx('q4', 10),
      ]
      const expected: Array<Record<string, unknown> | 'failed'> = []
      for (const tx of batch) {
        const result = await alone.apply(tx)
        expected.push(result.ok ? await freshRead(alone, tx) : 'failed')
      }
      const results = await Promise.all(batch.map((tx) => together.apply(tx)))
      expect(results.map((r) => (r.ok ? returned(r) : 'failed'))).toEqual(expected)
      // Spot figures, so that the comparison above cannot pass on two equally wrong stores: the
      // commit took the leaf further into debt, later transactions see it.
      expect(expected[2]).toMatchObject({[ledgerKey('real', A, U)]: {reserved: 50, spent: 2750, debt: 550, remaining: -350}})
      expect(expected[5]).toMatchObject({[ledgerKey('real', A, U)]: {allocated: 4000, reserved: 0, debt: 550, remaining: 700, is_over_limit: false}})
      expect(expected[6]).toMatchObject({[ledgerKey('real', A, U)]: {reserved: 10, remaining: 690, updated_at_ms: NOW + 1000}})
      // And the batched store ends where the one-at-a-time store does.
      for (const tx of batch) expect(await freshRead(together, tx)).toEqual(await freshRead(alone, tx))
    })
  })
}
