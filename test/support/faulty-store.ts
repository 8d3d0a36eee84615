// An in-memory embedded store behind a proxy that counts writes and idempotency look-ups and can
// fail or delay the next writes the way a concurrent request would (for the retry and replay paths).
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import type {Store, Tx, TxResult} from '../../src/store/types.js'

/** What the next write does instead of (or before) applying. */
export type Fault =
  /** Another request with the same key won: its record (body WINNER_BODY) is stored, this write fails. */
  | 'idempotency'
  /** The ledgers moved: this write fails its conditions. */
  | 'condition'
  /** Run `run` first (e.g. a competing HTTP request), then apply this write for real. */
  | {run: () => Promise<unknown>}

export const WINNER_BODY = JSON.stringify({marker: 'the concurrent winner'})

export interface FaultyStore {
  store: Store
  inner: EmbeddedStore
  /** Faults for the next writes that carry an idempotency record, in order. */
  faults: Fault[]
  /** Every write fails its conditions while set. */
  alwaysConflict: boolean
  applies: number
  idempotencyLookups: number
  reset(): void
}

export async function faultyStore(now: () => number): Promise<FaultyStore> {
  const inner = await EmbeddedStore.open({now})
  const state: FaultyStore = {
    store: undefined as unknown as Store,
    inner,
    faults: [],
    alwaysConflict: false,
    applies: 0,
    idempotencyLookups: 0,
    reset() {
      state.faults = []
      state.alwaysConflict = false
      state.applies = 0
      state.idempotencyLookups = 0
    },
  }
  const apply = async (tx: Tx): Promise<TxResult> => {
    if (!tx.idempotency) return inner.apply(tx)
    state.applies++
    if (state.alwaysConflict) return {ok: false, failed: 'condition'}
    const fault = state.faults.shift()
    if (fault === 'condition') return {ok: false, failed: 'condition'}
    if (fault === 'idempotency') {
      const won = await inner.apply({idempotency: {...tx.idempotency, record: {...tx.idempotency.record, body: WINNER_BODY}}})
      if (!won.ok) throw new Error(`could not plant the winner's record: ${won.failed}`)
      return {ok: false, failed: 'idempotency'}
    }
    if (fault) await fault.run()
    return inner.apply(tx)
  }
  state.store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'apply') return apply
      if (prop === 'getIdempotency') return (key: string) => (state.idempotencyLookups++, target.getIdempotency(key))
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  }) as unknown as Store
  return state
}
