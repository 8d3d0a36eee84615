// The store as the runtime and admin planes see it when events are on: the same store, except that
// apply() asks for the real book's post-states and hands each applied transaction to a listener
// (the ledger watch). Everything else is the store itself, so `instanceof` and its own fields work.
import type {Store, Tx, TxResult} from '../store/types.js'

export function observeApplies(store: Store, wantsLedgers: (tx: Tx) => boolean, onApplied: (tx: Tx, result: TxResult) => void): Store {
  const apply = async (tx: Tx): Promise<TxResult> => {
    const asked = wantsLedgers(tx) ? {...tx, returnLedgers: 'real' as const} : tx
    const result = await store.apply(asked)
    try {
      onApplied(asked, result)
    } catch {
      // An event is never worth failing the change it describes.
    }
    return result
  }
  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'apply') return apply
      const value = Reflect.get(target, prop, target)
      if (typeof value !== 'function') return value
      let fn = bound.get(prop)
      if (!fn) bound.set(prop, (fn = (value as (...args: unknown[]) => unknown).bind(target)))
      return fn
    },
  })
}
