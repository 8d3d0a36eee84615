// The one error a store throws when its backing service cannot be reached (Redis down, timed out,
// loading). The runtime plane turns it into the configured fallback (shadow admit, or 503 per tier's
// on_store_error); every other store error is a bug and surfaces as a 500.
export class StoreUnavailableError extends Error {
  constructor(message: string, override readonly cause?: unknown) {
    super(message)
    this.name = 'StoreUnavailableError'
  }
}

export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError
}
